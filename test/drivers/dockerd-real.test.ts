// Docker 1.10+ roots made by a real dockerd (20.10), vfs and overlay2: images built with
// `docker import` (a GNU tar with a file capability and hard links) and DOCKER_BUILDKIT=0
// `docker build` (COPY, RUN deletes → whiteouts, a dir removed and made again → opaque dir,
// ENV/LABEL empty layers). The daemon is stopped, then the stopped root is exported.
// Guards: config digest == `docker images --no-trunc` ID, every diffID == `docker inspect`
// RootFS.Layers (tar-split replay), umoci's rootfs has what Docker put there, regenerated layers
// (tar-split removed from a copy) give the same merged tree, and `docker load` of our
// --docker-save output into a fresh daemon gives the same image IDs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, linkSync, mkdirSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { getAttributeSync } from '@napi-rs/xattr';
import { run } from '../helpers/env.js';
import { cliJson, cli } from '../helpers/cli.js';
import { tempDir, cleanupHosts, readJson } from '../helpers/layouts.js';
import { diffTrees, readTree } from '../helpers/merged-tree.js';
import { BUSYBOX, imageFacts, needDockerd, startSandbox, type Sandbox } from '../helpers/dockerd.js';

const skip = needDockerd() || (process.getuid?.() === 0 ? false : 'needs root');
const REFS = ['l2o/base:1', 'l2o/app:1', 'l2o/app:alias', 'l2o/scratch:1'];

interface Built { sb: Sandbox; facts: Map<string, { id: string; diffIDs: string[] }>; work: string }

/** Build the images of this file in a fresh daemon, record Docker's ids, stop the daemon. */
function buildRoot(driver: 'vfs' | 'overlay2' | 'overlay'): Built {
  const work = tempDir(`ctx-${driver}`);
  const sb = startSandbox(driver);
  try {
    // base: GNU tar → docker import (keeps security.capability; COPY would drop it)
    const st = join(work, 'base');
    for (const d of ['bin', 'etc', 'd/sub', 'opq/sub', 'hl']) mkdirSync(join(st, d), { recursive: true });
    copyFileSync(BUSYBOX, join(st, 'bin', 'busybox'));
    writeFileSync(join(st, 'bin', 'cap'), 'pretend program\n');
    run('setcap', ['cap_net_raw+ep', join(st, 'bin', 'cap')]);
    writeFileSync(join(st, 'etc', 'conf'), 'conf\n');
    writeFileSync(join(st, 'd', 'a'), 'a\n');
    writeFileSync(join(st, 'd', 'sub', 'b'), 'b\n');
    writeFileSync(join(st, 'opq', 'old1'), 'old\n');
    writeFileSync(join(st, 'opq', 'sub', 'old2'), 'old\n');
    writeFileSync(join(st, 'hl', 'x'), 'linked\n');
    linkSync(join(st, 'hl', 'x'), join(st, 'hl', 'y'));
    symlinkSync('../d/a', join(st, 'hl', 'sym'));
    chmodSync(join(st, 'd'), 0o750);
    run('tar', ['--xattrs', '--xattrs-include=security.capability', '--numeric-owner', '-C', st, '-cf', join(work, 'base.tar'), '.']);
    sb.docker(['import', join(work, 'base.tar'), 'l2o/base:1']);

    // app: COPY (hard links kept), RUN deletes and an opaque dir, empty layers
    const ctx = join(work, 'app');
    mkdirSync(join(ctx, 'files', 'deep'), { recursive: true });
    writeFileSync(join(ctx, 'files', 'one'), '1\n');
    writeFileSync(join(ctx, 'files', 'deep', 'two'), '2'.repeat(3000));
    linkSync(join(ctx, 'files', 'one'), join(ctx, 'files', 'one-hl'));
    const sh = (cmd: string) => `RUN ["/bin/busybox", "sh", "-c", ${JSON.stringify(cmd.replace(/\bbb\b/g, '/bin/busybox'))}]`;
    writeFileSync(join(ctx, 'Dockerfile'), [
      'FROM l2o/base:1',
      'COPY files /files',
      sh('bb rm -rf /d/sub /etc/conf /opq && bb mkdir -p /opq/sub && echo new > /opq/n && bb ln /files/deep/two /files/two-hl && bb chmod 0700 /files/deep'),
      'ENV A=1',
      'LABEL l=v',
      sh('bb touch -d 2001-01-01 /d/a && bb chmod 0604 /d/a && bb chmod 0755 /d && bb chown 7:8 /files/deep/two'),
      '',
    ].join('\n'));
    sb.docker(['build', '-q', '--network=none', '-t', 'l2o/app:1', ctx]);
    sb.docker(['tag', 'l2o/app:1', 'l2o/app:alias']);

    const scratch = join(work, 'scratch');
    mkdirSync(join(scratch, 'etc'), { recursive: true });
    writeFileSync(join(scratch, 'etc', 'hello'), 'hello\n');
    writeFileSync(join(scratch, 'Dockerfile'), 'FROM scratch\nCOPY etc /etc\nCMD ["/hello"]\n');
    sb.docker(['build', '-q', '--network=none', '-t', 'l2o/scratch:1', scratch]);

    const facts = new Map(REFS.map((r) => [r, imageFacts(sb, r)]));
    // Docker's own merged view of the app image, as a reference tree (a container's export)
    sb.docker(['create', '--network', 'none', '--name', 'ref', 'l2o/app:1', '/bin/busybox', 'true']);
    sb.docker(['export', '-o', join(work, 'app-export.tar'), 'ref']);
    mkdirSync(join(work, 'app-export'));
    run('tar', ['--xattrs', '--xattrs-include=security.capability', '--numeric-owner', '-xpf', join(work, 'app-export.tar'), '-C', join(work, 'app-export')]);
    return { sb, facts, work };
  } catch (err) {
    sb.remove();
    throw err;
  } finally {
    sb.stop();
  }
}

