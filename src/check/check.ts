// The check job: the pre-flight a migration team runs first. For every image asked for (all
// tagged and dangling images when none is), replay every layer (tar-split, else regeneration),
// verify every CRC-64, compute diffIDs, ChainIDs and Docker 1.10 image IDs, and list the files
// that changed since the pull. Nothing is written anywhere: the layer pool runs with outDir
// null and no compression, so each layer is read once and hashed once.
//
// Layer status:
//   ok           byte-exact from tar-split: the diffID is the one the image was pulled with
//   no-tar-split regenerated because the layer predates tar-split (Docker < 1.8): expected,
//                a warning (the diffID is new, as Docker 1.10's own migration would make it)
//   corrupt      tar-split data exists but cannot reproduce the layer: files in the diff dir
//                changed (listed) or the metadata is damaged; regenerated, so its diffID differs
//                from the original. Any corrupt layer makes `check` exit 1.
import { availableParallelism } from 'node:os';
import { L2OError, describeError } from '../errors.js';
import type { LayerPool } from '../engine/pool.js';
import { CHECK_WORKER_URL, takeLayerPool } from '../engine/prewarm.js';
import { dockerConfigOf } from '../export/assemble.js';
import { layerTaskFields, planExport, type ExportPlan, type FailedImage } from '../plan/plan.js';
import { openStore, type LegacyStore, type Problem } from '../store/index.js';
import type { CheckedLayer } from './check-worker.js';
import type { ChangedFile } from './diagnose.js';

export type LayerStatus = 'ok' | 'no-tar-split' | 'corrupt';

export interface CheckLayerReport {
  legacyId: string;
  /** sha256 of the layer tar as exported (the original one when status is ok) */
  diffID: string;
  /** bytes of the layer tar */
  size: number;
  source: 'tar-split' | 'regenerated';
  status: LayerStatus;
  /** why it was regenerated */
  reason?: string;
  /** corrupt layers: what is damaged */
  corruption?: 'files' | 'metadata';
  /** corrupt layers: every changed file found (capped; `moreChangedFiles` counts the rest) */
  changedFiles?: ChangedFile[];
  moreChangedFiles?: number;
  /** corrupt layers: the metadata could not be read to its end */
  metadataError?: string;
  warnings: string[];
}

export interface CheckImageReport {
  legacyId: string;
  refs: string[];
  requested: string[];
  /** the image ID Docker 1.10 gives this image from these layers */
  dockerImageID: string;
  chainIDs: string[];
  diffIDs: string[];
  /** legacy layer ids, base → top */
  layers: string[];
  status: LayerStatus;
}

export interface CheckReport {
  schemaVersion: 1;
  root: string;
  ok: boolean;
  images: CheckImageReport[];
  layers: CheckLayerReport[];
  /** images that could not be checked (broken chain, unreadable json, a layer that failed) */
  failed: FailedImage[];
  /** problems of the root itself (as `ls` shows them); any error makes the check fail */
  problems: Problem[];
  totals: { images: number; layers: number; bytes: number; byteExact: number; noTarSplit: number; corrupt: number; failedLayers: number; elapsedMs: number };
}

export interface CheckOptions {
  root: string;
  /** references; empty = every tagged image and every untagged leaf image */
  refs: string[];
  jobs?: number;
  store?: LegacyStore;
  pool?: LayerPool;
  /** called once with the plan before any work */
  onPlan?: (plan: ExportPlan) => void;
  onLayerDone?: (layer: CheckLayerReport, done: number, total: number) => void;
}

/** Every image a migration would take: tagged ones and untagged leaves (dangling images). */
export function defaultSelection(store: LegacyStore): string[] {
  const ids: string[] = [];
  for (const img of store.images.values()) {
    if (img.tags.length > 0 || img.digests.length > 0 || !img.hasChildren) ids.push(img.id);
  }
  return ids.sort();
}

const SEVERITY: Record<LayerStatus, number> = { ok: 0, 'no-tar-split': 1, corrupt: 2 };

function toLayerReport(r: CheckedLayer): CheckLayerReport {
  const report: CheckLayerReport = {
    legacyId: r.id,
    diffID: r.diffID,
    size: r.uncompressedSize,
    source: r.source,
    status: 'ok',
    warnings: r.warnings,
  };
  if (r.source === 'regenerated') {
    report.reason = r.reason;
    const fromTarSplit = r.reason?.startsWith('tar-split:') ?? false;
    report.status = fromTarSplit ? 'corrupt' : 'no-tar-split';
    if (fromTarSplit) {
      const d = r.diagnosis;
      report.corruption = d && d.changed.length === 0 && d.more === 0 ? 'metadata' : 'files';
      if (d) {
        report.changedFiles = d.changed;
        if (d.more > 0) report.moreChangedFiles = d.more;
        if (d.metadataError) report.metadataError = d.metadataError;
      }
    }
  }
  return report;
}

