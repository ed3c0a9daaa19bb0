// The Docker 1.10+ store reader (image/<driver>/) on tiny metadata-only roots: how images find their
// layers (ChainIDs of diff_ids), which ids are never turned into paths (cache-ids that are not 64
// hex, overlay2's l/ short links), damaged configs, and block-storage roots that cannot be read.
// Layer content is exercised with real dockerd roots in test/drivers/.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { openStore, resolveReference } from '../../src/store/index.js';
import { cli } from '../helpers/cli.js';
import { run } from '../helpers/env.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');
const codes = (ps: { code: string }[]) => ps.map((p) => p.code).sort();

/** A metadata-only image/<driver>/ store with one image of `layers` (each: cache-id). */
function casRoot(driver: string, opts: { cacheIds?: string[]; config?: (diffIDs: string[]) => string; tamper?: boolean } = {}) {
  const root = mkdtempSync(join(tmpdir(), 'l2o-cas-'));
  dirs.push(root);
  const store = join(root, 'image', driver);
  const diffIDs = ['sha256:' + sha('layer-0'), 'sha256:' + sha('layer-1')];
  const cacheIds = opts.cacheIds ?? [sha('cache-0'), sha('cache-1')];
  let chain = '';
  const chainIDs: string[] = [];
  diffIDs.forEach((d, i) => {
    chain = i === 0 ? d : 'sha256:' + sha(`${chain} ${d}`);
    chainIDs.push(chain);
    const l = join(store, 'layerdb', 'sha256', chain.slice(7));
    mkdirSync(l, { recursive: true });
    writeFileSync(join(l, 'diff'), d);
    writeFileSync(join(l, 'size'), '42');
    writeFileSync(join(l, 'tar-split.json.gz'), gzipSync(''));
    writeFileSync(join(l, 'cache-id'), cacheIds[i]!);
    if (i > 0) writeFileSync(join(l, 'parent'), chainIDs[i - 1]!);
    if (/^[a-f0-9]{64}$/.test(cacheIds[i]!)) {
      const dir = driver === 'overlay2' ? join(root, 'overlay2', cacheIds[i]!, 'diff') : driver === 'vfs' ? join(root, 'vfs', 'dir', cacheIds[i]!) : join(root, driver, 'diff', cacheIds[i]!);
      mkdirSync(dir, { recursive: true });
    }
  });
  const config = opts.config ? opts.config(diffIDs) : JSON.stringify({ architecture: 'amd64', os: 'linux', created: '2020-01-02T03:04:05Z', config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: diffIDs }, history: [{ created_by: 'a' }, { created_by: 'b' }] });
  const id = sha(config);
  mkdirSync(join(store, 'imagedb', 'content', 'sha256'), { recursive: true });
  writeFileSync(join(store, 'imagedb', 'content', 'sha256', id), opts.tamper ? config + ' ' : config);
  writeFileSync(join(store, 'repositories.json'), JSON.stringify({ Repositories: { 'example/app': { 'example/app:1': `sha256:${id}`, 'example/app:gone': `sha256:${sha('nothing')}` } } }));
  mkdirSync(join(root, driver), { recursive: true });
  return { root, id, diffIDs, chainIDs, cacheIds };
}

