// Legacy graph roots of the drivers without native diffs (vfs, btrfs, overlay v1), made from the
// fixture hosts by cp + GNU tar (test/helpers/driver-fixtures.ts). Guards: tar-split data replays
// byte-exact from each layer's full tree (diffID == sha256 of the GNU-tar original, config digest
// == Docker 1.10 image id); without tar-split data the naive diff (deletions → whiteouts, changed
// metadata caught, dir↔file swaps) gives umoci a rootfs equal to the tree the spec describes;
// overlay v1 upper/ layers convert 0:0 char devices and opaque xattrs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { cliJson } from '../helpers/cli.js';
import { needTools, run } from '../helpers/env.js';
import { buildHost, cleanupHosts, tempDir, type FixtureHost } from '../helpers/layouts.js';
import { diffTrees, expectedMergedTree, readTree } from '../helpers/merged-tree.js';
import { treeHash } from '../helpers/tree-hash.js';
import { buildDriverRoot, type NaiveDriver } from '../helpers/driver-fixtures.js';

const skip = needTools('tar-split', 'umoci') || (process.getuid?.() === 0 ? false : 'needs root (devices, owners, trusted.* xattrs)');
after(cleanupHosts);

function tagRefs(h: FixtureHost): string[] {
  return Object.keys(h.built.tags).filter((r) => !r.includes('@')).sort();
}

/** Export every tag of `root`, unpack each with umoci, compare with the spec's merged tree. */
function exportAndCompare(h: FixtureHost, root: string, label: string): any {
  const before = treeHash(root);
  const out = join(tempDir(`out-${label}`), 'layout');
  const r = cliJson(['export', ...tagRefs(h), out, '--root', root]);
  assert.equal(r.status, 0, r.stderr + JSON.stringify(r.json.failed));
  assert.equal(treeHash(root), before, 'export wrote into the root');
  for (const img of r.json.images) {
    for (const ref of img.refs) {
      const bundle = join(tempDir(`bundle-${label}`), 'b');
      run('umoci', ['unpack', '--image', `${out}:${ref}`, bundle]);
      assert.deepEqual(diffTrees(expectedMergedTree(h.spec, img.legacyId), readTree(join(bundle, 'rootfs'))), [], `${label} ${ref}: merged tree`);
    }
  }
  return r.json;
}

for (const hostFile of ['hosts/whiteouts.json', 'hosts/formats.json']) {
  describe(`legacy drivers: ${hostFile}`, { skip }, () => {
    let h: FixtureHost;
    before(() => { h = buildHost(hostFile); });

    for (const driver of ['vfs', 'btrfs', 'overlay'] as NaiveDriver[]) {
      test(`${driver}: tar-split replays byte-exact from full trees; merged trees right`, () => {
        const root = buildDriverRoot(h.spec, h.built, driver, join(tempDir(driver), 'docker'));
        const ls = cliJson(['ls', '--root', root]);
        assert.equal(ls.status, 0, ls.stderr);
        assert.equal(ls.json.driver, driver);
        const report = exportAndCompare(h, root, driver);
        for (const img of report.images) {
          for (const l of img.layers) {
            const built = h.built.layers[l.legacyId]!;
            if (built.tarData) {
              assert.equal(l.source, 'tar-split', `${driver} layer ${l.legacyId.slice(0, 12)}: ${l.reason}`);
              assert.equal(l.diffID, built.diffID, `${driver} layer ${l.legacyId.slice(0, 12)} diffID`);
            } else assert.equal(l.source, 'regenerated');
          }
          if (img.layers.every((l: any) => l.source === 'tar-split') && img.configFixes.length === 0) assert.equal(img.configDigest, img.dockerImageID);
        }
      });

      test(`${driver}: without tar-split data the naive diff gives the same merged trees, deterministically`, () => {
        const root = buildDriverRoot(h.spec, h.built, driver, join(tempDir(`${driver}-naive`), 'docker'), { dropTarData: true });
        const report = exportAndCompare(h, root, `${driver}-naive`);
        assert.ok(report.images.length > 0);
        for (const img of report.images) for (const l of img.layers) assert.equal(l.source, 'regenerated');
        const again = cliJson(['export', ...tagRefs(h), join(tempDir('again'), 'layout'), '--root', root, '--jobs', '1']);
        const ids = (rep: any) => rep.images.map((i: any) => [i.refs, i.configDigest, i.layers.map((l: any) => l.diffID)]);
        assert.deepEqual(ids(again.json), ids(report));
      });
    }

    if (hostFile === 'hosts/whiteouts.json') {
      test('overlay v1: leaf layers kept as upper/ + lower-id (kernel whiteouts, opaque xattr) export right', () => {
        const leaves = h.spec.layers.filter((l) => l.parent && !h.spec.layers.some((c) => c.parent === l.id)).map((l) => l.id);
        assert.ok(leaves.length >= 2);
        for (const dropTarData of [false, true]) {
          const root = buildDriverRoot(h.spec, h.built, 'overlay', join(tempDir('overlay-upper'), 'docker'), { overlayUpper: leaves, dropTarData });
          const report = exportAndCompare(h, root, `overlay-upper-${dropTarData}`);
          const leafLayers = report.images.flatMap((i: any) => i.layers).filter((l: any) => leaves.includes(l.legacyId));
          assert.ok(leafLayers.length >= 2);
          if (!dropTarData) for (const l of leafLayers) assert.equal(l.diffID, h.built.layers[l.legacyId]!.diffID);
        }
      });
    }
  });
}
