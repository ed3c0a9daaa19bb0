import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { mkdirSync, symlinkSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStore, resolveReference } from '../../src/store/index.js';
import { MiniRoot, fakeId } from '../helpers/mini-root.js';
import { needShared } from '../helpers/env.js';
import { realRoot, REAL, REAL_TGZ } from '../helpers/real-root.js';

const roots: MiniRoot[] = [];
function mini(): MiniRoot {
  const r = new MiniRoot();
  roots.push(r);
  return r;
}
after(() => roots.forEach((r) => r.cleanup()));

const A = fakeId('a'), B = fakeId('b'), C = fakeId('c'), D = fakeId('d');
const codes = (ps: { code: string }[]) => ps.map((p) => p.code).sort();

test('real root: busybox:latest with 2 layers; container layers are not images', { skip: needShared(REAL_TGZ) }, () => {
  const store = openStore(realRoot());
  assert.equal(store.driver, 'aufs');
  assert.deepEqual([...store.images.keys()].sort(), [REAL.busyboxTop, REAL.busyboxBase].sort());
  const top = store.images.get(REAL.busyboxTop)!;
  assert.deepEqual(top.chain, [REAL.busyboxBase, REAL.busyboxTop]);
  assert.deepEqual(top.tags, ['busybox:latest']);
  assert.equal(top.status, 'ok');
  assert.deepEqual(store.containers.map((c) => c.id).sort(), REAL.containers);
  assert.ok(store.containers.every((c) => c.image === REAL.busyboxTop));
  assert.deepEqual(store.orphans, []);
  assert.equal(resolveReference(store, 'busybox').id, REAL.busyboxTop);
  assert.equal(resolveReference(store, 'docker.io/library/busybox:latest').id, REAL.busyboxTop);
  assert.equal(resolveReference(store, '1cee97').id, REAL.busyboxTop);
  assert.throws(() => resolveReference(store, 'busybox:1.0'), { code: 'E_REF_NOT_FOUND' });
  // the json is kept as the exact bytes read
  assert.ok(store.layers.get(REAL.busyboxBase)!.json!.toString().startsWith('{"id":"df557f39'));
});

test('parent precedence: parent file, then json parent, then parent_id', () => {
  const r = mini();
  const E = fakeId('e');
  r.add({ id: A }).add({ id: B }).add({ id: E })
    // json says parent A, the parent file says B: the file wins
    .add({ id: C, json: JSON.stringify({ id: C, parent: A, created: '2015-01-01T00:00:00Z' }), parentFile: B, aufsLayers: `${B}\n${''}` })
    // no parent, parent_id sha256:E
    .add({ id: D, json: JSON.stringify({ created: '2015-01-01T00:00:00Z', parent_id: `sha256:${E}` }), aufsLayers: `${E}\n` })
    .write();
  const s = openStore(r.root);
  assert.deepEqual(s.images.get(C)!.chain, [B, C]);
  assert.equal(s.layers.get(C)!.parentSource, 'parent-file');
  assert.deepEqual(s.images.get(D)!.chain, [E, D]);
  assert.equal(s.layers.get(D)!.parentSource, 'json-parent_id');
  // capitalised "Parent" counts too (Go struct decoding is case-insensitive)
  const r2 = mini();
  r2.add({ id: A }).add({ id: B, json: JSON.stringify({ Parent: A }), aufsLayers: `${A}\n` }).write();
  assert.deepEqual(openStore(r2.root).images.get(B)!.chain, [A, B]);
});

test('broken chains: missing parent and cycles are reported, other images still listed', () => {
  const r = mini();
  const missing = fakeId('missing');
  r.add({ id: A })
    .add({ id: B, parent: missing, aufsLayers: `${missing}\n` })
    .add({ id: C, parent: D, aufsLayers: `${D}\n` })
    .add({ id: D, parent: C, aufsLayers: `${C}\n` })
    .write({ Repositories: { good: { latest: A }, bad: { latest: B }, loop: { latest: C } } });
  const s = openStore(r.root);
  assert.notEqual(s.images.get(A)!.status, 'broken');
  assert.equal(s.images.get(B)!.status, 'broken');
  assert.ok(codes(s.images.get(B)!.problems).includes('E_PARENT_MISSING'));
  assert.ok(codes(s.images.get(C)!.problems).includes('E_CHAIN_CYCLE'));
  assert.ok(codes(s.images.get(D)!.problems).includes('E_CHAIN_CYCLE'));
  assert.equal(s.images.get(C)!.chain, null);
});

