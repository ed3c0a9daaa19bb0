import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeRepository, parseReference } from '../../src/store/refs.js';
import { fullyQualify } from '../../src/oci/manifest.js';

test('repository names normalise like Docker (docker.io/library/x = library/x = x)', () => {
  const table: Array<[string, string | null]> = [
    ['busybox', 'busybox'],
    ['library/busybox', 'busybox'],
    ['docker.io/library/busybox', 'busybox'],
    ['index.docker.io/library/busybox', 'busybox'],
    ['docker.io/training/webapp', 'training/webapp'],
    ['training/webapp', 'training/webapp'],
    ['localhost:5000/x/y', 'localhost:5000/x/y'],
    ['registry.example.com/legacy/app', 'registry.example.com/legacy/app'],
    ['Busybox', null],
    ['a'.repeat(64).replace(/a/g, 'f'), null],
    ['bad name', null],
    ['', null],
  ];
  for (const [input, want] of table) assert.equal(normalizeRepository(input), want, input);
});

test('fully qualified names', () => {
  assert.equal(fullyQualify('busybox'), 'docker.io/library/busybox');
  assert.equal(fullyQualify('training/webapp'), 'docker.io/training/webapp');
  assert.equal(fullyQualify('localhost:5000/x/y'), 'localhost:5000/x/y');
});

test('parseReference handles ids, prefixes, tags, digests and host:port names', () => {
  const id = 'ab'.repeat(32);
  assert.deepEqual(parseReference(id), { kind: 'id', id });
  assert.deepEqual(parseReference(`sha256:${id}`), { kind: 'id', id });
  assert.equal(parseReference('abcd').kind, 'prefix');
  assert.deepEqual(parseReference('busybox'), { kind: 'tag', repository: 'busybox', tag: 'latest', ref: 'busybox:latest' });
  assert.deepEqual(parseReference('docker.io/library/busybox:1.29'), { kind: 'tag', repository: 'busybox', tag: '1.29', ref: 'busybox:1.29' });
  assert.deepEqual(parseReference('localhost:5000/x/y'), { kind: 'tag', repository: 'localhost:5000/x/y', tag: 'latest', ref: 'localhost:5000/x/y:latest' });
  assert.deepEqual(parseReference('localhost:5000/x/y:1'), { kind: 'tag', repository: 'localhost:5000/x/y', tag: '1', ref: 'localhost:5000/x/y:1' });
  const d = `sha256:${'c'.repeat(64)}`;
  assert.deepEqual(parseReference(`busybox@${d}`), { kind: 'digest', repository: 'busybox', digest: d, ref: `busybox@${d}` });
  assert.throws(() => parseReference('Bad:Name:x'), { code: 'E_REF_INVALID' });
  assert.throws(() => parseReference(''), { code: 'E_REF_INVALID' });
  assert.throws(() => parseReference('busybox@sha256:123'), { code: 'E_REF_INVALID' });
});
