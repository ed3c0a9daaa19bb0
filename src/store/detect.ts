// Which storage generation and driver a root holds (legacy-formats.md §1.1, §8 items 1–2).
// The driver in use is named by `repositories-<driver>`; a `vfs/` dir alone proves nothing
// (Docker < 1.7 kept volumes there whatever the driver).

import { readdirSync, realpathSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import { EXIT, L2OError, RootError } from '../errors.js';
import type { Problem } from './types.js';

export const KNOWN_DRIVERS = ['aufs', 'btrfs', 'zfs', 'devicemapper', 'overlay', 'overlay2', 'vfs'] as const;

export interface RootShape {
  root: string;
  /** the driver legacy2oci will read */
  driver: string;
  /** repositories-<driver> files and driver dirs present */
  driversFound: string[];
  hasGraph: boolean;
  /** a Docker 1.10+ content-addressable store (image/<driver>/) is present too */
  hasImageStore: boolean;
  problems: Problem[];
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

export function detectRoot(root: string): RootShape {
  let entries: string[];
  try {
    if (!statSync(root).isDirectory()) throw new RootError('E_ROOT_NOT_FOUND', `${root}: not a directory`, root);
    entries = readdirSync(root);
  } catch (err) {
    if (err instanceof RootError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new RootError('E_ROOT_NOT_FOUND', `${root}: no such directory`, root);
    throw new RootError('E_ROOT_UNREADABLE', `${root}: cannot read (${code ?? String(err)})`, root);
  }
  const problems: Problem[] = [];
  const repoFiles = entries.filter((e) => e.startsWith('repositories-')).map((e) => e.slice('repositories-'.length)).sort();
  const driverDirs = KNOWN_DRIVERS.filter((d) => entries.includes(d) && isDir(join(root, d)));
  const hasGraph = entries.includes('graph') && isDir(join(root, 'graph'));
  const hasImageStore = entries.includes('image') && isDir(join(root, 'image'));
  const driversFound = [...new Set([...repoFiles.map((d) => `repositories-${d}`), ...driverDirs.map((d) => `${d}/`)])];

  if (!hasGraph) {
    if (hasImageStore) {
      throw new RootError('E_DRIVER_UNSUPPORTED', `${root}: only a Docker 1.10+ store (image/) is present; this version reads legacy graph roots`, root);
    }
    throw new RootError('E_NOT_DOCKER_ROOT', `${root}: not a Docker root (no graph/ directory)`, root);
  }

  // Prefer the driver named by a repositories file; among several, aufs (the driver we read).
  let driver: string | undefined;
  if (repoFiles.includes('aufs')) driver = 'aufs';
  else if (repoFiles.length > 0) driver = repoFiles[0];
  else if (driverDirs.includes('aufs')) driver = 'aufs';
  else driver = driverDirs.find((d) => d !== 'vfs') ?? driverDirs[0];

  if (repoFiles.length > 1) {
    problems.push({
      code: 'W_SEVERAL_DRIVERS',
      severity: 'warning',
      message: `several tag stores (${repoFiles.map((d) => `repositories-${d}`).join(', ')}): reading ${driver}`,
      file: root,
    });
  }
  if (!driver) throw new RootError('E_NOT_DOCKER_ROOT', `${root}: graph/ present but no storage driver directory`, root);
  if (driver !== 'aufs') {
    throw new RootError('E_DRIVER_UNSUPPORTED', `${root}: storage driver '${driver}' is not supported yet (aufs only)`, root);
  }
  if (!isDir(join(root, 'aufs'))) throw new RootError('E_NOT_DOCKER_ROOT', `${root}: repositories-aufs present but no aufs/ directory`, root);
  assertConfined(root, ['graph', 'aufs', 'aufs/diff', 'aufs/layers']);
  if (hasImageStore) {
    problems.push({ code: 'W_HYBRID_ROOT', severity: 'warning', message: 'a Docker 1.10+ store (image/) is also present; only the legacy graph is read', file: join(root, 'image') });
  }
  return { root, driver, driversFound, hasGraph, hasImageStore, problems };
}

/**
 * The directories everything is read from must lie inside the root: a root copied off another
 * machine may hold symlinks (graph/ → /mnt/disk2/...) that point anywhere on this one. Reading
 * through them would read outside the root, so the root is refused (exit 2) with the path named.
 */
function assertConfined(root: string, rels: string[]): void {
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
  } catch (err) {
    throw new RootError('E_ROOT_UNREADABLE', `${root}: cannot resolve (${(err as NodeJS.ErrnoException).code ?? String(err)})`, root);
  }
  const prefix = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
  for (const rel of rels) {
    const p = join(root, rel);
    let real: string;
    try {
      real = realpathSync(p);
    } catch {
      continue; // missing: reported where it matters
    }
    if (real !== realRoot && !real.startsWith(prefix)) {
      throw new L2OError('E_OUTSIDE_ROOT', `${p}: leads outside the root (${real}); copy the root with its contents, not with links to them`, { exitCode: EXIT.USAGE, file: p });
    }
  }
}