test('a 1,000-layer chain resolves without recursion', () => {
  const r = mini();
  let parent: string | null = null;
  const ids: string[] = [];
  for (let i = 0; i < 1000; i++) {
    const id = fakeId(`deep${i}`);
    r.add({ id, parent, aufsLayers: '' });
    ids.push(id);
    parent = id;
  }
  r.write({ Repositories: { deep: { latest: parent } } });
  const s = openStore(r.root);
  const top = s.images.get(parent!)!;
  assert.equal(top.chain!.length, 1000);
  assert.deepEqual(top.chain, ids);
});

test('invalid ids in repositories, layers files and parent fields are errors, never paths', () => {
  const r = mini();
  r.add({ id: A })
    .add({ id: B, json: JSON.stringify({ id: B, parent: '../../etc' }), aufsLayers: '' })
    .add({ id: C, parentFile: 'ABCDEF', aufsLayers: '' })
    .add({ id: D, aufsLayers: '../../../etc/passwd\n' })
    .write({ Repositories: { x: { latest: '../../x' }, y: { latest: A.toUpperCase() }, z: { latest: A } } });
  const s = openStore(r.root);
  assert.ok(codes(s.layers.get(B)!.problems).includes('E_BAD_ID'));
  assert.ok(codes(s.layers.get(C)!.problems).includes('E_BAD_ID'));
  assert.ok(codes(s.layers.get(D)!.problems).includes('E_BAD_ID'));
  assert.equal(s.problems.filter((p) => p.code === 'E_BAD_ID').length, 2);
  assert.deepEqual(s.tags.map((t) => t.ref), ['z:latest']);
});

test('_tmp, non-id names, -init layers and -removing dirs are not images', () => {
  const r = mini();
  r.add({ id: A }).write();
  mkdirSync(join(r.root, 'graph', 'not-an-id'));
  mkdirSync(join(r.root, 'graph', A.toUpperCase()));
  const cid = fakeId('container');
  writeFileSync(join(r.root, 'aufs/layers', `${cid}-init`), `${A}\n`);
  writeFileSync(join(r.root, 'aufs/layers', cid), `${cid}-init\n${A}\n`);
  mkdirSync(join(r.root, 'aufs/diff', `${cid}-init`));
  mkdirSync(join(r.root, 'aufs/diff', cid));
  mkdirSync(join(r.root, 'aufs/diff', `${B}-removing`));
  mkdirSync(join(r.root, 'aufs/diff', C));
  const s = openStore(r.root);
  assert.deepEqual([...s.images.keys()], [A]);
  assert.deepEqual(s.containers, [{ id: cid, hasInit: true, image: A }]);
  assert.deepEqual(s.orphans, [C]);
  assert.equal(s.problems.filter((p) => p.code === 'W_IGNORED_ENTRY').length, 2);
});

test('aufs/layers disagreeing with the json chain is a warning; missing diff dir and layers file are errors', () => {
  const r = mini();
  r.add({ id: A }).add({ id: B, parent: A, aufsLayers: `${C}\n${A}\n` }).add({ id: C }).add({ id: D, parent: A, diff: false }).write();
  const s = openStore(r.root);
  assert.ok(codes(s.images.get(B)!.problems).includes('W_AUFS_LAYERS_MISMATCH'));
  assert.equal(s.images.get(B)!.status, 'warning');
  assert.ok(codes(s.images.get(D)!.problems).includes('E_DIFF_MISSING'));
  const r2 = mini();
  r2.add({ id: A, aufsLayers: null }).write();
  assert.ok(codes(openStore(r2.root).images.get(A)!.problems).includes('E_AUFS_LAYERS_MISSING'));
});

