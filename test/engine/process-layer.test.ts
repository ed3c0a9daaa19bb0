// One layer task end to end: tar-split replay or regeneration with the reason, blobs committed
// or discarded, one-layer OCI images from our blobs unpacked by umoci and compared with the
// expected tree, hostile layer dirs, and the real Docker 1.x root from ../shared.
// Layers are made by node:fs + GNU tar + `tar-split disasm`; aufs's own files are added by hand.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appendFileSync, closeSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync,
  symlinkSync, truncateSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { getAttributeSync, listAttributesSync, setAttributeSync } from '@napi-rs/xattr';
import { LayerError } from '../../src/errors.js';
import { processLayer } from '../../src/engine/process-layer.js';
import type { CompressionSpec, LayerResult, LayerTask } from '../../src/engine/types.js';
import { commitSealedBlob, putBlob } from '../../src/oci/blob-store.js';
import { needShared, needTools, run, SHARED_DIR } from '../helpers/env.js';

const TOOLS = needTools('tar', 'tar-split');
const IS_ROOT = process.getuid?.() === 0;
let work = '';
let n = 0;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'l2o-layer-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const hex64 = (label: string): string => createHash('sha256').update(label).digest('hex');

interface Built {
  root: string;
  id: string;
  tar: Buffer;
  diffDir: string;
  tarDataPath: string;
  src: string;
  task(outDir: string | null, compression?: CompressionSpec, extra?: Partial<LayerTask>): LayerTask;
}

/** A legacy root with one layer: GNU tar of a staging dir, tar-split disasm, GNU tar extraction into aufs/diff/<id>, plus aufs's own files. */
function buildLayer(populate: (src: string) => void, format: 'gnu' | 'pax' = 'pax'): Built {
  const root = join(work, `root${n++}`);
  const id = hex64(root);
  const src = join(root, 'staging');
  mkdirSync(src, { recursive: true });
  populate(src);
  const tarPath = join(root, 'layer.tar');
  const names = readdirSync(src, { encoding: 'buffer' }).sort(Buffer.compare);
  writeFileSync(join(root, 'names'), Buffer.concat(names.flatMap((x) => [x, Buffer.alloc(1)])));
  // --xattrs makes GNU tar write PAX headers whatever --format says: only for pax
  const xattrArgs = format === 'pax' ? ['--xattrs', '--xattrs-include=*'] : [];
  run('tar', [`--format=${format}`, '--sort=name', '--numeric-owner', ...xattrArgs, '-C', src, '-cf', tarPath, '--null', '-T', join(root, 'names')]);
  const graph = join(root, 'graph', id);
  mkdirSync(graph, { recursive: true });
  const tarDataPath = join(graph, 'tar-data.json.gz');
  run('tar-split', ['disasm', '--no-stdout', '--output', tarDataPath, tarPath]);
  const diffDir = join(root, 'aufs', 'diff', id);
  mkdirSync(diffDir, { recursive: true });
  run('tar', ['--numeric-owner', ...xattrArgs, '-xpf', tarPath, '-C', diffDir]);
  // what aufs keeps at the branch root: the whiteout base (whiteouts are hard links to it), plnk, orph
  writeFileSync(join(diffDir, '.wh..wh.aufs'), '', { mode: 0o444 });
  mkdirSync(join(diffDir, '.wh..wh.plnk'), { mode: 0o700 });
  mkdirSync(join(diffDir, '.wh..wh.orph'), { mode: 0o700 });
  const tar = readFileSync(tarPath);
  return {
    root, id, tar, diffDir, tarDataPath, src,
    task: (outDir, compression = { algorithm: 'none' }, extra = {}) => ({ root, id, diffDir, tarDataPath, driver: 'aufs', outDir, compression, ...extra }),
  };
}

/** aufs links every whiteout to .wh..wh.aufs: redo that for the whiteouts GNU tar extracted. */
function linkWhiteoutsLikeAufs(diffDir: string, rel: string[]): void {
  for (const r of rel) {
    unlinkSync(join(diffDir, r));
    linkSync(join(diffDir, '.wh..wh.aufs'), join(diffDir, r));
  }
}

