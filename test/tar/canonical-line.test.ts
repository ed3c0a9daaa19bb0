// The fast tar-split line reader (canonical-line.ts) against the general one (JSON.parse +
// toEntry): on lines written by Debian's `tar-split disasm` it must take the fast path and agree,
// and on any line at all it must either step aside (undefined) or agree exactly.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, linkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { decodeBase64Span, parseCanonicalLine } from '../../src/tar/tarsplit/canonical-line.js';
import { toEntry, type TarSplitEntry } from '../../src/tar/tarsplit/entries.js';
import { cleanNameKey } from '../../src/tar/tarsplit/confined-file.js';
import { CleanNameSet } from '../../src/tar/tarsplit/name-set.js';
import { needTools, run } from '../helpers/env.js';

const TOOLS = needTools('tar', 'tar-split');
let work = '';
before(() => {
  work = mkdtempSync(join(tmpdir(), 'l2o-canonical-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** The general path's verdict: an entry, or the error it throws. */
function general(line: Buffer): TarSplitEntry | Error {
  try {
    return toEntry(JSON.parse(line.toString('utf8')), 1);
  } catch (err) {
    return err as Error;
  }
}

function assertAgrees(line: Buffer): TarSplitEntry | undefined {
  const fast = parseCanonicalLine(line);
  if (fast === undefined) return undefined;
  const slow = general(line);
  assert.ok(!(slow instanceof Error), `fast path accepted a line the general path refuses: ${line.toString('latin1')} (${slow})`);
  assert.deepEqual(fast, slow, line.toString('latin1'));
  return fast;
}

test('lines written by tar-split disasm: the fast path takes every plain one and agrees', { skip: TOOLS }, () => {
  const src = join(work, 'src');
  mkdirSync(join(src, 'dir/sub'), { recursive: true });
  writeFileSync(join(src, 'dir/sub/file.txt'), 'hello\n');
  writeFileSync(join(src, 'empty'), '');
  writeFileSync(join(src, 'big'), Buffer.alloc(70_000, 7));
  writeFileSync(join(src, 'quote"and\\back'), 'q');
  writeFileSync(join(src, 'caf\u00e9 \u2603'), 'utf8 name');
  writeFileSync(Buffer.from(join(src, 'latin1-\xe9'), 'latin1'), 'not utf-8');
  writeFileSync(join(src, 'x'.repeat(150)), 'long name');
  symlinkSync('dir/sub/file.txt', join(src, 'link'));
  linkSync(join(src, 'empty'), join(src, 'hardlink'));
  const tarPath = join(work, 'layer.tar');
  run('tar', ['--format=gnu', '--sort=name', '-C', src, '-cf', tarPath, '.']);
  const tarData = join(work, 'tar-data.json.gz');
  run('tar-split', ['disasm', '--no-stdout', '--output', tarData, tarPath]);

  const lines = gunzipSync(readFileSync(tarData)).toString('latin1').split('\n').filter((l) => l.length > 0).map((l) => Buffer.from(l, 'latin1'));
  assert.ok(lines.length > 20);
  let fastFiles = 0;
  let fastSegments = 0;
  for (const line of lines) {
    const text = line.toString('latin1');
    const plain = !/[\\\x80-\xff]/.test(text); // no escapes, ASCII only
    const entry = assertAgrees(line);
    if (plain) assert.ok(entry, `a plain tar-split line took the slow path: ${text.slice(0, 120)}`);
    if (entry?.type === 'file') fastFiles++;
    if (entry?.type === 'segment') fastSegments++;
  }
  assert.ok(fastFiles >= 8 && fastSegments >= 8, `${fastFiles} file and ${fastSegments} segment lines read fast`);
});

test('hand-made lines: the shapes tar-split writes, and near misses that must step aside', () => {
  const fast = (s: string): TarSplitEntry | undefined => assertAgrees(Buffer.from(s, 'latin1'));
  assert.deepEqual(fast('{"type":2,"payload":"YWJj","position":0}'), { type: 'segment', payload: Buffer.from('abc'), legacyKeys: false });
  assert.deepEqual(fast('{"type":2,"payload":null,"position":0}'), { type: 'segment', payload: Buffer.alloc(0), legacyKeys: false });
  assert.deepEqual(fast('{"type":2,"name":"x","size":3,"payload":"YWI=","position":1}'), { type: 'segment', payload: Buffer.from('ab'), legacyKeys: true });
  assert.deepEqual(fast('{"type":1,"name":"a/b","size":3,"payload":"AAAAAAAAAAA=","position":2}'), { type: 'file', name: Buffer.from('a/b'), size: 3, crc: Buffer.alloc(8) });
  assert.deepEqual(fast('{"type":1,"name":"dir/","payload":null,"position":3}'), { type: 'file', name: Buffer.from('dir/'), size: 0, crc: null });
  assert.deepEqual(fast('{"type":1,"name":"shown","name_raw":"6Q==","size":1,"payload":null,"position":4}'), { type: 'file', name: Buffer.from([0xe9]), size: 1, crc: null });
  // not the canonical form: the general path decides (and may refuse)
  for (const s of [
    '{"type":2, "payload":"YWJj","position":0}', // whitespace
    '{"type":2,"payload":"YWJj","position":0} ',
    '{"type":2,"payload":"YWJj","position":0}\r',
    '{"type":2,"payload":"YW=j","position":0}', // padding inside
    '{"type":2,"payload":"YWJ","position":0}', // length
    '{"type":2,"payload":"YW\\u004aj","position":0}', // escape
    '{"type":2,"type":1,"payload":"YWJj","position":0}', // repeated key
    '{"type":2,"payload":"YWJj","position":0,"extra":1}', // unknown key
    '{"type":3,"payload":"YWJj","position":0}', // unknown type
    '{"type":02,"payload":"YWJj","position":0}', // leading zero
    '{"type":2.0,"payload":"YWJj","position":0}', // not an integer literal
    '{"type":1,"name":"a","size":-1,"payload":null,"position":0}', // negative
    '{"type":1,"name":"a","size":12345678901234567,"payload":null,"position":0}', // beyond 15 digits
    '{"type":1,"name":"a","size":"3","payload":null,"position":0}', // string size
    '{"type":1,"name":5,"payload":null,"position":0}', // number name
    '{"type":1,"name":"caf\xc3\xa9","payload":null,"position":0}', // non-ASCII
    '{"type":1,"name":"a\tb","payload":null,"position":0}', // control byte
    '{"type":"2","payload":"YWJj","position":0}',
    '{"payload":"YWJj","position":0}',
    '{}',
    '[]',
  ]) {
    assert.equal(parseCanonicalLine(Buffer.from(s, 'latin1')), undefined, s);
  }
});

test('property: any line is read fast exactly as the general path reads it, or left to it', () => {
  const b64 = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64'));
  const name = fc.string({ unit: fc.constantFrom('a', 'b', '/', '.', ' ', '"', '\\', '\u00e9', '\u0001', 'z'), maxLength: 12 });
  const entryObject = fc.record(
    {
      type: fc.oneof(fc.constantFrom(1, 2), fc.integer({ min: -3, max: 5 })),
      name,
      name_raw: fc.oneof(b64, fc.constant(null)),
      size: fc.oneof(fc.nat({ max: 10_000_000 }), fc.constant(0)),
      payload: fc.oneof(b64, fc.constant(null)),
      position: fc.nat(),
    },
    { requiredKeys: ['type', 'position'] },
  );
  // Go's field order, then damage: a byte changed, dropped or repeated somewhere
  const line = fc.tuple(entryObject, fc.nat(), fc.integer({ min: 0, max: 3 }), fc.integer({ min: 0, max: 255 })).map(([obj, at, how, byte]) => {
    const ordered: Record<string, unknown> = {};
    for (const k of ['type', 'name', 'name_raw', 'size', 'payload', 'position']) if (k in obj) ordered[k] = (obj as Record<string, unknown>)[k];
    const text = Buffer.from(JSON.stringify(ordered), 'utf8');
    const i = at % text.length;
    if (how === 1) text[i] = byte;
    if (how === 2) return Buffer.concat([text.subarray(0, i), text.subarray(i + 1)]);
    if (how === 3) return Buffer.concat([text.subarray(0, i), text.subarray(i, i + 1), text.subarray(i)]);
    return text;
  });
  fc.assert(fc.property(line, (l) => void assertAgrees(l)), { numRuns: 20_000 });
  // a line read in place, as a span of the decompressed chunk between other lines, reads the same
  // (nothing before or after it is looked at)
  const around = fc.uint8Array({ maxLength: 8 }).map((b) => Buffer.from(b));
  fc.assert(
    fc.property(line, around, around, (l, before, after) => {
      const chunk = Buffer.concat([before, l, after]);
      assert.deepEqual(parseCanonicalLine(chunk, before.length, before.length + l.length), parseCanonicalLine(l), l.toString('latin1'));
    }),
    { numRuns: 20_000 },
  );
  // a span ending in '}' inside a valid line, the rest of that line after it: read as the span
  // alone is read, never past its end
  for (const text of ['{"type":1,"name":"a","size":5,"payload":"AAAAAAAAAAA=","position":0}', '{"type":2,"payload":"YWJj","position":12}', '{"type":1,"name":"d/","payload":null,"position":3}']) {
    const full = Buffer.from(text, 'latin1');
    for (let cut = 1; cut < full.length; cut++) {
      const alone = Buffer.concat([full.subarray(0, cut), Buffer.from('}')]);
      const chunk = Buffer.concat([alone, full.subarray(cut)]);
      assert.deepEqual(parseCanonicalLine(chunk, 0, alone.length), parseCanonicalLine(alone), alone.toString('latin1'));
    }
  }
});

test('base64 spans decode like Buffer.from and refuse what the general regex refuses', () => {
  // URL-safe and out-of-alphabet bytes included: Node's decoder, used underneath, takes or skips them
  const re = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  fc.assert(
    // short spans (a CRC's 12 characters) are decoded in JS, long ones by Node: both lengths,
    // placed anywhere in a bigger buffer
    fc.property(
      fc.oneof(
        fc.string({ unit: fc.constantFrom('A', 'z', '0', '+', '/', '=', '-', '_', 'Q', ' ', '\n', '.', '\u00e9', '\u0000'), maxLength: 16 }),
        fc.string({ unit: fc.constantFrom('A', 'z', '0', '+', '/', '=', 'Q', 'x', '9', '-'), minLength: 56, maxLength: 76 }),
        fc.uint8Array({ maxLength: 80 }).map((b) => Buffer.from(b).toString('base64')),
      ),
      fc.nat({ max: 5 }),
      (s, at) => {
        const got = decodeBase64Span(Buffer.from('='.repeat(at) + s + '==', 'latin1'), at, at + s.length);
        if (re.test(s)) assert.deepEqual(got, Buffer.from(s, 'base64'), s);
        else assert.equal(got, undefined, s);
      },
    ),
    { numRuns: 20_000 },
  );
});

test('cleanNameKey: the clean-name shortcut gives what Go filepath.Clean gives', () => {
  // an independent Clean (path.posix semantics as Go documents them): '.' and '' dropped, '..'
  // pops a real component, stays at the front of a relative path, vanishes at the root
  const goClean = (s: string): string => {
    const rooted = s.startsWith('/');
    const out: string[] = [];
    for (const part of s.split('/')) {
      if (part === '' || part === '.') continue;
      if (part === '..') {
        if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
        else if (!rooted) out.push('..');
      } else out.push(part);
    }
    const joined = out.join('/');
    return rooted ? '/' + joined : joined || '.';
  };
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '.', '/', '\u00e9'), maxLength: 12 }), (s) => {
      const bytes = Buffer.from(s, 'utf8');
      assert.equal(cleanNameKey(bytes), goClean(bytes.toString('latin1')), JSON.stringify(s));
    }),
    { numRuns: 20_000 },
  );
});