test('aufs/layers text: blank lines and a missing last newline still match; -init, fewer or more ancestors do not; an empty file lists none', () => {
  const r = mini();
  const E = fakeId('e'), F = fakeId('f'), G = fakeId('g'), H = fakeId('h'), I = fakeId('i'), J = fakeId('j');
  r.add({ id: A, aufsLayers: '' })
    .add({ id: B, parent: A, aufsLayers: `\n${A}` })
    .add({ id: C, parent: B, aufsLayers: `${B}\n\n${A}\n\n` })
    .add({ id: D, parent: C, aufsLayers: `${C}\n${B}\n` })
    .add({ id: E, parent: C, aufsLayers: `${C}\n${B}\n${A}\n${A}\n` })
    .add({ id: F, parent: C, aufsLayers: `${C}-init\n${B}\n${A}\n` })
    .add({ id: G, aufsLayers: `${A}\n` })
    .add({ id: H, parent: C, aufsLayers: `${C}\n${B}\n${A}\n` })
    .add({ id: I, parent: A, aufsLayers: `${A}\n` })
    .add({ id: J, parent: A, aufsLayers: '' })
    .write();
  const s = openStore(r.root);
  const mismatch = (id: string) => s.images.get(id)!.problems.filter((p) => p.code === 'W_AUFS_LAYERS_MISMATCH').map((p) => p.message);
  for (const ok of [A, B, C, H, I]) assert.deepEqual(mismatch(ok), [], ok.slice(0, 4));
  assert.match(mismatch(D)[0]!, /lists 2 ancestors that differ from the json parent chain \(3\)/);
  assert.match(mismatch(E)[0]!, /lists 4 ancestors .*\(3\)/);
  assert.match(mismatch(F)[0]!, /lists 3 ancestors .*\(3\)/);
  assert.match(mismatch(G)[0]!, /lists 1 ancestors .*\(0\)/);
  assert.match(mismatch(J)[0]!, /lists 0 ancestors .*\(1\)/);
  assert.equal(s.layers.get(C)!.aufsAncestors, `${B}\n${A}\n`);
});

test('a diff dir symlinked out of the root is refused; one inside the root is followed', () => {
  const outside = mkdtempSync(join(tmpdir(), 'l2o-outside-'));
  try {
    const r = mini();
    r.add({ id: A, diff: false }).add({ id: B, diff: false }).write();
    symlinkSync(outside, join(r.root, 'aufs/diff', A));
    mkdirSync(join(r.root, 'graph', B, 'layer'));
    symlinkSync(join(r.root, 'graph', B, 'layer'), join(r.root, 'aufs/diff', B));
    const s = openStore(r.root);
    assert.ok(codes(s.layers.get(A)!.problems).includes('E_DIFF_OUTSIDE_ROOT'));
    assert.equal(s.layers.get(A)!.diffDir, null);
    assert.equal(s.layers.get(B)!.diffDir, join(r.root, 'graph', B, 'layer'));
  } finally {
    rmSync(outside, { recursive: true, force: true });
  }
});

test('invalid json, invalid UTF-8, __proto__ keys, deep nesting and huge json are handled', () => {
  const r = mini();
  const E = fakeId('e'), F = fakeId('f');
  r.add({ id: A, json: '{"id": "truncated' })
    .add({ id: B, json: null })
    .add({ id: C, json: '{"__proto__":{"polluted":1},"constructor":{"x":1},"created":"2015-01-01T00:00:00Z"}' })
    .add({ id: D, json: '['.repeat(100000) + ']'.repeat(100000) })
    .add({ id: E, json: JSON.stringify({ created: '2015', comment: 'x'.repeat(9 * 1024 * 1024) }) })
    .write();
  mkdirSync(join(r.root, 'graph', F));
  writeFileSync(join(r.root, 'graph', F, 'json'), Buffer.from([0x7b, 0x22, 0x63, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]), { flag: 'w' });
  const s = openStore(r.root);
  assert.ok(codes(s.layers.get(A)!.problems).includes('E_JSON_INVALID'));
  assert.ok(codes(s.layers.get(B)!.problems).includes('E_JSON_MISSING'));
  assert.notEqual(s.images.get(C)!.status, 'broken');
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
  assert.ok(codes(s.layers.get(D)!.problems).includes('E_JSON_INVALID'));
  assert.ok(codes(s.layers.get(E)!.problems).includes('E_FILE_TOO_LARGE'));
  // graph/F has json but no aufs layers file: reported, not crashed; invalid UTF-8 json still parses
  assert.ok(s.layers.get(F)!.json!.includes(0xff));
});

