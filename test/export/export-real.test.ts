// The real Docker 1.x root (../shared/fixtures/real): published diffIDs, and umoci's merged rootfs
// equal to GNU tar's extraction of the tar that `tar-split asm` rebuilds from the same files.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, readFileSync } from 'node:fs';
import { cli, cliJson } from '../helpers/cli.js';
import { needShared, needTools, run } from '../helpers/env.js';
import { cleanupHosts, layoutFingerprint, tempDir } from '../helpers/layouts.js';
import { realRoot, REAL, REAL_TGZ } from '../helpers/real-root.js';
import { readTree, diffTrees } from '../helpers/merged-tree.js';
import { treeHash } from '../helpers/tree-hash.js';

after(cleanupHosts);
const skip = needShared(REAL_TGZ) || needTools('tar-split', 'umoci', 'skopeo', 'oci-image-tool', 'zstd');

test('real root: busybox diffIDs are the published ones; umoci rootfs = tar-split asm + GNU tar', { skip }, () => {
  const root = realRoot();
  const before = treeHash(root);
  const out = join(tempDir('real'), 'layout');
  const { status, json } = cliJson(['export', 'busybox:latest', out, '--root', root]);
  assert.equal(status, 0);
  const img = json.images[0];
  assert.deepEqual(img.layers.map((l: any) => l.diffID), [REAL.baseDiffID, REAL.emptyDiffID]);
  assert.ok(img.layers.every((l: any) => l.source === 'tar-split'));
  assert.equal(img.configDigest, img.dockerImageID, 'top json already makes a valid OCI config');
  assert.equal(treeHash(root), before);

  // expected tree: the original layer tars rebuilt by tar-split itself, applied by GNU tar
  const work = tempDir('real-expected');
  const expected = join(work, 'rootfs');
  mkdirSync(expected);
  for (const id of [REAL.busyboxBase, REAL.busyboxTop]) {
    const tarPath = join(work, `${id}.tar`);
    run('tar-split', ['asm', '--input', join(root, 'graph', id, 'tar-data.json.gz'), '--path', join(root, 'aufs', 'diff', id), '--output', tarPath]);
    run('tar', ['-xpf', tarPath, '-C', expected, '--numeric-owner']);
  }
  const bundle = join(work, 'bundle');
  run('umoci', ['unpack', '--image', `${out}:busybox:latest`, bundle]);
  assert.deepEqual(diffTrees(readTree(expected), readTree(join(bundle, 'rootfs'))), []);
  run('oci-image-tool', ['validate', '--type', 'image', '--ref', 'name=busybox:latest', out]);
  assert.equal(cli(['validate', out]).status, 0);
});

test('real root: zstd layout converts with skopeo and unpacks with umoci', { skip }, () => {
  const root = realRoot();
  const work = tempDir('real-zstd');
  const out = join(work, 'zstd');
  const r = cliJson(['export', 'busybox', out, '--root', root, '--compress', 'zstd:3']);
  assert.equal(r.status, 0);
  assert.ok(r.json.images[0].layers.every((l: any) => l.mediaType === 'application/vnd.oci.image.layer.v1.tar+zstd'));
  assert.deepEqual(r.json.images[0].layers.map((l: any) => l.diffID), [REAL.baseDiffID, REAL.emptyDiffID]);
  assert.equal(cli(['validate', out]).status, 0);
  run('skopeo', ['copy', '-q', '--dest-compress-format', 'gzip', '--dest-compress', `oci:${out}:busybox:latest`, `oci:${join(work, 'gz')}:busybox:latest`]);
  run('umoci', ['unpack', '--image', `${join(work, 'gz')}:busybox:latest`, join(work, 'bundle')]);
  assert.ok(readFileSync(join(work, 'bundle', 'rootfs', 'bin', 'busybox')).length > 100_000);
});

test('real root: .tar output with --docker-save is an oci-archive and a docker-archive', { skip }, () => {
  const root = realRoot();
  const work = tempDir('real-tar');
  const tarPath = join(work, 'busybox.tar');
  const r = cli(['export', 'busybox', tarPath, '--root', root, '--docker-save', '--quiet']);
  assert.equal(r.status, 0, r.stderr);
  const names = run('tar', ['-tf', tarPath]).toString().trim().split('\n');
  assert.deepEqual(names.slice(0, 4), ['oci-layout', 'index.json', 'manifest.json', 'repositories']);
  run('skopeo', ['inspect', `oci-archive:${tarPath}:busybox:latest`]);
  // docker-archive reads manifest.json and checks every layer's diffID against the config
  run('skopeo', ['copy', '-q', `docker-archive:${tarPath}`, `dir:${join(work, 'dir')}`]);
  const manifest = JSON.parse(readFileSync(join(work, 'dir', 'manifest.json'), 'utf8'));
  assert.equal(manifest.layers.length, 2);
  // the same archive again, byte for byte
  const tar2 = join(work, 'again.tar');
  assert.equal(cli(['export', 'busybox', tar2, '--root', root, '--docker-save', '--quiet']).status, 0);
  assert.equal(run('sha256sum', [tarPath]).toString().split(' ')[0], run('sha256sum', [tar2]).toString().split(' ')[0]);
});

