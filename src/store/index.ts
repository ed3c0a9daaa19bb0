// Opening a legacy root: read every graph entry, resolve chains, attach tags.
// `openStore` is the one entry point; the records it returns are plain data (types.ts).

import { realpathSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { RefError } from '../errors.js';
import { detectRoot } from './detect.js';
import { aufsAncestorIds, classifyDriverLayers, listGraphIds, listKinds, readRepositories, type LayerHints } from './graph-aufs.js';
import { startLayerReads } from './parallel-layers.js';
import { readCasStore } from './cas/index.js';
import { parseReference } from './refs.js';
import type { LegacyImage, LegacyLayer, LegacyStore, Problem, TagRecord } from './types.js';
import { imageStatus } from './image-status.js';

export * from './types.js';
export { parseReference, normalizeRepository } from './refs.js';

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

/** Whether an aufs/layers text (nearest first, see readAufsAncestors) is the chain (base first) without its last element. */
function listsAncestors(ancestors: string, chain: string[]): boolean {
  let at = 0;
  for (let i = chain.length - 2; i >= 0; i--) {
    const id = chain[i]!;
    if (!ancestors.startsWith(id, at) || ancestors.charCodeAt(at + id.length) !== 0x0a) return false;
    at += id.length + 1;
  }
  return at === ancestors.length;
}

interface GraphPart {
  layers: Map<string, LegacyLayer>;
  images: Map<string, LegacyImage>;
  tags: TagRecord[];
  containers: LegacyStore['containers'];
  orphans: string[];
  /** the listings the layers were read with (classifyDriverLayers reuses aufs/diff and aufs/layers) */
  hints: LayerHints;
}

/** The legacy graph/ store with its driver: one image per graph id, chains from the v1 json. */
function readGraph(root: string, realRoot: string, driver: string, problems: Problem[]): GraphPart {
  const layers = new Map<string, LegacyLayer>();
  const aufs = driver === 'aufs';
  const graphListing = listKinds(join(root, 'graph'));
  const reads = startLayerReads(root, realRoot, listGraphIds(root, problems, graphListing), driver);
  // the driver dirs are listed while the store helper (if any) starts
  const hints: LayerHints = { graph: graphListing, diff: aufs ? listKinds(join(root, 'aufs', 'diff')) : null, layers: aufs ? listKinds(join(root, 'aufs', 'layers')) : null };
  for (const layer of reads.read(hints)) layers.set(layer.id, layer);
  // naive-diff layers are full trees: their changes are read against the parent's tree
  for (const l of layers.values()) {
    if (l.rules === 'naive' && l.parent !== null) l.parentDir = layers.get(l.parent)?.diffDir ?? null;
  }

  const chains = resolveChains(layers);
  const children = new Set<string>();
  for (const l of layers.values()) if (l.parent) children.add(l.parent);

  // whether a layer or one below it has a problem, memoised along the chains (resolved above,
  // so every parent walk ends)
  const troubled = new Map<string, boolean>();
  const chainHasProblems = (id: string): boolean => {
    const walked: string[] = [];
    let found = false;
    for (let cur: string | null = id; cur !== null; ) {
      const known = troubled.get(cur);
      if (known !== undefined) { found = known; break; }
      const l = layers.get(cur);
      if (!l) break;
      walked.push(cur);
      if (l.problems.length > 0) { found = true; break; }
      cur = l.parent;
    }
    for (const w of walked) troubled.set(w, found);
    return found;
  };

  const tags = readRepositories(root, driver, problems);
  const images = new Map<string, LegacyImage>();
  for (const layer of layers.values()) {
    const cr = chains.get(layer.id)!;
    const imageProblems: Problem[] = [];
    const chain = 'chain' in cr ? cr.chain : null;
    if (!chain) imageProblems.push((cr as { problem: Problem }).problem);
    // Problems of every layer in the chain belong to the image; layers reported once each.
    // (every layer is an image here: only chains known to hold a problem are walked)
    if (chain === null || chainHasProblems(layer.id)) {
      for (const lid of chain ?? [layer.id]) {
        const l = layers.get(lid);
        if (l && l.problems.length > 0) imageProblems.push(...l.problems.map((p) => (lid === layer.id ? p : { ...p, message: `layer ${lid.slice(0, 12)}: ${p.message}` })));
      }
    }
    // aufs/layers/<id> must list the same ancestors as the json chain (nearest first).
    if (chain && layer.aufsAncestors !== null && !listsAncestors(layer.aufsAncestors, chain)) {
      imageProblems.push({ code: 'W_AUFS_LAYERS_MISMATCH', severity: 'warning', message: `aufs/layers/${layer.id} lists ${aufsAncestorIds(layer.aufsAncestors).length} ancestors that differ from the json parent chain (${chain.length - 1}); the json chain is used, as Docker did` });
    }
    images.set(layer.id, {
      id: layer.id,
      chain,
      tags: [],
      digests: [],
      hasChildren: children.has(layer.id),
      problems: imageProblems,
      status: imageStatus(chain, imageProblems),
      ...(driver === 'aufs' ? {} : { store: 'graph' as const, driver, created: layer.created }),
    });
  }
  return { layers, images, tags, containers: [], orphans: [], hints };
}

/** Attach tags to images; a tag to an unknown image is a warning (Docker dropped those too). */
function attachTags(images: Map<string, LegacyImage>, tags: TagRecord[], label: string, file: string, problems: Problem[], seen: Set<string>): TagRecord[] {
  const live: TagRecord[] = [];
  for (const t of tags) {
    if (seen.has(t.ref)) continue;
    const img = images.get(t.id);
    if (!img) {
      problems.push({ code: 'W_TAG_DANGLING', severity: 'warning', message: `${label}: ${t.ref} points at ${t.id.slice(0, 12)}, which is not in ${label.endsWith('repositories.json') ? 'imagedb' : 'graph/'}`, file });
      continue;
    }
    seen.add(t.ref);
    if (t.tag !== null) img.tags.push(t.ref);
    else img.digests.push(t.ref);
    live.push(t);
  }
  return live;
}

export function openStore(rootArg: string): LegacyStore {
  const root = resolve(rootArg);
  const shape = detectRoot(root);
  const realRoot = realpathSync(root);
  const problems: Problem[] = [...shape.problems];
  const layers = new Map<string, LegacyLayer>();
  const images = new Map<string, LegacyImage>();
  const tags: TagRecord[] = [];
  const seenRefs = new Set<string>();
  const containers: LegacyStore['containers'] = [];
  const stores: NonNullable<LegacyStore['stores']> = [];
  const aliases = new Map<string, string>();

  // 1.10+ stores first: on a hybrid root they are what the daemon used last, and an image
  // migrated from graph/ is listed once, under its 1.10+ id.
  const casParts = shape.casDrivers.map((d) => readCasStore(root, realRoot, d));
  const graph = shape.graphDriver !== null ? readGraph(root, realRoot, shape.graphDriver, problems) : null;

  for (const cas of casParts) {
    problems.push(...cas.problems);
    let count = 0;
    for (const [id, l] of cas.layers) if (!layers.has(id)) layers.set(id, l);
    for (const [id, img] of cas.images) {
      if (images.has(id)) {
        problems.push({ code: 'W_DUPLICATE_IMAGE', severity: 'warning', message: `image ${id.slice(0, 12)} is in image/${images.get(id)!.driver} and image/${cas.driver}; the first is used`, file: cas.storeDir });
        continue;
      }
      images.set(id, img);
      count++;
    }
    tags.push(...attachTags(images, cas.tags, `image/${cas.driver}/repositories.json`, join(cas.storeDir, 'repositories.json'), problems, seenRefs));
    containers.push(...cas.containers);
    stores.push({ kind: 'image-store', driver: cas.driver, images: count });
  }

  if (graph) {
    // Docker 1.10's migration kept each layer's dir (cache-id = the graph id) and recomputed the
    // config: a 1.10+ image whose layers' cache-ids are exactly a graph chain IS that graph image.
    // Several 1.10+ images can share a chain (an ENV-only build adds no layer): the migrated one
    // also kept the graph image's creation time.
    const byChain = new Map<string, LegacyImage[]>();
    for (const img of images.values()) {
      if (img.store !== 'image-store' || img.driver !== shape.graphDriver || !img.chain || img.chain.length === 0) continue;
      const key = img.chain.map((lid) => layers.get(lid)?.cacheId ?? '?').join(',');
      byChain.set(key, [...(byChain.get(key) ?? []), img]);
    }
    const sameTime = (a: string | null | undefined, b: string | null | undefined) => Boolean(a && b && Date.parse(a) === Date.parse(b));
    let count = 0;
    for (const [id, img] of graph.images) {
      // (no 1.10+ images: no chain to join, ~60 ms on 20,000 layers)
      const candidates = img.chain && byChain.size > 0 ? byChain.get(img.chain.join(',')) ?? [] : [];
      const created = graph.layers.get(id)?.created;
      const timed = candidates.filter((c) => sameTime(c.created, created));
      const match = timed.length === 1 ? timed[0] : candidates.length === 1 ? candidates[0] : undefined;
      if (match !== undefined && !match.legacyId) {
        aliases.set(id, match.id);
        match.legacyId = id;
        continue;
      }
      if (images.has(id)) {
        problems.push({ code: 'W_DUPLICATE_IMAGE', severity: 'warning', message: `graph image ${id.slice(0, 12)} has the id of a 1.10+ image; the 1.10+ one is used`, file: join(root, 'graph', id) });
        continue;
      }
      images.set(id, img);
      count++;
    }
    for (const [id, l] of graph.layers) if (!layers.has(id)) layers.set(id, l);
    const graphTags = graph.tags.map((t) => (aliases.has(t.id) ? { ...t, id: aliases.get(t.id)! } : t));
    tags.push(...attachTags(images, graphTags, `repositories-${shape.graphDriver}`, `${root}/repositories-${shape.graphDriver}`, problems, seenRefs));
    if (shape.graphDriver === 'aufs') {
      const classified = classifyDriverLayers(root, new Set(graph.layers.keys()), problems, graph.hints.diff, graph.hints.layers);
      containers.push(...classified.containers);
      graph.orphans = classified.orphans;
    }
    stores.unshift({ kind: 'graph', driver: shape.graphDriver!, images: count });
  }

  const result: LegacyStore = { root, driver: shape.driver, driversFound: shape.driversFound, layers, images, tags, containers, orphans: graph?.orphans ?? [], problems };
  // graph-only aufs roots keep exactly the records (and JSON) they always had
  if (casParts.length > 0 || (shape.graphDriver !== null && shape.graphDriver !== 'aufs')) {
    result.stores = stores;
    result.aliases = aliases;
  }
  return result;
}

/** Resolve a user reference to an image id. Throws RefError (not found / ambiguous / invalid). */
export function resolveReference(store: LegacyStore, input: string): { id: string; matchedRef: string | null } {
  const ref = parseReference(input);
  if (ref.kind === 'id') {
    const alias = store.aliases?.get(ref.id);
    if (alias !== undefined) return { id: alias, matchedRef: null };
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