test('tar-split presence: missing is a warning, non-gzip is a warning', () => {
  const r = mini();
  r.add({ id: A, tarData: gzipSync(Buffer.from('{"type":2,"payload":"","position":0}\n')) }).add({ id: B, tarData: Buffer.from('not gzip') }).add({ id: C }).write();
  const s = openStore(r.root);
  assert.ok(s.layers.get(A)!.tarDataPath);
  assert.ok(codes(s.layers.get(B)!.problems).includes('W_TAR_SPLIT_UNREADABLE'));
  assert.ok(codes(s.layers.get(C)!.problems).includes('W_NO_TAR_SPLIT'));
  assert.equal(s.images.get(C)!.status, 'warning');
});

test('tags: digest references, library/ spellings, duplicate tags, dangling tags, bad names', () => {
  const r = mini();
  const dg = `sha256:${'9'.repeat(64)}`;
  r.add({ id: A }).add({ id: B }).write({
    Repositories: {
      'library/busybox': { latest: A, [dg]: A },
      busybox: { latest: B },
      'localhost:5000/x/y': { '1': B },
      'Upper/Case': { latest: A },
      ghost: { latest: C },
      weird: { 'bad tag!': A },
    },
  });
  const s = openStore(r.root);
  assert.deepEqual(s.tags.map((t) => t.ref).sort(), [`busybox@${dg}`, 'busybox:latest', 'localhost:5000/x/y:1'].sort());
  assert.equal(s.tags.find((t) => t.ref === 'busybox:latest')!.id, B, 'sorted names: busybox before library/busybox');
  assert.deepEqual(codes(s.problems), ['W_BAD_REPOSITORY', 'W_BAD_TAG', 'W_DUPLICATE_TAG', 'W_TAG_DANGLING']);
  assert.equal(resolveReference(s, `busybox@${dg}`).id, A);
  assert.equal(resolveReference(s, 'localhost:5000/x/y:1').id, B);
});

test('ambiguous id prefixes list the candidates', () => {
  const r = mini();
  const ids = ['ab' + '0'.repeat(62), 'ab' + '1'.repeat(62)];
  ids.forEach((id) => r.add({ id }));
  r.write();
  const s = openStore(r.root);
  assert.throws(() => resolveReference(s, 'ab'), (e: any) => e.code === 'E_REF_AMBIGUOUS' && e.message.includes('ab0000') && e.message.includes('ab1111'));
  assert.equal(resolveReference(s, 'ab1').id, ids[1]);
});

test('root errors: missing root, not a Docker root, empty root, unsupported driver, several drivers', () => {
  assert.throws(() => openStore('/nonexistent/l2o'), { code: 'E_ROOT_NOT_FOUND' });
  const d = mkdtempSync(join(tmpdir(), 'l2o-empty-'));
  try {
    assert.throws(() => openStore(d), { code: 'E_NOT_DOCKER_ROOT' });
    mkdirSync(join(d, 'graph'));
    mkdirSync(join(d, 'aufs'));
    const s = openStore(d);
    assert.equal(s.images.size, 0);
    writeFileSync(join(d, 'repositories-vfs'), '{}');
    writeFileSync(join(d, 'repositories-aufs'), '{}');
    mkdirSync(join(d, 'vfs'));
    assert.ok(codes(openStore(d).problems).includes('W_SEVERAL_DRIVERS'));
    const d2 = mkdtempSync(join(tmpdir(), 'l2o-dm-'));
    mkdirSync(join(d2, 'graph'));
    mkdirSync(join(d2, 'devicemapper'));
    writeFileSync(join(d2, 'repositories-devicemapper'), '{}');
    assert.throws(() => openStore(d2), { code: 'E_DRIVER_UNSUPPORTED' });
    rmSync(d2, { recursive: true });
  } finally {
    rmSync(d, { recursive: true, force: true });
  }
});
