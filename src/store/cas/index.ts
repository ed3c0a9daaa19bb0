// Reader for Docker's 1.10+ content-addressable store, image/<driver>/ (legacy-formats.md §5),
// over any driver whose layers are plain directories (aufs, overlay2, overlay, vfs, btrfs).
// Produces the same records as the graph reader: layers keyed by ChainID, images keyed by image
// id (the config digest), their chain = the ChainIDs of the config's diff_ids, base first.

import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ID_RE } from '../../ids.js';
import { locateDir } from '../drivers.js';
import { readSmallFile } from '../graph-aufs.js';
import type { ContainerLayers, LegacyImage, LegacyLayer, Problem, TagRecord } from '../types.js';
import { readImagedbEntry } from './imagedb.js';
import { readLayerdbEntry } from './layerdb.js';
import { readCasRepositories } from './repositories.js';
import { imageStatus } from '../image-status.js';

export interface CasStore {
  driver: string;
  storeDir: string;
  layers: Map<string, LegacyLayer>;
  images: Map<string, LegacyImage>;
  tags: TagRecord[];
  containers: ContainerLayers[];
  problems: Problem[];
}

function listIds(dir: string, problems: Problem[], what: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT') problems.push({ code: code === 'EACCES' ? 'E_PERMISSION' : 'E_UNREADABLE', severity: 'error', message: `${dir}: cannot list ${what} (${code})`, file: dir });
    return [];
  }
  const ids: string[] = [];
  for (const n of names) {
    if (ID_RE.test(n)) ids.push(n);
    else if (!n.startsWith('.')) problems.push({ code: 'W_IGNORED_ENTRY', severity: 'warning', message: `${join(dir, n)}: not a 64-hex id; ignored`, file: join(dir, n) });
  }
  return ids;
}

export function readCasStore(root: string, realRoot: string, driver: string): CasStore {
  const storeDir = join(root, 'image', driver);
  const problems: Problem[] = [];
  const layers = new Map<string, LegacyLayer>();
  for (const chainId of listIds(join(storeDir, 'layerdb', 'sha256'), problems, 'layerdb')) {
    layers.set(chainId, readLayerdbEntry(root, realRoot, storeDir, driver, chainId));
  }
  // naive-diff layers (vfs, btrfs, overlay root/) are full trees: their changes are read
  // against the parent layer's tree
  for (const l of layers.values()) {
    if (l.rules === 'naive' && l.parent !== null) l.parentDir = layers.get(l.parent)?.diffDir ?? null;
  }

  const casImages = listIds(join(storeDir, 'imagedb', 'content', 'sha256'), problems, 'imagedb').map((id) => readImagedbEntry(storeDir, realRoot, id));
  const parents = new Set(casImages.map((i) => i.parent).filter((p): p is string => p !== null));
  const images = new Map<string, LegacyImage>();
  for (const ci of casImages) {
    const imageProblems: Problem[] = [...ci.problems];
    let chain: string[] | null = ci.config ? ci.chain : null;
    if (chain) {
      for (let i = 0; i < chain.length; i++) {
        const lid = chain[i]!;
        const l = layers.get(lid);
        if (!l) {
          imageProblems.push({ code: 'E_LAYER_MISSING', severity: 'error', message: `layer ${i + 1} (chainID ${lid.slice(0, 12)}, diffID ${ci.diffIDs[i]!.slice(7, 19)}) is not in layerdb`, file: join(storeDir, 'layerdb', 'sha256', lid) });
          chain = null;
          break;
        }
        imageProblems.push(...l.problems.map((p) => ({ ...p, message: `layer ${lid.slice(0, 12)}: ${p.message}` })));
        if (l.diffID !== null && l.diffID !== ci.diffIDs[i]) {
          imageProblems.push({ code: 'E_LAYERDB_MISMATCH', severity: 'error', message: `layer ${lid.slice(0, 12)}: layerdb diff ${l.diffID} differs from the config's diff_ids[${i}] ${ci.diffIDs[i]}`, file: join(storeDir, 'layerdb', 'sha256', lid, 'diff') });
        }
        const expectedParent = i === 0 ? null : chain[i - 1]!;
        if (l.rules === 'naive') {
          // A ChainID fixes its whole prefix, so the config's chain names the parent tree even
          // when layerdb's optional `parent` file is missing or wrong: diffing against anything
          // else (or nothing) would drop this layer's deletions.
          const parentLayer = expectedParent === null ? null : layers.get(expectedParent) ?? null;
          l.parentDir = parentLayer?.diffDir ?? null;
          if (parentLayer && parentLayer.rules !== 'naive') {
            imageProblems.push({ code: 'E_LAYERDB_INVALID', severity: 'error', message: `layer ${lid.slice(0, 12)}: a full-tree (naive diff) layer on top of layer ${parentLayer.id.slice(0, 12)}, which is not one`, file: join(storeDir, 'layerdb', 'sha256', lid) });
          }
        }
        if (l.parent !== expectedParent) {
          imageProblems.push({ code: 'W_LAYERDB_PARENT', severity: 'warning', message: `layer ${lid.slice(0, 12)}: layerdb parent ${l.parent?.slice(0, 12) ?? '(none)'} differs from the chain (${expectedParent?.slice(0, 12) ?? 'base'}); the config's order is used`, file: join(storeDir, 'layerdb', 'sha256', lid, 'parent') });
        }
      }
    }
    images.set(ci.id, {
      id: ci.id,
      chain,
      tags: [],
      digests: [],
      hasChildren: parents.has(ci.id),
      problems: imageProblems,
      status: imageStatus(chain, imageProblems),
      store: 'image-store',
      config: ci.config,
      created: ci.created,
      driver,
      legacyId: null,
    });
  }

  const tags = readCasRepositories(storeDir, problems);
  const containers: ContainerLayers[] = [];
  // container mounts: only listed; each dir must stay inside the root before anything is read
  const mounts = join(storeDir, 'layerdb', 'mounts');
  if (locateDir(mounts, realRoot, problems, 'layerdb mounts')) {
    for (const cid of listIds(mounts, [], 'layerdb mounts')) {
      const dir = locateDir(join(mounts, cid), realRoot, problems, 'container mount');
      const init = dir ? readSmallFile(join(dir, 'init-id'), 4096, 'init-id') : { ok: false };
      containers.push({ id: cid, hasInit: init.ok, image: null });
    }
  }
  return { driver, storeDir, layers, images, tags, containers, problems };
}
