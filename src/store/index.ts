// Opening a legacy root: read every graph entry, resolve chains, attach tags.
// `openStore` is the one entry point; the records it returns are plain data (types.ts).

import { realpathSync } from 'node:fs';
import { resolve } from 'node:path';
import { RefError } from '../errors.js';
import { detectRoot } from './detect.js';
import { classifyDriverLayers, listGraphIds, readLayer, readRepositories } from './graph-aufs.js';
import { parseReference } from './refs.js';
import type { LegacyImage, LegacyLayer, LegacyStore, Problem } from './types.js';

export * from './types.js';
export { parseReference, normalizeRepository, fullyQualifiedRepository } from './refs.js';

export const DEFAULT_ROOT = '/var/lib/docker';

export function defaultRoot(flag?: string): string {
  return resolve(flag ?? process.env.LEGACY2OCI_ROOT ?? DEFAULT_ROOT);
}

type ChainResult = { chain: string[] } | { problem: Problem };

/**
 * Resolve every chain base → top without recursion (chains can be 1,000+ deep) and with cycle
 * detection (Docker's own migration recursed forever on a loop).
 */
function resolveChains(layers: Map<string, LegacyLayer>): Map<string, ChainResult> {
  const done = new Map<string, ChainResult>();
  for (const start of layers.keys()) {
    if (done.has(start)) continue;
    const path: string[] = [];
    const onPath = new Set<string>();
    let cur: string | null = start;
    let tail: ChainResult = { chain: [] };
    while (cur !== null) {
      const known = done.get(cur);
      if (known) { tail = known; break; }
      if (onPath.has(cur)) {
        tail = { problem: { code: 'E_CHAIN_CYCLE', severity: 'error', message: `parent chain loops at ${cur.slice(0, 12)} (${[...onPath].map((i) => i.slice(0, 12)).join(' → ')})` } };
        break;
      }
      const layer = layers.get(cur);
      if (!layer) {
        const child = path[path.length - 1]!;
        tail = { problem: { code: 'E_PARENT_MISSING', severity: 'error', message: `parent ${cur} of ${child.slice(0, 12)} is not in graph/`, file: layers.get(child)?.diffDir ?? undefined } };
        break;
      }
      path.push(cur);
      onPath.add(cur);
      cur = layer.parent;
    }
    // Unwind: each element's chain is the tail's chain plus the path below it.
    for (let i = path.length - 1; i >= 0; i--) {
      const id = path[i]!;
      const result: ChainResult = 'chain' in tail ? { chain: [...tail.chain, id] } : tail;
      done.set(id, result);
      tail = result;
    }
  }
  return done;
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function openStore(rootArg: string): LegacyStore {
  const root = resolve(rootArg);
  const shape = detectRoot(root);
  const realRoot = realpathSync(root);
  const problems: Problem[] = [...shape.problems];

  const layers = new Map<string, LegacyLayer>();
  for (const id of listGraphIds(root, problems)) layers.set(id, readLayer(root, realRoot, id));

  const chains = resolveChains(layers);
  const children = new Set<string>();
  for (const l of layers.values()) if (l.parent) children.add(l.parent);

  const tags = readRepositories(root, shape.driver, problems);
  const images = new Map<string, LegacyImage>();
  for (const layer of layers.values()) {
    const cr = chains.get(layer.id)!;
    const imageProblems: Problem[] = [];
    const chain = 'chain' in cr ? cr.chain : null;
    if (!chain) imageProblems.push((cr as { problem: Problem }).problem);
    // Problems of every layer in the chain belong to the image; layers reported once each.
    for (const lid of chain ?? [layer.id]) {
      const l = layers.get(lid);
      if (l) imageProblems.push(...l.problems.map((p) => (lid === layer.id ? p : { ...p, message: `layer ${lid.slice(0, 12)}: ${p.message}` })));
    }
    // aufs/layers/<id> must list the same ancestors as the json chain (nearest first).
    if (chain && layer.aufsAncestors && !sameList(layer.aufsAncestors, chain.slice(0, -1).reverse())) {
      imageProblems.push({ code: 'W_AUFS_LAYERS_MISMATCH', severity: 'warning', message: `aufs/layers/${layer.id} lists ${layer.aufsAncestors.length} ancestors that differ from the json parent chain (${chain.length - 1}); the json chain is used, as Docker did` });
    }
    const broken = chain === null || imageProblems.some((p) => p.severity === 'error');
    images.set(layer.id, {
      id: layer.id,
      chain,
      tags: [],
      digests: [],
      hasChildren: children.has(layer.id),
      problems: imageProblems,
      status: broken ? 'broken' : imageProblems.length > 0 ? 'warning' : 'ok',
    });
  }

  const liveTags = [];
  for (const t of tags) {
    const img = images.get(t.id);
    if (!img) {
      problems.push({ code: 'W_TAG_DANGLING', severity: 'warning', message: `repositories-${shape.driver}: ${t.ref} points at ${t.id.slice(0, 12)}, which is not in graph/`, file: `${root}/repositories-${shape.driver}` });
      continue;
    }
    if (t.tag !== null) img.tags.push(t.ref);
    else img.digests.push(t.ref);
    liveTags.push(t);
  }

  const { containers, orphans } = classifyDriverLayers(root, new Set(layers.keys()), problems);
  return { root, driver: shape.driver, driversFound: shape.driversFound, layers, images, tags: liveTags, containers, orphans, problems };
}

/** Resolve a user reference to an image id. Throws RefError (not found / ambiguous / invalid). */
export function resolveReference(store: LegacyStore, input: string): { id: string; matchedRef: string | null } {
  const ref = parseReference(input);
  if (ref.kind === 'id') {
    if (!store.images.has(ref.id)) throw new RefError('E_REF_NOT_FOUND', `no image with id ${ref.id} in ${store.root}`);
    return { id: ref.id, matchedRef: null };
  }
  const byName = (r: { ref: string }) => store.tags.find((t) => t.ref === r.ref);
  if (ref.kind === 'prefix') {
    const named = ref.name ? byName(ref.name) : undefined;
    if (named) return { id: named.id, matchedRef: named.ref };
    const candidates = [...store.images.keys()].filter((id) => id.startsWith(ref.prefix)).sort();
    if (candidates.length === 1) return { id: candidates[0]!, matchedRef: null };
    if (candidates.length > 1) {
      throw new RefError('E_REF_AMBIGUOUS', `id prefix '${ref.prefix}' is ambiguous: ${candidates.map((c) => c.slice(0, 16)).join(', ')}`);
    }
    throw new RefError('E_REF_NOT_FOUND', `no image matches '${input}' in ${store.root}`);
  }
  const found = byName(ref);
  if (!found) throw new RefError('E_REF_NOT_FOUND', `no image named ${ref.ref} in ${store.root}`);
  return { id: found.id, matchedRef: found.ref };
}
