// From store records and a user request to what has to be done: which images, under which names,
// and the unique layers behind them (each processed once, costliest first). Pure: no disk access.

import { L2OError, UsageError } from '../errors.js';
import { parseReference, resolveReference, type LegacyStore } from '../store/index.js';
import type { LayerTask } from '../engine/types.js';

export interface ImagePlan {
  /** the image's id in the store: the legacy id of its top layer (graph), or Docker's image id (1.10+) */
  id: string;
  /** the store keys of its layers, base → top: graph ids, or ChainIDs (1.10+) */
  chain: string[];
  /** `repo:tag` names for index.json (may be empty: exported by id with no tags) */
  names: string[];
  /** the references the user asked for that led here */
  requested: string[];
}

export interface LayerPlan {
  /** the layer's key in the store: graph id, or ChainID for a 1.10+ store layer */
  id: string;
  diffDir: string;
  tarDataPath: string | null;
  /** storage driver of diffDir (absent = aufs) */
  driver?: LayerTask['driver'];
  /** how diffDir is read when regenerating (absent = the driver's rules) */
  rules?: LayerTask['rules'];
  /** naive rules: the parent layer's full tree */
  parentDir?: string | null;
  /** the diffID the store recorded (1.10+ layerdb) */
  expectedDiffID?: string | null;
  /** bytes we expect to read (layersize, else tar-split size × a guess); for ordering and estimates */
  estimate: number;
  /** work expected, in byte-equivalents (bytes plus a per-file cost read from the tar-split size); the pool order */
  cost: number;
}

export interface FailedImage {
  requested: string;
  id: string | null;
  code: string;
  reason: string;
}

export interface ExportPlan {
  images: ImagePlan[];
  /** unique layers, costliest first (see LayerPlan.cost) */
  layers: LayerPlan[];
  failed: FailedImage[];
  bytesToRead: number;
}

export interface PlanOptions {
  /** --name: the single exported image's name */
  rename?: string;
}

/** Normalise a `--name` value to `repo:tag` (a digest is not a name). */
export function normaliseName(name: string): string {
  const ref = parseReference(name);
  if (ref.kind !== 'tag') throw new UsageError(`--name must be a repository name with an optional tag, not '${name}'`);
  return ref.ref;
}

function layerEstimate(store: LegacyStore, id: string): number {
  const l = store.layers.get(id)!;
  if (l.layerSize !== null && l.layerSize > 0) return l.layerSize;
  // tar-split metadata compresses ~10:1 and covers only headers: a rough floor.
  return l.tarDataSize * 10;
}

/**
 * A file costs the syscalls to open, read and close it plus its tar-split lines, about what
 * hashing 20 KB costs (a layer of 50,000 small files takes 3–4× as long as a 430 MB layer of
 * five files). Its metadata takes 20–60 compressed bytes per file, so each byte of
 * tar-data.json.gz stands for about this many bytes of work. Only the order depends on it.
 */
export const COST_PER_TAR_DATA_BYTE = 500;

/** A layer's expected work: its bytes plus the per-file cost its tar-split size stands for. */
export function layerCost(estimatedBytes: number, tarDataSize: number): number {
  return estimatedBytes + tarDataSize * COST_PER_TAR_DATA_BYTE;
}

export function planExport(store: LegacyStore, refs: string[], opts: PlanOptions = {}): ExportPlan {
  if (opts.rename !== undefined && refs.length !== 1) throw new UsageError('--name renames a single image; give exactly one REF');
  const rename = opts.rename !== undefined ? normaliseName(opts.rename) : undefined;
  const images = new Map<string, ImagePlan>();
  const failed: FailedImage[] = [];

  for (const requested of refs) {
    let id: string;
    let matchedRef: string | null;
    try {
      ({ id, matchedRef } = resolveReference(store, requested));
    } catch (err) {
      if (!(err instanceof L2OError) || err instanceof UsageError) throw err;
      failed.push({ requested, id: null, code: err.code, reason: err.message });
      continue;
    }
    const image = store.images.get(id)!;
    if (image.status === 'broken' || !image.chain) {
      const errors = image.problems.filter((p) => p.severity === 'error');
      failed.push({ requested, id, code: errors[0]?.code ?? 'E_BROKEN', reason: errors.map((p) => p.message).join('; ') || 'broken image' });
      continue;
    }
    // A tag reference names the image as asked; an id or digest reference takes --name or its tags.
    let names: string[];
    if (rename) names = [rename];
    else if (matchedRef && !matchedRef.includes('@')) names = [matchedRef];
    else names = [...image.tags].sort();
    const plan = images.get(id) ?? { id, chain: image.chain, names: [], requested: [] };
    plan.names = [...new Set([...plan.names, ...names])].sort();
    plan.requested.push(requested);
    images.set(id, plan);
  }

  const layerIds = new Set<string>();
  for (const img of images.values()) for (const lid of img.chain) layerIds.add(lid);
  const layers: LayerPlan[] = [...layerIds].map((id) => {
    const l = store.layers.get(id)!;
    const estimate = layerEstimate(store, id);
    const plan: LayerPlan = { id, diffDir: l.diffDir!, tarDataPath: l.tarDataPath, estimate, cost: layerCost(estimate, l.tarDataSize) };
    // graph+aufs layers keep the plain record they always had
    if (l.driver !== undefined && l.driver !== 'aufs') plan.driver = l.driver as LayerTask['driver'];
    if (l.rules !== undefined && l.rules !== 'aufs') plan.rules = l.rules;
    if (l.rules === 'naive') plan.parentDir = l.parentDir ?? null;
    if (l.diffID) plan.expectedDiffID = l.diffID;
    return plan;
  });
  // the costliest first, so the pool does not end on one long layer while the other workers idle
  layers.sort((a, b) => b.cost - a.cost || a.id.localeCompare(b.id));
  const bytesToRead = layers.reduce((s, l) => s + l.estimate, 0);
  const ordered = [...images.values()].sort((a, b) => (a.names[0] ?? a.id).localeCompare(b.names[0] ?? b.id));
  return { images: ordered, layers, failed, bytesToRead };
}

/**
 * What a layer task needs besides root/id/diffDir/tarDataPath to read this layer right: its
 * driver, diff rules, parent tree and recorded diffID (graph+aufs layers: just `driver: 'aufs'`).
 */
export function layerTaskFields(layer: LayerPlan): Pick<LayerTask, 'driver' | 'rules' | 'parentDir' | 'expectedDiffID'> {
  return {
    driver: layer.driver ?? 'aufs',
    ...(layer.rules ? { rules: layer.rules } : {}),
    ...(layer.parentDir !== undefined ? { parentDir: layer.parentDir } : {}),
    ...(layer.expectedDiffID ? { expectedDiffID: layer.expectedDiffID } : {}),
  };
}
