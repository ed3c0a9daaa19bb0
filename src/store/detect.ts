// Which storage generation and driver a root holds (legacy-formats.md §1.1, §8 items 1–2).
// The driver in use is named by `repositories-<driver>`; a `vfs/` dir alone proves nothing
// (Docker < 1.7 kept volumes there whatever the driver).

import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { ID_RE } from '../ids.js';
import { BLOCK_DRIVERS, driverLayerPath, isReadableDriver } from './drivers.js';
import { EXIT, L2OError, RootError } from '../errors.js';
import type { Problem } from './types.js';

export const KNOWN_DRIVERS = ['aufs', 'btrfs', 'zfs', 'devicemapper', 'overlay', 'overlay2', 'vfs'] as const;

export interface RootShape {
  root: string;
  /** the primary driver (the 1.10+ store's when there is one, else the graph's), for reports */
  driver: string;
  /** repositories-<driver> files and driver dirs present */
  driversFound: string[];
  hasGraph: boolean;
  /** a Docker 1.10+ content-addressable store (image/<driver>/) is present too */
  hasImageStore: boolean;
  /** the driver of the legacy graph/ store that is read, or null when graph/ is not read */
  graphDriver: string | null;
  /** image/<driver>/ stores that are read (readable drivers only), preferred first */
  casDrivers: string[];
  problems: Problem[];
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

/**
 * Why a block-storage driver cannot be read, and what to do instead: one line (the CLI prints it
 * as the error, exit 2).
 */
export function blockDriverAdvice(root: string, driver: string): string {
  if (driver === 'devicemapper') {
    return `${root}: images are stored by the devicemapper driver, in thin-provisioned block devices (devicemapper/devicemapper/data+metadata loop files or an LVM thin pool), not as plain files under the root; ` +
      'on a Linux host, activate the thin pool (losetup + dmsetup, or lvchange -ay), mount each device (devicemapper/mnt/<id>/rootfs), or start that Docker version there and `docker save`, then point --root at a root whose layers are plain directories';
  }
  return `${root}: images are stored by the zfs driver, in ZFS datasets (one per layer, mounted at zfs/graph/<id>), not as plain files under the root; ` +
    'on a Linux host, import the pool (zpool import) and mount its datasets, or start that Docker version there and `docker save`, then point --root at a root whose layers are plain directories';
}

/** image/<driver>/ dirs that look like a 1.10+ store (imagedb/ or layerdb/ inside). */
function imageStores(root: string): string[] {
  let names: string[];
  try {
    names = readdirSync(join(root, 'image'));
  } catch {
    return [];
  }
  return KNOWN_DRIVERS.filter((d) => names.includes(d) && (isDir(join(root, 'image', d, 'imagedb')) || isDir(join(root, 'image', d, 'layerdb'))));
}

/** Does the driver dir hold the layer of at least one graph id? (Docker listed only such ids.) */
function graphHasLayersIn(root: string, driver: string): boolean | null {
  let ids: string[];
  try {
    ids = readdirSync(join(root, 'graph')).filter((n) => ID_RE.test(n));
  } catch {
    return null;
  }
  if (ids.length === 0) return null;
  return ids.some((id) => {
    const p = driverLayerPath(root, driver, id);
    return p !== null && existsSync(driver === 'overlay2' ? dirname(p) : p);
  });
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
  if (hasImageStore) assertConfined(root, ['image']);
  const stores = hasImageStore ? imageStores(root) : [];

  // 1.10+ stores: readable ones are read (the current driver's first: the one whose driver dir
  // exists); block-storage ones are explained, and fatal only when nothing else can be read.
  const casDrivers = stores.filter((d) => isReadableDriver(d)).sort((a, b) => Number(driverDirs.includes(b as never)) - Number(driverDirs.includes(a as never)));
  const blockCas = stores.filter((d) => !isReadableDriver(d));

  if (!hasGraph && stores.length === 0) {
    throw new RootError('E_NOT_DOCKER_ROOT', `${root}: not a Docker root (no graph/ directory and no image/<driver>/ store)`, root);
  }

  let graphDriver: string | null = null;
  // graph/ without a single image id beside a 1.10+ store: a leftover of the upgrade, not a store
  const graphEmpty = hasGraph && casDrivers.length > 0 && graphHasLayersIn(root, 'aufs') === null;
  if (hasGraph && !graphEmpty) {
    // Prefer the driver named by a repositories file; among several, aufs (the first driver we read).
    let driver: string | undefined;
    if (repoFiles.includes('aufs')) driver = 'aufs';
    else if (repoFiles.length > 0) driver = repoFiles.find((d) => isReadableDriver(d)) ?? repoFiles[0];
    else if (driverDirs.includes('aufs')) driver = 'aufs';
    else driver = driverDirs.find((d) => d !== 'vfs' && d !== 'overlay2') ?? driverDirs.find((d) => d !== 'overlay2');

    if (repoFiles.length > 1) {
      problems.push({
        code: 'W_SEVERAL_DRIVERS',
        severity: 'warning',
        message: `several tag stores (${repoFiles.map((d) => `repositories-${d}`).join(', ')}): reading ${driver}`,
        file: root,
      });
    }
    const fatal = (err: RootError): void => {
      // a legacy graph we cannot read beside a readable 1.10+ store: read the latter, say why
      if (casDrivers.length === 0) throw err;
      problems.push({ code: 'W_GRAPH_NOT_READ', severity: 'warning', message: `${err.message}; only the 1.10+ store is read`, file: join(root, 'graph') });
    };
    if (!driver) fatal(new RootError('E_NOT_DOCKER_ROOT', `${root}: graph/ present but no storage driver directory`, root));
    else if ((BLOCK_DRIVERS as readonly string[]).includes(driver)) fatal(new RootError('E_DRIVER_UNSUPPORTED', blockDriverAdvice(root, driver), root));
    else if (!isReadableDriver(driver) || driver === 'overlay2') fatal(new RootError('E_DRIVER_UNSUPPORTED', `${root}: storage driver '${driver}' is not a legacy graph driver this tool reads (aufs, overlay, vfs, btrfs)`, root));
    else if (!isDir(join(root, driver))) fatal(new RootError('E_NOT_DOCKER_ROOT', `${root}: repositories-${driver} present but no ${driver}/ directory`, root));
    else if (driver !== 'aufs' && graphHasLayersIn(root, driver) === false) {
      fatal(new RootError('E_DRIVER_UNSUPPORTED', `${root}: graph/ lists images but ${driver}/ holds none of their layers (the layer data is missing, or kept by a driver this tool cannot read)`, root));
    } else {
      graphDriver = driver;
      const dirs = driver === 'aufs' ? ['graph', 'aufs', 'aufs/diff', 'aufs/layers'] : ['graph', driver, ...(driver === 'vfs' ? ['vfs/dir'] : driver === 'btrfs' ? ['btrfs/subvolumes'] : [])];
      assertConfined(root, dirs);
    }
  }

  if (graphDriver === null && casDrivers.length === 0) {
    const block = blockCas[0];
    if (block) throw new RootError('E_DRIVER_UNSUPPORTED', blockDriverAdvice(root, block), root);
    throw new RootError('E_DRIVER_UNSUPPORTED', `${root}: image/ holds no store of a driver this tool reads (${stores.join(', ') || 'none'})`, root);
  }
  for (const d of blockCas) {
    problems.push({ code: 'W_STORE_NOT_READ', severity: 'warning', message: blockDriverAdvice(root, d), file: join(root, 'image', d) });
  }
  for (const d of casDrivers) {
    assertConfined(root, [`image/${d}`, `image/${d}/imagedb`, `image/${d}/imagedb/content/sha256`, `image/${d}/imagedb/metadata/sha256`, `image/${d}/layerdb`, `image/${d}/layerdb/sha256`, d]);
  }
  if (graphDriver !== null && casDrivers.length > 0) {
    problems.push({ code: 'W_HYBRID_ROOT', severity: 'warning', message: `both a legacy graph/ (${graphDriver}) and a Docker 1.10+ store (image/${casDrivers.join(', image/')}) are present: both are read, and images migrated from graph/ are listed once, as 1.10+ images`, file: join(root, 'image') });
  }
  return { root, driver: casDrivers[0] ?? graphDriver!, driversFound, hasGraph, hasImageStore, graphDriver, casDrivers, problems };
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