test('real root: exporting into an existing layout adds to it and reuses blobs; reruns are byte-identical', { skip }, () => {
  const root = realRoot();
  const out = join(tempDir('real-add'), 'layout');
  assert.equal(cli(['export', 'busybox', out, '--root', root, '--quiet']).status, 0);
  const first = layoutFingerprint(out);
  const r = cliJson(['export', REAL.busyboxBase, out, '--root', root, '--name', 'busybox:base']);
  assert.equal(r.status, 0);
  assert.equal(r.json.totals.layersReused, 1);
  const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
  assert.deepEqual(index.manifests.map((m: any) => m.annotations['org.opencontainers.image.ref.name']), ['busybox:base', 'busybox:latest']);
  // a rerun of the first export changes nothing but keeps the second name
  assert.equal(cli(['export', 'busybox', out, '--root', root, '--quiet']).status, 0);
  const after2 = layoutFingerprint(out);
  for (const [k, v] of Object.entries(first)) if (k !== './index.json') assert.equal(after2[k], v, k);
  assert.equal(cli(['validate', out]).status, 0);
});

test('real root: --dry-run prints the plan and writes nothing', { skip }, () => {
  const root = realRoot();
  const out = join(tempDir('real-dry'), 'layout');
  const r = cliJson(['export', 'busybox', out, '--root', root, '--dry-run']);
  assert.equal(r.status, 0);
  assert.equal(r.json.dryRun, true);
  assert.equal(r.json.plan.uniqueLayers, 2);
  assert.ok(r.json.plan.bytesToRead > 1_000_000);
  assert.throws(() => readFileSync(join(out, 'index.json')));
  const text = cli(['export', 'busybox', out, '--root', root, '--dry-run']);
  assert.match(text.stdout, /unique layers\s+2/);
});

test('two exports into one layout at the same time both land', { skip }, async () => {
  const root = realRoot();
  const out = join(tempDir('real-conc'), 'layout');
  const { spawn } = await import('node:child_process');
  const runOne = (args: string[]) => new Promise<number>((resolve) => {
    const p = spawn(process.execPath, [join(process.cwd(), 'bin', 'legacy2oci.js'), ...args], { stdio: 'ignore' });
    p.on('exit', (code) => resolve(code ?? -1));
  });
  const codes = await Promise.all([
    runOne(['export', 'busybox', out, '--root', root, '--quiet', '--name', 'a/one:1']),
    runOne(['export', 'busybox', out, '--root', root, '--quiet', '--name', 'a/two:2']),
    runOne(['export', REAL.busyboxBase, out, '--root', root, '--quiet', '--name', 'a/three:3']),
  ]);
  assert.deepEqual(codes, [0, 0, 0]);
  const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
  assert.deepEqual(index.manifests.map((m: any) => m.annotations['org.opencontainers.image.ref.name']), ['a/one:1', 'a/three:3', 'a/two:2']);
  assert.equal(cli(['validate', out]).status, 0);
});

test('export usage errors exit 2 and unknown refs exit 1', { skip }, () => {
  const root = realRoot();
  const out = join(tempDir('real-usage'), 'layout');
  assert.equal(cli(['export', 'busybox', '--root', root]).status, 2);
  assert.equal(cli(['export', 'busybox', REAL.busyboxBase, out, '--name', 'x:1', '--root', root]).status, 2);
  assert.equal(cli(['export', 'busybox', out, '--compress', 'lz4', '--root', root]).status, 2);
  assert.equal(cli(['export', 'busybox', out, '--jobs', '0', '--root', root]).status, 2);
  const nf = cliJson(['export', 'busybox', 'nope:1', out, '--root', root]);
  assert.equal(nf.status, 1);
  assert.equal(nf.json.images.length, 1);
  assert.equal(nf.json.failed[0].code, 'E_REF_NOT_FOUND');
});