export async function runCheckJob(opts: CheckOptions): Promise<CheckReport> {
  const started = Date.now();
  // workers start while the root is read and planned
  const pool = opts.pool ?? takeLayerPool(CHECK_WORKER_URL, opts.jobs ?? availableParallelism());
  // our own pool stops as soon as the last layer is done, while the report is put together
  // (its workers take ~13 ms to stop)
  let closing: Promise<void> | null = null;
  const closeOwnPool = (): Promise<void> => (closing ??= opts.pool ? Promise.resolve() : pool.close());
  try {
    return await check(opts, pool, started, () => void closeOwnPool().catch(() => undefined));
  } finally {
    await closeOwnPool();
  }
}

async function check(opts: CheckOptions, pool: LayerPool, started: number, layersDone: () => void): Promise<CheckReport> {
  const store = opts.store ?? openStore(opts.root);
  const selection = opts.refs.length > 0 ? opts.refs : defaultSelection(store);
  const plan = planExport(store, selection);
  opts.onPlan?.(plan);
  const report: CheckReport = {
    schemaVersion: 1,
    root: store.root,
    ok: false,
    images: [],
    layers: [],
    failed: [...plan.failed],
    problems: store.problems,
    totals: { images: 0, layers: 0, bytes: 0, byteExact: 0, noTarSplit: 0, corrupt: 0, failedLayers: 0, elapsedMs: 0 },
  };
  const layerReports = new Map<string, CheckLayerReport>();
  const layerErrors = new Map<string, L2OError | Error>();
  {
    let done = 0;
    await Promise.all(plan.layers.map(async (layer) => {
      try {
        const r = (await pool.run({
          root: store.root,
          id: layer.id,
          diffDir: layer.diffDir,
          tarDataPath: layer.tarDataPath,
          ...layerTaskFields(layer),
          outDir: null,
          compression: { algorithm: 'none' },
        })) as CheckedLayer;
        const lr = toLayerReport(r);
        layerReports.set(layer.id, lr);
        opts.onLayerDone?.(lr, ++done, plan.layers.length);
      } catch (err) {
        layerErrors.set(layer.id, err as Error);
        done++;
      }
    }));
  }
  layersDone();

  for (const img of plan.images) {
    const failedLayer = img.chain.find((id) => layerErrors.has(id));
    if (failedLayer) {
      const err = layerErrors.get(failedLayer)!;
      report.failed.push({ requested: img.requested.join(', '), id: img.id, code: err instanceof L2OError ? err.code : 'E_LAYER', reason: `layer ${failedLayer.slice(0, 12)}: ${describeError(err)}` });
      continue;
    }
    const layers = img.chain.map((id) => layerReports.get(id)!);
    const diffIDs = layers.map((l) => l.diffID);
    try {
      // a legacy image gets its Docker 1.10 config computed; a 1.10+ image has it stored
      const docker = dockerConfigOf(store, img, layers);
      const status = layers.reduce<LayerStatus>((s, l) => (SEVERITY[l.status] > SEVERITY[s] ? l.status : s), 'ok');
      report.images.push({ legacyId: img.id, refs: img.names, requested: img.requested, dockerImageID: docker.imageID, chainIDs: docker.chainIDs, diffIDs, layers: img.chain, status });
    } catch (err) {
      report.failed.push({ requested: img.requested.join(', '), id: img.id, code: err instanceof L2OError ? err.code : 'E_CONFIG', reason: describeError(err) });
    }
  }

  // layers in a canonical order: as they appear in the images' chains, base first
  const order: string[] = [];
  const seen = new Set<string>();
  for (const img of plan.images) for (const id of img.chain) if (!seen.has(id)) { seen.add(id); order.push(id); }
  report.layers = order.filter((id) => layerReports.has(id)).map((id) => layerReports.get(id)!);
  report.images.sort((a, b) => (a.refs[0] ?? '\uffff' + a.legacyId).localeCompare(b.refs[0] ?? '\uffff' + b.legacyId) || a.legacyId.localeCompare(b.legacyId));
  const t = report.totals;
  t.images = report.images.length;
  t.layers = report.layers.length;
  t.bytes = report.layers.reduce((s, l) => s + l.size, 0);
  t.byteExact = report.layers.filter((l) => l.status === 'ok').length;
  t.noTarSplit = report.layers.filter((l) => l.status === 'no-tar-split').length;
  t.corrupt = report.layers.filter((l) => l.status === 'corrupt').length;
  t.failedLayers = layerErrors.size;
  t.elapsedMs = Date.now() - started;
  report.ok = t.corrupt === 0 && report.failed.length === 0 && !store.problems.some((p) => p.severity === 'error');
  return report;
}