test('property: CleanNameSet reports a duplicate exactly when a Set of cleaned names would', () => {
  fc.assert(
    fc.property(fc.array(fc.string({ unit: fc.constantFrom('a', 'b', '.', '/', '\u00e9'), maxLength: 8 }), { maxLength: 60 }), (names) => {
      const set = new CleanNameSet();
      const reference = new Set<string>();
      for (const s of names) {
        const bytes = Buffer.from(s, 'utf8');
        const key = cleanNameKey(bytes);
        assert.equal(set.add(bytes), !reference.has(key), JSON.stringify(s));
        reference.add(key);
      }
    }),
    { numRuns: 5_000 },
  );
});

test('CleanNameSet: 200,000 distinct names (30-bit hash collisions among them) are all new, and each is a duplicate the second time', () => {
  const set = new CleanNameSet();
  const name = (i: number): Buffer => Buffer.from(`usr/share/d${i % 997}/f${i}.txt`);
  for (let i = 0; i < 200_000; i++) assert.equal(set.add(name(i)), true, `name ${i}`);
  for (let i = 0; i < 200_000; i += 7) assert.equal(set.add(name(i)), false, `name ${i} again`);
  // equal after cleaning: a trailing slash, '.', '//' and '..' forms of names already there
  assert.equal(set.add(Buffer.from('usr/share/d1/f1.txt/')), false);
  assert.equal(set.add(Buffer.from('./usr/share//d1/./f1.txt')), false);
  assert.equal(set.add(Buffer.from('usr/x/../share/d1/f1.txt')), false);
  assert.equal(set.add(Buffer.from('usr/share/d1/f1.txt.')), true);
});
