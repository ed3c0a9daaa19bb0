// Legacy (pre-1.10) roots of the drivers without native diffs, made from a host the fixture
// builder built (graph/ + GNU-tar-made original layer tars + tar-split data):
//   vfs      vfs/dir/<id>             the layer's full tree, a copy of the parent's (cp -a)
//   btrfs    btrfs/subvolumes/<id>    the same layout (plain dirs here: no btrfs on CI machines)
//   overlay  overlay/<id>/root        the full tree, files hard-linked to the parent's (cp -al), as
//                                     Docker's overlay ApplyDiff did; or, for a leaf layer named in
//                                     `overlayUpper`, overlay/<id>/upper + lower-id with kernel-style
//                                     whiteouts (0:0 char devices, trusted.overlay.opaque=y)
// Each layer is applied the way Docker's UnpackLayer did: whiteouts delete what they name,
// opaque markers empty their dir first, then GNU tar extracts the layer's original tar (the
// markers themselves excluded). graph/ and tar-data.json.gz are copied as they are.
// No code under test is used: cp, GNU tar, mknod and setxattr write everything.
import { copyFileSync, lstatSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setAttributeSync } from '@napi-rs/xattr';
import { run } from './env.js';
import type { BuiltHost, HostSpec } from './fixture-builder.js';

export type NaiveDriver = 'vfs' | 'btrfs' | 'overlay';

export interface DriverRootOptions {
  /** overlay only: leaf layers kept as upper/ + lower-id instead of a full root/ */
  overlayUpper?: string[];
  /** drop every graph/<id>/tar-data.json.gz: every layer is then regenerated (naive diff) */
  dropTarData?: boolean;
}

/** The dir Docker kept a layer's full tree in. */
export function treeDir(root: string, driver: NaiveDriver, id: string): string {
  if (driver === 'vfs') return join(root, 'vfs', 'dir', id);
  if (driver === 'btrfs') return join(root, 'btrfs', 'subvolumes', id);
  return join(root, 'overlay', id, 'root');
}

const WH = '.wh.';
const OPQ = '.wh..wh..opq';

/** Whiteouts and opaque markers a layer tar holds: [dir, name] pairs (dir '' = the layer root). */
function markers(tarPath: string): { whiteouts: Array<[string, string]>; opaque: string[]; entries: Array<{ name: string; dir: boolean }> } {
  const names = run('tar', ['--quoting-style=literal', '-tf', tarPath]).toString('utf8').split('\n').filter(Boolean);
  const whiteouts: Array<[string, string]> = [];
  const opaque: string[] = [];
  const entries: Array<{ name: string; dir: boolean }> = [];
  for (const raw of names) {
    const n = raw.replace(/^\.\//, '').replace(/\/$/, '');
    if (n === '' || n === '.') continue;
    entries.push({ name: n, dir: raw.endsWith('/') });
    const slash = n.lastIndexOf('/');
    const dir = slash < 0 ? '' : n.slice(0, slash);
    const base = n.slice(slash + 1);
    if (base === OPQ) opaque.push(dir);
    else if (base.startsWith(WH) && !base.startsWith('.wh..wh.')) whiteouts.push([dir, base.slice(WH.length)]);
  }
  return { whiteouts, opaque, entries };
}

function extract(tarPath: string, dest: string): void {
  run('tar', ['-xpf', tarPath, '-C', dest, '--numeric-owner', '--xattrs', '--xattrs-include=*', '--exclude=.wh.*']);
}

/** Apply one layer tar onto a full tree, as Docker's UnpackLayer did. */
function applyOnto(tree: string, tarPath: string): void {
  const { whiteouts, opaque, entries } = markers(tarPath);
  for (const dir of opaque) {
    const d = join(tree, dir);
    let kids: string[] = [];
    try { kids = readdirSync(d); } catch { /* not there below: nothing to hide */ }
    for (const k of kids) rmSync(join(d, k), { recursive: true, force: true });
  }
  for (const [dir, name] of whiteouts) rmSync(join(tree, dir, name), { recursive: true, force: true });
  // an entry replaces what is there unless both are directories (UnpackLayer's RemoveAll)
  for (const e of entries) {
    const st = lstatSync(join(tree, e.name), { throwIfNoEntry: false });
    if (st && st.isDirectory() !== e.dir) rmSync(join(tree, e.name), { recursive: true, force: true });
  }
  extract(tarPath, tree);
}

/** overlay upper/: the layer's own files, whiteouts as 0:0 char devices, opaque dirs by xattr. */
function makeUpper(upper: string, tarPath: string): void {
  mkdirSync(upper, { recursive: true });
  extract(tarPath, upper);
  const { whiteouts, opaque } = markers(tarPath);
  for (const [dir, name] of whiteouts) {
    mkdirSync(join(upper, dir), { recursive: true });
    run('mknod', [join(upper, dir, name), 'c', '0', '0']);
  }
  for (const dir of opaque) {
    mkdirSync(join(upper, dir), { recursive: true });
    setAttributeSync(join(upper, dir), 'trusted.overlay.opaque', Buffer.from('y'));
  }
}

/**
 * A `driver` root at `rootDir` holding the same images as `built` (an aufs root from
 * buildLegacyRoot with `spec`). Needs root (ownership, devices, trusted.* xattrs).
 */
export function buildDriverRoot(spec: HostSpec, built: BuiltHost, driver: NaiveDriver, rootDir: string, opts: DriverRootOptions = {}): string {
  mkdirSync(rootDir, { recursive: true });
  run('cp', ['-a', join(built.root, 'graph'), join(rootDir, 'graph')]);
  copyFileSync(join(built.root, 'repositories-aufs'), join(rootDir, `repositories-${driver}`));
  if (opts.dropTarData) {
    for (const id of readdirSync(join(rootDir, 'graph'))) rmSync(join(rootDir, 'graph', id, 'tar-data.json.gz'), { force: true });
  }
  const upper = new Set(opts.overlayUpper ?? []);
  for (const layer of spec.layers) {
    const tarPath = built.layers[layer.id]!.tarPath;
    if (driver === 'overlay' && upper.has(layer.id) && layer.parent) {
      const dir = join(rootDir, 'overlay', layer.id);
      makeUpper(join(dir, 'upper'), tarPath);
      mkdirSync(join(dir, 'work'));
      writeFileSync(join(dir, 'lower-id'), layer.parent);
      continue;
    }
    const tree = treeDir(rootDir, driver, layer.id);
    mkdirSync(dirname(tree), { recursive: true });
    if (layer.parent) run('cp', [driver === 'overlay' ? '-al' : '-a', treeDir(rootDir, driver, layer.parent), tree]);
    else mkdirSync(tree);
    applyOnto(tree, tarPath);
  }
  return rootDir;
}