function unpack(layout: string, ref: string, dest: string): string {
  run('umoci', ['unpack', '--image', `${layout}:${ref}`, dest]);
  return join(dest, 'rootfs');
}

for (const driver of ['overlay2', 'vfs', 'overlay'] as const) {
  describe(`real dockerd root (${driver})`, { skip }, () => {
    let b: Built;
    before(() => { b = buildRoot(driver); });
    after(() => { b?.sb.remove(); cleanupHosts(); });

    test('ls lists every tag with Docker\'s image ids, from the 1.10+ store', () => {
      const r = cliJson(['ls', '--root', b.sb.root]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.json.driver, driver);
      for (const ref of REFS) {
        const row = r.json.images.find((i: any) => i.repoTags.includes(ref));
        assert.ok(row, `${ref} listed`);
        assert.equal(`sha256:${row.id}`, b.facts.get(ref)!.id);
        assert.equal(row.store, 'image-store');
        assert.equal(row.status, 'ok', JSON.stringify(row.problems));
      }
      const ins = cliJson(['inspect', 'l2o/app:1', '--root', b.sb.root]);
      assert.equal(ins.status, 0, ins.stderr);
      assert.equal(ins.json.layers.length, b.facts.get('l2o/app:1')!.diffIDs.length);
      assert.deepEqual(ins.json.layers.map((l: any) => l.diffID), b.facts.get('l2o/app:1')!.diffIDs);
    });

    test('export: config digest == image id, every diffID == Docker\'s, layers replayed from tar-split', () => {
      const out = join(tempDir(`out-${driver}`), 'layout');
      const r = cliJson(['export', ...REFS, out, '--root', b.sb.root]);
      assert.equal(r.status, 0, r.stderr);
      let images = 0;
      let layers = 0;
      for (const ref of REFS) {
        const img = r.json.images.find((i: any) => i.refs.includes(ref));
        const f = b.facts.get(ref)!;
        assert.ok(img, ref);
        assert.equal(img.configDigest, f.id, `${ref}: config digest`);
        assert.equal(img.dockerImageID, f.id);
        assert.deepEqual(img.configFixes, []);
        assert.deepEqual(img.layers.map((l: any) => l.diffID), f.diffIDs, `${ref}: diffIDs`);
        for (const l of img.layers) assert.equal(l.source, 'tar-split', `${ref} layer ${l.legacyId}: ${l.reason}`);
        images++;
        layers += img.layers.length;
      }
      assert.equal(images, 4);
      assert.ok(layers >= 8);
      run('skopeo', ['inspect', `oci:${out}:l2o/app:1`]);

      // umoci's rootfs has what Docker put there
      const rootfs = unpack(out, 'l2o/app:1', join(tempDir(`bundle-${driver}`), 'b'));
      const names = (d: string) => readdirSync(join(rootfs, d)).sort();
      assert.deepEqual(names('d'), ['a'], 'd/sub deleted (whiteout)');
      assert.deepEqual(names('etc'), [], 'etc/conf deleted');
      assert.deepEqual(names('opq'), ['n', 'sub'], 'opq recreated: old1 hidden (opaque)');
      assert.deepEqual(names('opq/sub'), [], 'opq/sub/old2 hidden (opaque)');
      assert.equal(statSync(join(rootfs, 'hl/x')).ino, statSync(join(rootfs, 'hl/y')).ino, 'hard link from the imported tar');
      assert.equal(statSync(join(rootfs, 'files/one')).ino, statSync(join(rootfs, 'files/one-hl')).ino, 'hard link from COPY');
      const cap = getAttributeSync(join(rootfs, 'bin/cap'), 'security.capability');
      assert.ok(cap && cap.length > 0, 'security.capability kept');
      // the whole tree equals Docker's own view of the image (`docker export` of a container),
      // less what the container's init layer adds
      const initOnly = new Set(['.dockerenv', 'dev', 'proc', 'sys', 'etc/hostname', 'etc/hosts', 'etc/resolv.conf', 'etc/mtab']);
      const dockerView = readTree(join(b.work, 'app-export'), { xattrNames: ['security.capability'] })
        .filter((e) => !initOnly.has(e.path) && !/^(dev|proc|sys)\//.test(e.path));
      assert.deepEqual(diffTrees(dockerView, readTree(rootfs, { xattrNames: ['security.capability'] })), []);
    });

    test('check: every layer byte-exact, image IDs and diffIDs Docker\'s, nothing written', () => {
      const r = cliJson(['check', ...REFS, '--root', b.sb.root, '--json']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.json.ok, true);
      assert.equal(r.json.totals.corrupt, 0);
      for (const ref of REFS) {
        const img = r.json.images.find((i: any) => i.refs.includes(ref));
        assert.ok(img, ref);
        assert.equal(img.dockerImageID, b.facts.get(ref)!.id, `${ref}: image ID`);
        assert.deepEqual(img.diffIDs, b.facts.get(ref)!.diffIDs, `${ref}: diffIDs`);
        assert.equal(img.status, 'ok');
      }
    });

    test('regenerated layers (tar-split removed in a copy) give the same merged tree; the config follows their diffIDs', () => {
      const dir = tempDir(`copy-${driver}`);
      const copy = join(dir, 'root');
      run('cp', ['-a', b.sb.root, copy]);
      const layerdb = join(copy, 'image', driver, 'layerdb', 'sha256');
      // also the optional `parent` files: a naive-diff layer (vfs) must still be diffed against
      // the parent the config's chain names, or its deletions would be lost
      for (const c of readdirSync(layerdb)) for (const f of ['tar-split.json.gz', 'parent']) rmSync(join(layerdb, c, f), { force: true });
      const outA = join(dir, 'a');
      const outB = join(dir, 'b');
      assert.equal(cli(['export', 'l2o/app:1', outA, '--root', b.sb.root]).status, 0);
      const r = cliJson(['export', 'l2o/app:1', outB, '--root', copy]);
      assert.equal(r.status, 0, r.stderr);
      const img = r.json.images[0];
      assert.ok(img.layers.every((l: any) => l.source === 'regenerated'));
      assert.equal(img.dockerImageID, b.facts.get('l2o/app:1')!.id, 'the Docker id is still reported');
      assert.match(img.configFixes.join(';'), /rootfs\.diff_ids/);
      const opts = { xattrNames: ['security.capability'] };
      const expected = readTree(unpack(outA, 'l2o/app:1', join(dir, 'ua')), opts);
      const actual = readTree(unpack(outB, 'l2o/app:1', join(dir, 'ub')), opts);
      assert.deepEqual(diffTrees(expected, actual), []);
      // and run twice, byte-identical (deterministic regeneration)
      const again = cliJson(['export', 'l2o/app:1', join(dir, 'c'), '--root', copy]);
      assert.deepEqual(again.json.images[0].layers.map((l: any) => l.diffID), img.layers.map((l: any) => l.diffID));
    });

    if (driver === 'vfs') {
      test('btrfs layout (the same full trees under btrfs/subvolumes, image/btrfs): the same ids', () => {
        const dir = tempDir('btrfs');
        const copy = join(dir, 'root');
        run('cp', ['-a', b.sb.root, copy]);
        mkdirSync(join(copy, 'btrfs'));
        run('mv', [join(copy, 'vfs', 'dir'), join(copy, 'btrfs', 'subvolumes')]);
        run('mv', [join(copy, 'image', 'vfs'), join(copy, 'image', 'btrfs')]);
        rmSync(join(copy, 'vfs'), { recursive: true });
        const r = cliJson(['export', 'l2o/app:1', join(dir, 'out'), '--root', copy]);
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.json.images[0].configDigest, b.facts.get('l2o/app:1')!.id);
        assert.deepEqual(r.json.images[0].layers.map((l: any) => l.diffID), b.facts.get('l2o/app:1')!.diffIDs);
      });
    }

    if (driver === 'overlay2') {
      test('migrate: a 1.10+ root migrates like an export (ids and diffIDs Docker\'s)', () => {
        const dir = tempDir('migrate');
        writeFileSync(join(dir, 'migrate.toml'), `output = "out"\njobs = 2\n[[host]]\nname = "h"\nroot = ${JSON.stringify(b.sb.root)}\nimages = "tagged"\n`);
        const r = cliJson(['migrate', join(dir, 'migrate.toml')]);
        assert.equal(r.status, 0, r.stderr);
        const report = readJson(join(dir, 'out', 'migrate-report.json'));
        const imgs = report.hosts[0].images.filter((i: any) => i.status === 'exported');
        assert.equal(imgs.length, 3, 'three images (app has two tags)');
        for (const ref of REFS) {
          const img = imgs.find((i: any) => i.refs.includes(ref));
          assert.ok(img, ref);
          assert.equal(img.configDigest, b.facts.get(ref)!.id);
        }
      });

      test('round trip: docker load of our --docker-save archive gives the same image ids', () => {
        const dir = tempDir('roundtrip');
        const tar = join(dir, 'images.tar');
        const r = cliJson(['export', ...REFS, tar, '--root', b.sb.root, '--docker-save']);
        assert.equal(r.status, 0, r.stderr);
        const fresh = startSandbox('vfs', 'load');
        try {
          fresh.docker(['load', '-i', tar]);
          for (const ref of REFS) assert.deepEqual(imageFacts(fresh, ref), b.facts.get(ref), ref);
        } finally {
          fresh.remove();
        }
      });
    }
  });
}
