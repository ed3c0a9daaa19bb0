// Digest and ref.name grammars (image-spec descriptor.md, annotations.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isParsed, parseDigest } from '../../src/oci/validate/digest.js';
import { isValidRefName } from '../../src/oci/validate/refname.js';
import { RULES, RULE_IDS } from '../../src/oci/validate/rules.js';

const HEX64 = 'a'.repeat(64);

test('digest grammar', () => {
  assert.ok(isParsed(parseDigest(`sha256:${HEX64}`)));
  assert.ok(isParsed(parseDigest(`sha512:${'0'.repeat(128)}`)));
  const rule = (v: unknown): string | undefined => {
    const p = parseDigest(v);
    return isParsed(p) ? undefined : p.rule;
  };
  assert.equal(rule(`sha256:${'A'.repeat(64)}`), 'digest-uppercase');
  assert.equal(rule(`sha256:${HEX64.slice(1)}`), 'digest-format');
  assert.equal(rule(`sha256:${HEX64}0`), 'digest-format');
  assert.equal(rule('sha256:XYZ'), 'digest-format');
  assert.equal(rule(`SHA256:${HEX64}`), 'digest-format');
  assert.equal(rule(`sha256${HEX64}`), 'digest-format');
  assert.equal(rule(`sha256:${HEX64} `), 'digest-format');
  assert.equal(rule(42), 'digest-format');
  assert.equal(rule(`sha384:${HEX64}`), 'digest-algorithm');
  assert.equal(rule(`multihash+base58:QmRZxt2b1FVZPNqd8hsiykDL3TdBDeTSPX9Kv46HmX4Gx8`), 'digest-algorithm');
  assert.equal(rule(`sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564`), 'digest-algorithm');
});

test('digest: any 64 lowercase hex parses, and only that', () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEFxyz'), minLength: 60, maxLength: 68 }), (s) => {
      const ok = isParsed(parseDigest(`sha256:${s}`));
      assert.equal(ok, /^[a-f0-9]{64}$/.test(s));
    }),
  );
});

test('ref.name grammar', () => {
  for (const ok of ['v1', 'v1.0', 'latest', 'example.test/legacy/tiny:v1', 'a--b', 'a@b+c', 'localhost:5000/x/y:1.2.3', 'A.B-C']) {
    assert.equal(isValidRefName(ok), true, ok);
  }
  for (const bad of ['', 'bad ref!', '-x', 'x-', 'a//b', '/a', 'a/', 'a---b', 'a__b', 'tag\n', 'é', 'a..']) {
    assert.equal(isValidRefName(bad), false, bad);
  }
});

test('rule ids are kebab-case and have a severity', () => {
  for (const id of RULE_IDS) {
    assert.match(id, /^[a-z0-9]+(-[a-z0-9]+)*$/);
    assert.ok(['error', 'warning'].includes(RULES[id].severity));
  }
});