function richTree(src: string): void {
  mkdirSync(join(src, 'etc'));
  writeFileSync(join(src, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n', { mode: 0o644 });
  writeFileSync(join(src, 'etc', '.wh.shadow'), '', { mode: 0o444 });
  mkdirSync(join(src, 'var', 'cache'), { recursive: true });
  writeFileSync(join(src, 'var', 'cache', '.wh..wh..opq'), '');
  writeFileSync(join(src, 'var', 'cache', 'new'), 'new');
  mkdirSync(join(src, 'bin'));
  writeFileSync(join(src, 'bin', 'tool'), Buffer.alloc(300_000, 0x90), { mode: 0o4755 });
  linkSync(join(src, 'bin', 'tool'), join(src, 'bin', 'tool-alias'));
  symlinkSync('tool', join(src, 'bin', 'sym'));
  mkdirSync(join(src, 'l'.repeat(120)));
  writeFileSync(join(src, 'l'.repeat(120), 'f'.repeat(150)), 'long');
  writeFileSync(join(src, 'data'), 'data', { mode: 0o600 });
  setAttributeSync(join(src, 'data'), 'user.note', Buffer.from([0xde, 0xad, 0xbe, 0xef, 0x0a]));
  if (IS_ROOT) {
    run('setcap', ['cap_net_raw+ep', join(src, 'bin', 'tool')]);
    run('mkfifo', [join(src, 'fifo')]);
    run('mknod', [join(src, 'null'), 'c', '1', '3']);
    run('chown', ['1234:5678', join(src, 'data')]);
  }
}

// ───────────── a one-layer OCI image from our blob, unpacked by umoci ─────────────

function writeImage(layout: string, result: LayerResult): string {
  writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
  const config = putBlob(layout, JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [result.diffID] }, history: [{ created_by: 'test' }] }));
  const manifest = putBlob(layout, JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
    layers: [{ mediaType: result.mediaType, digest: result.digest, size: result.size }],
  }));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest.digest, size: manifest.size, annotations: { 'org.opencontainers.image.ref.name': 'test' } }],
  }));
  const rootfs = join(layout, '..', `rootfs-${n++}`);
  run('umoci', ['raw', 'unpack', '--image', `${layout}:test`, rootfs]);
  return rootfs;
}

/** path → normalized description (type, mode, owner, size, content hash, target, xattrs, mtime). */
function describeTree(dir: string, skip: (rel: string, name: string) => boolean): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (abs: Buffer, rel: string): void => {
    for (const name of readdirSync(abs, { encoding: 'buffer' }).sort(Buffer.compare)) {
      const childRel = rel ? `${rel}/${name.toString('latin1')}` : name.toString('latin1');
      if (skip(childRel, name.toString('latin1'))) continue;
      const p = Buffer.concat([abs, Buffer.from('/'), name]);
      const st = lstatSync(p, { bigint: true });
      const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'char' : 'other';
      const parts = [kind, (st.mode & 0o7777n).toString(8), `${st.uid}:${st.gid}`];
      if (kind === 'file') parts.push(String(st.size), sha(readFileSync(p)), `nlink=${st.nlink}`);
      if (kind === 'symlink') parts.push(readlinkSync(p, { encoding: 'buffer' }).toString('latin1'));
      if (kind === 'char') parts.push(String(st.rdev));
      if (kind !== 'dir' && kind !== 'symlink') parts.push(`mtime=${st.mtimeNs / 1_000_000_000n}`);
      if (kind === 'file' || kind === 'dir') {
        const ps = p.toString('utf8');
        for (const x of listAttributesSync(ps).filter((a) => a.startsWith('user.') || a === 'security.capability').sort()) {
          parts.push(`${x}=${Buffer.from(getAttributeSync(ps, x) ?? Buffer.alloc(0)).toString('hex')}`);
        }
      }
      out.set(childRel, parts.join(' '));
      if (kind === 'dir') walk(p, childRel);
    }
  };
  walk(Buffer.from(dir), '');
  return out;
}

const isWhiteout = (name: string): boolean => name.startsWith('.wh.');
const aufsOrWhiteout = (rel: string, name: string): boolean => isWhiteout(name) || (!rel.includes('/') && name.startsWith('.wh..wh.'));

