// Where each storage driver keeps a layer's files, and how its changes are read
// (legacy-formats.md §2.1–2.7, §5 "overlay2"). Shared by the graph and the 1.10+ store readers:
// both name a layer dir by an id (the graph id, or layerdb's cache-id), and the driver decides
// the path below <root>/<driver>/ and the rules.
//
// Never builds a path from an id that is not 64 hex (overlay2's l/<short> links are never used:
// they are symlinks named by random 26-char ids, and only `link`/`lower` refer to them).

import { lstatSync, realpathSync } from 'node:fs';
import { join, sep } from 'node:path';
import { ID_RE } from '../ids.js';
import type { DiffRules, Problem } from './types.js';

/** Drivers whose layers are plain directories we can read. */
export const READABLE_DRIVERS = ['aufs', 'overlay2', 'overlay', 'vfs', 'btrfs'] as const;
/** Drivers whose layers live in block devices or pools, not in files under the root. */
export const BLOCK_DRIVERS = ['devicemapper', 'zfs'] as const;

export function isReadableDriver(d: string): boolean {
  return (READABLE_DRIVERS as readonly string[]).includes(d);
}

export interface DriverLayer {
  /** absolute path of the dir to read (a symlink at the top resolved, inside the root) */
  dir: string;
  rules: DiffRules;
}

function errnoCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'EIO';
}

function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/**
 * A directory the layer is read from: a real directory, or a symlink to one inside the root
 * (followed at the top only). Missing → undefined without a problem; anything else odd → null
 * and a problem. Nothing is ever read through a path that resolves outside the root.
 */
export function locateDir(p: string, realRoot: string, problems: Problem[], what: string): string | null | undefined {
  let st;
  try {
    st = lstatSync(p);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    problems.push({ code: 'E_UNREADABLE', severity: 'error', message: `${p}: cannot stat ${what} (${code})`, file: p });
    return null;
  }
  if (!st.isDirectory() && !st.isSymbolicLink()) {
    problems.push({ code: 'E_DIFF_MISSING', severity: 'error', message: `${p}: ${what} is not a directory`, file: p });
    return null;
  }
  // Resolved whatever it is: a symlink above the last component (e.g. overlay2/<id> → elsewhere)
  // leads out of the root as surely as one at the end.
  let real: string;
  try {
    real = realpathSync(p);
    if (!lstatSync(real).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (err) {
    problems.push({ code: 'E_DIFF_MISSING', severity: 'error', message: `${p}: ${what} symlink is dangling or loops (${errnoCode(err)})`, file: p });
    return null;
  }
  if (!isInside(realRoot, real)) {
    problems.push({ code: 'E_DIFF_OUTSIDE_ROOT', severity: 'error', message: `${p}: ${what} leads outside the root (${real})`, file: p });
    return null;
  }
  return st.isSymbolicLink() ? real : p;
}

/** The path a driver would use for `id` (for messages and existence checks); null for unknown drivers. */
export function driverLayerPath(root: string, driver: string, id: string): string | null {
  switch (driver) {
    case 'aufs': return join(root, 'aufs', 'diff', id);
    case 'overlay2': return join(root, 'overlay2', id, 'diff');
    case 'overlay': return join(root, 'overlay', id);
    case 'vfs': return join(root, 'vfs', 'dir', id);
    case 'btrfs': return join(root, 'btrfs', 'subvolumes', id);
    default: return null;
  }
}

/**
 * The dir holding layer `id` of `driver`, and the rules to read it with; null (with a problem)
 * when it is missing or unusable.
 */
export function locateDriverLayer(root: string, realRoot: string, driver: string, id: string, problems: Problem[]): DriverLayer | null {
  if (!ID_RE.test(id)) {
    problems.push({ code: 'E_BAD_ID', severity: 'error', message: `layer directory id ${JSON.stringify(id.slice(0, 80))} is not 64 lowercase hex; not read`, file: root });
    return null;
  }
  const p = driverLayerPath(root, driver, id);
  if (p === null) {
    problems.push({ code: 'E_DRIVER_UNSUPPORTED', severity: 'error', message: `storage driver '${driver}' cannot be read as plain files`, file: root });
    return null;
  }
  const missing = (): null => {
    problems.push({ code: 'E_DIFF_MISSING', severity: 'error', message: `${p}: layer directory is missing`, file: p });
    return null;
  };
  if (driver === 'overlay') {
    // overlay v1: image layers end with a full `root/` (naive diff against the parent's root);
    // a layer applied through a mount (parent without root) keeps `upper/` + `lower-id`.
    const dir = locateDir(p, realRoot, problems, 'overlay layer directory');
    if (dir === undefined) return missing();
    if (dir === null) return null;
    const rootDir = locateDir(join(dir, 'root'), realRoot, problems, 'overlay root');
    if (rootDir) return { dir: rootDir, rules: 'naive' };
    if (rootDir === null) return null;
    const upper = locateDir(join(dir, 'upper'), realRoot, problems, 'overlay upper');
    if (upper) {
      // Docker left image layers with root/; an upper/ is relative to the layer named in
      // lower-id, which is taken to be the chain parent: say so, since nothing checks it here
      problems.push({ code: 'W_OVERLAY_UPPER', severity: 'warning', message: `${p}: no root/, only upper/ (a diff against the layer in lower-id, assumed to be the parent)`, file: p });
      return { dir: upper, rules: 'overlay' };
    }
    if (upper === null) return null;
    problems.push({ code: 'E_DIFF_MISSING', severity: 'error', message: `${p}: neither root/ nor upper/ present`, file: p });
    return null;
  }
  const dir = locateDir(p, realRoot, problems, 'layer directory');
  if (dir === undefined) return missing();
  if (dir === null) return null;
  const rules: DiffRules = driver === 'aufs' ? 'aufs' : driver === 'overlay2' ? 'overlay' : 'naive';
  return { dir, rules };
}