test('1.10+ store: an image is its config (id = digest), its layers the ChainIDs of diff_ids', () => {
  const r = casRoot('overlay2');
  // overlay2's l/ short links are not ids: never listed, never followed
  mkdirSync(join(r.root, 'overlay2', 'l'));
  symlinkSync(`../${r.cacheIds[0]}/diff`, join(r.root, 'overlay2', 'l', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ'));
  const s = openStore(r.root);
  assert.equal(s.driver, 'overlay2');
  assert.deepEqual(s.stores, [{ kind: 'image-store', driver: 'overlay2', images: 1 }]);
  const img = s.images.get(r.id)!;
  assert.equal(img.status, 'ok', JSON.stringify(img.problems));
  assert.equal(img.store, 'image-store');
  assert.deepEqual(img.chain, r.chainIDs.map((c) => c.slice(7)));
  assert.deepEqual(img.tags, ['example/app:1']);
  assert.equal(img.created, '2020-01-02T03:04:05Z');
  const top = s.layers.get(r.chainIDs[1]!.slice(7))!;
  assert.equal(top.diffID, r.diffIDs[1]);
  assert.equal(top.cacheId, r.cacheIds[1]);
  assert.equal(top.rules, 'overlay');
  assert.equal(top.diffDir, join(r.root, 'overlay2', r.cacheIds[1]!, 'diff'));
  assert.equal(top.layerSize, 42);
  assert.ok(codes(s.problems).includes('W_TAG_DANGLING'));
  assert.equal(resolveReference(s, 'example/app:1').id, r.id);
  assert.equal(resolveReference(s, `sha256:${r.id}`).id, r.id);
  assert.equal(resolveReference(s, r.id.slice(0, 12)).id, r.id);
});

test('1.10+ store on vfs: full-tree layers are diffed against their parent layer\'s tree', () => {
  const r = casRoot('vfs');
  const s = openStore(r.root);
  const [base, top] = r.chainIDs.map((c) => s.layers.get(c.slice(7))!);
  assert.equal(top!.rules, 'naive');
  assert.equal(top!.parentDir, join(r.root, 'vfs', 'dir', r.cacheIds[0]!));
  assert.equal(base!.parentDir, null);
});

test('1.10+ store on vfs: the parent tree comes from the config\'s chain, even without layerdb\'s optional parent file', () => {
  const r = casRoot('vfs');
  rmSync(join(r.root, 'image', 'vfs', 'layerdb', 'sha256', r.chainIDs[1]!.slice(7), 'parent'));
  const s = openStore(r.root);
  const top = s.layers.get(r.chainIDs[1]!.slice(7))!;
  assert.equal(top.parentDir, join(r.root, 'vfs', 'dir', r.cacheIds[0]!), 'diffed against the base tree, not exported whole');
  assert.ok(codes(s.images.get(r.id)!.problems).includes('W_LAYERDB_PARENT'));
});

test('metadata files that are not regular files are never opened: a device node named cache-id or diff is refused', { skip: process.getuid?.() !== 0 ? 'needs root (mknod)' : false }, () => {
  const r = casRoot('overlay2');
  const l = join(r.root, 'image', 'overlay2', 'layerdb', 'sha256', r.chainIDs[1]!.slice(7));
  rmSync(join(l, 'cache-id'));
  // /dev/zero's numbers: opening and reading it would "succeed" forever; it must not be opened
  run('mknod', [join(l, 'cache-id'), 'c', '1', '5']);
  const s = openStore(r.root);
  const top = s.layers.get(r.chainIDs[1]!.slice(7))!;
  assert.ok(top.problems.some((p) => p.code === 'E_NOT_REGULAR' && /cache-id/.test(p.message)), JSON.stringify(top.problems));
  assert.equal(s.images.get(r.id)!.status, 'broken');
});

test('repositories.json keys must name their own tag or digest, under their own repository', () => {
  const r = casRoot('overlay2');
  const id = `sha256:${r.id}`;
  writeFileSync(join(r.root, 'image', 'overlay2', 'repositories.json'), JSON.stringify({ Repositories: {
    'localhost:5000/app': { 'localhost:5000/app': id, 'localhost:5000/app:2': id },
    'example/app': { 'example/app:1': id, ' example/app:3': id, 'other/app:4': id },
  } }));
  const s = openStore(r.root);
  assert.deepEqual(s.images.get(r.id)!.tags.sort(), ['example/app:1', 'localhost:5000/app:2']);
  assert.equal(s.problems.filter((p) => p.code === 'W_BAD_TAG').length, 3, JSON.stringify(s.problems));
});

test('cache-ids that are not 64 hex are never made into paths: the image is broken, with the file named', () => {
  for (const bad of ['../../../etc', 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', sha('x').toUpperCase()]) {
    const r = casRoot('overlay2', { cacheIds: [sha('cache-0'), bad] });
    const s = openStore(r.root);
    const img = s.images.get(r.id)!;
    assert.equal(img.status, 'broken');
    const p = img.problems.find((x) => x.code === 'E_BAD_ID');
    assert.ok(p && p.file!.endsWith('cache-id'), JSON.stringify(img.problems));
    assert.equal(s.layers.get(r.chainIDs[1]!.slice(7))!.diffDir, null);
  }
});

test('a config whose bytes do not hash to its name, or a layer missing from layerdb, breaks the image', () => {
  const t = casRoot('overlay2', { tamper: true });
  assert.ok(codes(openStore(t.root).images.get(t.id)!.problems).includes('E_CONFIG_DIGEST_MISMATCH'));
  const m = casRoot('overlay2');
  rmSync(join(m.root, 'image', 'overlay2', 'layerdb', 'sha256', m.chainIDs[1]!.slice(7)), { recursive: true });
  const img = openStore(m.root).images.get(m.id)!;
  assert.equal(img.status, 'broken');
  assert.ok(codes(img.problems).includes('E_LAYER_MISSING'));
});

test('devicemapper and zfs roots are detected and explained in one line, exit 2', () => {
  const cases: Array<[string, (d: string) => void, RegExp]> = [
    ['devicemapper graph', (d) => { mkdirSync(join(d, 'graph')); mkdirSync(join(d, 'devicemapper', 'devicemapper'), { recursive: true }); writeFileSync(join(d, 'repositories-devicemapper'), '{}'); }, /thin.*pool.*dmsetup|thin/],
    ['devicemapper 1.10+', (d) => { mkdirSync(join(d, 'image', 'devicemapper', 'imagedb'), { recursive: true }); mkdirSync(join(d, 'devicemapper')); }, /devicemapper/],
    ['zfs graph', (d) => { mkdirSync(join(d, 'graph')); mkdirSync(join(d, 'zfs', 'graph'), { recursive: true }); writeFileSync(join(d, 'repositories-zfs'), '{}'); }, /zpool import/],
    ['zfs 1.10+', (d) => { mkdirSync(join(d, 'image', 'zfs', 'layerdb'), { recursive: true }); mkdirSync(join(d, 'zfs')); }, /ZFS datasets/],
  ];
  for (const [label, make, re] of cases) {
    const d = mkdtempSync(join(tmpdir(), 'l2o-block-'));
    dirs.push(d);
    make(d);
    assert.throws(() => openStore(d), (e: any) => e.code === 'E_DRIVER_UNSUPPORTED' && re.test(e.message) && /--root/.test(e.message), label);
    const r = cli(['ls', '--root', d]);
    assert.equal(r.status, 2, label);
    assert.match(r.stderr, /E_DRIVER_UNSUPPORTED/);
    assert.equal(r.stderr.trim().split('\n').length, 1, `${label}: one line: ${r.stderr}`);
  }
});

test('a devicemapper 1.10+ store beside a readable one is reported, not fatal', () => {
  const r = casRoot('overlay2');
  mkdirSync(join(r.root, 'image', 'devicemapper', 'imagedb'), { recursive: true });
  const s = openStore(r.root);
  assert.ok(codes(s.problems).includes('W_STORE_NOT_READ'));
  assert.equal(s.images.size, 1);
});

test('symlinks out of the root are not followed: a layerdb entry or an overlay2 layer dir elsewhere breaks the image', () => {
  const outside = mkdtempSync(join(tmpdir(), 'l2o-outside-'));
  dirs.push(outside);
  // overlay2/<cache-id> → a dir outside (its diff/ is a real dir there)
  const a = casRoot('overlay2');
  const cacheDir = join(a.root, 'overlay2', a.cacheIds[1]!);
  rmSync(cacheDir, { recursive: true });
  mkdirSync(join(outside, 'layer', 'diff'), { recursive: true });
  symlinkSync(join(outside, 'layer'), cacheDir);
  const ia = openStore(a.root).images.get(a.id)!;
  assert.equal(ia.status, 'broken');
  assert.ok(codes(ia.problems).includes('E_DIFF_OUTSIDE_ROOT'), JSON.stringify(ia.problems));
  // layerdb/sha256/<chainID> → a copy outside
  const b = casRoot('overlay2');
  const entry = join(b.root, 'image', 'overlay2', 'layerdb', 'sha256', b.chainIDs[1]!.slice(7));
  mkdirSync(join(outside, 'entry'));
  for (const f of ['diff', 'size', 'cache-id', 'parent']) writeFileSync(join(outside, 'entry', f), 'x');
  rmSync(entry, { recursive: true });
  symlinkSync(join(outside, 'entry'), entry);
  const ib = openStore(b.root).images.get(b.id)!;
  assert.equal(ib.status, 'broken');
  assert.ok(codes(ib.problems).includes('E_DIFF_OUTSIDE_ROOT'), JSON.stringify(ib.problems));
});

test('an empty graph/ left beside a 1.10+ store is not a second store', () => {
  const r = casRoot('overlay2');
  mkdirSync(join(r.root, 'graph'));
  const s = openStore(r.root);
  assert.deepEqual(s.stores, [{ kind: 'image-store', driver: 'overlay2', images: 1 }]);
  assert.ok(!codes(s.problems).some((c) => c === 'W_HYBRID_ROOT' || c === 'W_GRAPH_NOT_READ'), JSON.stringify(s.problems));
});