describe('one-layer OCI images from our blobs, unpacked by umoci', { skip: TOOLS || needTools('umoci') }, () => {
  test('tar-split replay (gzip): original diffID, umoci tree == staging tree', async () => {
    const layer = buildLayer(richTree);
    linkWhiteoutsLikeAufs(layer.diffDir, ['etc/.wh.shadow', 'var/cache/.wh..wh..opq']);
    const layout = join(layer.root, 'layout');
    const r = await processLayer(layer.task(layout, { algorithm: 'gzip', level: 1 }));
    assert.equal(r.source, 'tar-split');
    assert.equal(r.diffID, sha(layer.tar));
    assert.equal(r.reason, undefined);
    assert.equal(r.mediaType, 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.equal(r.uncompressedSize, layer.tar.length);
    const rootfs = writeImage(layout, r);
    assert.deepEqual(describeTree(rootfs, aufsOrWhiteout), describeTree(layer.src, aufsOrWhiteout));
  });

  test('regenerated (tar-split broken by an edit): reason recorded, umoci tree == diff dir; no leftovers from the failed replay', async () => {
    const layer = buildLayer(richTree);
    linkWhiteoutsLikeAufs(layer.diffDir, ['etc/.wh.shadow', 'var/cache/.wh..wh..opq']);
    writeFileSync(join(layer.diffDir, 'etc', 'passwd'), 'ROOT:x:0:0::/root:/bin/sh\n');
    run('touch', ['-d', '@1500000000', join(layer.diffDir, 'etc', 'passwd')]);
    const layout = join(layer.root, 'layout');
    mkdirSync(layout);
    const r = await processLayer(layer.task(layout, { algorithm: 'none' }));
    assert.equal(r.source, 'regenerated');
    assert.equal(r.reason, 'tar-split: crc mismatch for etc/passwd');
    assert.notEqual(r.diffID, sha(layer.tar));
    assert.deepEqual(readdirSync(join(layout, 'blobs', 'sha256')), [r.digest.slice(7)], 'only the regenerated blob, no temp, no partial');
    const rootfs = writeImage(layout, r);
    assert.deepEqual(describeTree(rootfs, aufsOrWhiteout), describeTree(layer.diffDir, aufsOrWhiteout));
    // whiteouts linked to .wh..wh.aufs are plain empty files in the blob (not hard links)
    const listing = run('tar', ['-tvf', join(layout, 'blobs', 'sha256', r.digest.slice(7))]).toString();
    assert.match(listing, /^-r--r--r-- .* 0 .* etc\/\.wh\.shadow$/m);
    assert.match(listing, /^-r--r--r-- .* 0 .* var\/cache\/\.wh\.\.wh\.\.opq$/m);
    assert.doesNotMatch(listing, /\.wh\.\.wh\.(aufs|plnk|orph)/);
    assert.doesNotMatch(listing, /\.wh\..* link to /);
  });
});

describe('why a layer was regenerated', { skip: TOOLS }, () => {
  const simple = (src: string): void => {
    mkdirSync(join(src, 'etc'));
    writeFileSync(join(src, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    writeFileSync(join(src, 'n'.repeat(130)), 'long name\n');
  };
  const cases: Array<[string, (l: Built) => Partial<LayerTask> | void, RegExp, 'gnu' | 'pax']> = [
    ['no tar-data', () => ({ tarDataPath: null }), /^no tar-split metadata/, 'pax'],
    ['forced', () => ({ forceRegenerate: true }), /^regeneration requested$/, 'pax'],
    ['tar-data path missing', (l) => void rmSync(l.tarDataPath), /^tar-split: tar-data\.json\.gz is missing$/, 'pax'],
    ['missing file', (l) => void unlinkSync(join(l.diffDir, 'etc', 'passwd')), /^tar-split: missing file etc\/passwd$/, 'pax'],
    ['short file', (l) => void truncateSync(join(l.diffDir, 'etc', 'passwd'), 1), /^tar-split: size mismatch for etc\/passwd/, 'pax'],
    ['long file', (l) => void appendFileSync(join(l.diffDir, 'etc', 'passwd'), 'x'), /^tar-split: size mismatch for etc\/passwd/, 'pax'],
    ['truncated gzip', (l) => void writeFileSync(l.tarDataPath, readFileSync(l.tarDataPath).subarray(0, 60)), /^tar-split: (truncated|corrupt) gzip/, 'pax'],
    ['v0.9.4 + GNU long names', (l) => {
      const lines = gunzipSync(readFileSync(l.tarDataPath)).toString().split('\n').filter(Boolean).map((x) => JSON.parse(x) as Record<string, unknown>);
      writeFileSync(l.tarDataPath, gzipSync(lines.map((x) => JSON.stringify(x.type === 2 ? { type: 2, name: '', size: 0, payload: x.payload } : x) + '\n').join('')));
    }, /^tar-split: tar-split v0\.9\.4 metadata/, 'gnu'],
    ['symlinked dir pointing outside', (l) => {
      const outside = join(l.root, '..', `outside-${n++}`);
      mkdirSync(outside);
      writeFileSync(join(outside, 'passwd'), readFileSync(join(l.diffDir, 'etc', 'passwd')));
      rmSync(join(l.diffDir, 'etc'), { recursive: true });
      symlinkSync(outside, join(l.diffDir, 'etc'));
    }, /^tar-split: symlinked directory in the path of etc\/passwd$/, 'pax'],
  ];
  for (const [label, damage, reason, format] of cases) {
    test(label, async () => {
      const layer = buildLayer(simple, format);
      const extra = damage(layer) ?? {};
      const r = await processLayer(layer.task(null, { algorithm: 'gzip', level: 1 }, extra));
      assert.equal(r.source, 'regenerated');
      assert.match(r.reason ?? '', reason);
    });
  }

  test('a layer dir with a FIFO, a symlink loop and a ../ name finishes; nothing outside is read', { timeout: 30_000 }, async () => {
    const layer = buildLayer(simple);
    run('mkfifo', [join(layer.diffDir, 'fifo')]);
    symlinkSync('loop', join(layer.diffDir, 'loop'));
    // the metadata names ../secret, which exists right outside the diff dir with the recorded bytes
    writeFileSync(join(layer.diffDir, '..', 'secret'), readFileSync(join(layer.diffDir, 'etc', 'passwd')));
    const lines = gunzipSync(readFileSync(layer.tarDataPath)).toString().split('\n').filter(Boolean).map((x) => JSON.parse(x) as Record<string, unknown>);
    for (const l of lines) if (l.name === 'etc/passwd') l.name = '../secret';
    writeFileSync(layer.tarDataPath, gzipSync(lines.map((x) => JSON.stringify(x) + '\n').join('')));
    const r = await processLayer(layer.task(null));
    assert.equal(r.source, 'regenerated');
    assert.equal(r.reason, "tar-split: name ../secret leaves the layer ('..')");
    assert.deepEqual(r.warnings, []);
  });
});

describe('task checks and diff dir resolution', { skip: TOOLS }, () => {
  test('invalid ids and paths are coded LayerErrors', async () => {
    const layer = buildLayer((src) => writeFileSync(join(src, 'a'), 'a'));
    await assert.rejects(processLayer({ ...layer.task(null), id: '../../etc' }), (e: unknown) => e instanceof LayerError && e.code === 'E_LAYER_ID_INVALID');
    await assert.rejects(processLayer({ ...layer.task(null), id: layer.id.toUpperCase() }), (e: unknown) => e instanceof LayerError && e.code === 'E_LAYER_ID_INVALID');
    await assert.rejects(processLayer({ ...layer.task(null), diffDir: 'relative/dir' }), (e: unknown) => e instanceof LayerError && e.code === 'E_LAYER_PATH');
    await assert.rejects(processLayer({ ...layer.task(null), diffDir: '/etc' }), (e: unknown) => e instanceof LayerError && e.code === 'E_LAYER_PATH');
    await assert.rejects(processLayer({ ...layer.task(null), driver: 'overlay' as never }), (e: unknown) => e instanceof LayerError && e.code === 'E_DRIVER_UNSUPPORTED');
  });

  test('diff dir symlink (pre-0.7 migration) is followed inside the root, refused outside', async () => {
    const layer = buildLayer((src) => writeFileSync(join(src, 'a'), 'a'));
    const moved = join(layer.root, 'graph', layer.id, 'layer');
    run('mv', [layer.diffDir, moved]);
    symlinkSync(moved, layer.diffDir);
    const r = await processLayer(layer.task(null));
    assert.equal(r.source, 'tar-split');
    assert.deepEqual(r.warnings, [`diff dir is a symlink to ${moved}`]);
    const outside = join(work, `outside-${n++}`);
    run('mv', [moved, outside]);
    unlinkSync(layer.diffDir);
    symlinkSync(outside, layer.diffDir);
    await assert.rejects(processLayer(layer.task(null)), (e: unknown) => e instanceof LayerError && e.code === 'E_LAYER_PATH');
  });

  test('missing diff dir: fine when no entry has data, E_LAYER_DIFF_MISSING when regeneration is needed', async () => {
    const empty = buildLayer((src) => mkdirSync(join(src, 'onlydir')));
    rmSync(empty.diffDir, { recursive: true });
    const r = await processLayer(empty.task(null));
    assert.deepEqual([r.source, r.diffID], ['tar-split', sha(empty.tar)]);
    const full = buildLayer((src) => writeFileSync(join(src, 'a'), 'a'));
    rmSync(full.diffDir, { recursive: true });
    await assert.rejects(processLayer(full.task(null)), (e: unknown) => e instanceof LayerError && e.code === 'E_LAYER_DIFF_MISSING' && /missing file a/.test(e.message));
  });

  test('outDir null writes nothing', async () => {
    const layer = buildLayer((src) => writeFileSync(join(src, 'a'), 'a'));
    const before = readdirSync(layer.root).sort();
    await processLayer(layer.task(null, { algorithm: 'gzip' }));
    assert.deepEqual(readdirSync(layer.root).sort(), before);
    assert.ok(!existsSync(join(layer.root, 'blobs')));
  });
});

describe('deferred commit (the export leaves fsync and rename to its main thread)', { skip: TOOLS }, () => {
  test('the blob comes back sealed: written and checked in its temp file, in place only after commitSealedBlob', async () => {
    for (const compression of [{ algorithm: 'none' }, { algorithm: 'gzip', level: 1 }] as CompressionSpec[]) {
      const layer = buildLayer((src) => {
        writeFileSync(join(src, 'a'), 'a'.repeat(5000));
        writeFileSync(join(src, 'b'), 'b');
      });
      const out = join(layer.root, `out-${compression.algorithm}`);
      const r = await processLayer(layer.task(out, compression, { deferCommit: true }));
      assert.equal(r.diffID, sha(layer.tar));
      assert.ok(r.sealed, 'a sealed blob');
      const finalPath = join(out, 'blobs', 'sha256', r.digest.slice(7));
      assert.equal(r.sealed.finalPath, finalPath);
      assert.ok(!existsSync(finalPath), 'not in place before the commit');
      assert.equal(sha(readFileSync(r.sealed.tempPath)), r.digest, 'the temp file holds the checked bytes');
      await commitSealedBlob(r.sealed);
      assert.equal(sha(readFileSync(finalPath)), r.digest);
      assert.deepEqual(readdirSync(join(out, 'blobs', 'sha256')), [r.digest.slice(7)], 'no temp left');
      // closed: the number names no file, or (reused by now) another one than the blob
      let target: string | null = null;
      try {
        target = readlinkSync(`/proc/self/fd/${r.sealed.fd}`);
      } catch {
        /* not open */
      }
      assert.ok(target === null || (!target.startsWith(r.sealed.tempPath) && !target.startsWith(finalPath)), 'the commit closed the descriptor');

      // the same layer again: the blob is there, so it is reused and nothing is left to commit
      const again = await processLayer(layer.task(out, compression, { deferCommit: true }));
      assert.equal(again.reused, true);
      assert.equal(again.sealed, undefined);
      assert.deepEqual(readdirSync(join(out, 'blobs', 'sha256')), [r.digest.slice(7)]);
    }
  });

  test('without deferCommit the blob is committed by the worker, as before', async () => {
    const layer = buildLayer((src) => writeFileSync(join(src, 'a'), 'a'));
    const out = join(layer.root, 'out');
    const r = await processLayer(layer.task(out));
    assert.equal(r.sealed, undefined);
    assert.equal(sha(readFileSync(join(out, 'blobs', 'sha256', r.digest.slice(7)))), r.digest);
  });
});

describe('the real Docker 1.x root (google/docker-explorer aufs.v1)', { skip: needShared('fixtures/real/docker-explorer-aufs.v1.tgz') || needTools('tar') }, () => {
  test('busybox base layer and the empty top layer replay to the published diffIDs', async () => {
    const dir = join(work, 'real');
    mkdirSync(dir);
    run('tar', ['-xzf', join(SHARED_DIR, 'fixtures/real/docker-explorer-aufs.v1.tgz'), '--no-same-owner', '-C', dir]);
    const root = join(dir, 'docker');
    const expected: Record<string, string> = {
      df557f39d413a1408f5c28d8aab2892f927237ec22e903ef04b331305130ab38: 'sha256:23bc2b70b2014dec0ac22f27bb93e9babd08cdd6f1115d0c955b9ff22b382f5a',
      '1cee97b18f87b5fa91633db35f587e2c65c093facfa2cbbe83d5ebe06e1d9125': 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef',
    };
    for (const [id, diffID] of Object.entries(expected)) {
      const task: LayerTask = { root, id, diffDir: join(root, 'aufs', 'diff', id), tarDataPath: join(root, 'graph', id, 'tar-data.json.gz'), driver: 'aufs', outDir: join(dir, 'out'), compression: { algorithm: 'gzip', level: 6 } };
      const r = await processLayer(task);
      assert.deepEqual([r.source, r.diffID, r.warnings], ['tar-split', diffID, []], id);
      assert.equal(sha(gunzipSync(readFileSync(join(dir, 'out', 'blobs', 'sha256', r.digest.slice(7))))), diffID);
    }
  });
});
