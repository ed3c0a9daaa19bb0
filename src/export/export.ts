// The export job: legacy root + references → OCI image layout (directory or .tar).
//
//   openStore → planExport → pool runs each unique layer once (costliest first)
//   → as soon as an image's layers are done: Docker 1.10 config, manifest, blobs
//   → index.json merged atomically under the layout lock (+ manifest.json for docker load)
//
// Failures are per image: a broken chain or a failed layer is reported and the rest goes on.

import { mkdirSync, readdirSync, realpathSync, rmSync, statfsSync, existsSync } from 'node:fs';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { EXIT, L2OError, UsageError, describeError } from '../errors.js';
import { openStore, type LegacyStore } from '../store/index.js';
import { layerTaskFields, planExport, type ExportPlan, type FailedImage, type ImagePlan, type LayerPlan } from '../plan/plan.js';
import type { CompressionSpec, LayerResult } from '../engine/types.js';
import { LAYER_WORKER_URL, type LayerPool } from '../engine/pool.js';
import { takeLayerPool } from '../engine/prewarm.js';
import { initLayout, removeStaleLayoutTemps, updateIndex } from '../oci/layout.js';
import { commitSealedBlob, removeStaleTemps } from '../oci/blob-store.js';
import { assembleImage, type AssembledImage } from './assemble.js';
import { mergeIndex, type IndexEntryInput } from '../oci/manifest.js';
import { writeDockerSaveFiles } from './docker-save.js';

export interface ExportOptions {
  root: string;
  refs: string[];
  out: string;
  compression: CompressionSpec;
  jobs: number;
  rename?: string;
  dockerSave?: boolean;
  dryRun?: boolean;
  /** use this pool instead of creating one (migrate shares one across hosts) */
  pool?: LayerPool;
  /** already-open store (migrate) */
  store?: LegacyStore;
  /** prepended to every exported name (migrate's `prefix`) */
  namePrefix?: string;
  onLayerDone?: (result: LayerResult, done: number, total: number) => void;
  /**
   * A result known without running the layer (migrate's journal: a blob this tool wrote, verified
   * and fsynced before). Returning undefined runs the layer as usual.
   */
  knownLayer?: (layer: LayerPlan, compression: CompressionSpec) => LayerResult | undefined;
  onImageDone?: (image: ImageReport) => void;
  /** called once with the plan before any work */
  onPlan?: (plan: ExportPlan) => void;
}

export interface LayerReport {
  legacyId: string;
  diffID: string;
  digest: string;
  size: number;
  uncompressedSize: number;
  mediaType: string;
  source: LayerResult['source'];
  reason?: string;
  warnings: string[];
  reused: boolean;
}

export interface ImageReport {
  legacyId: string;
  refs: string[];
  requested: string[];
  dockerImageID: string;
  chainIDs: string[];
  configDigest: string;
  configFixes: string[];
  manifestDigest: string;
  manifestSize: number;
  layers: LayerReport[];
}

export interface ExportReport {
  schemaVersion: 1;
  root: string;
  out: string;
  compression: string;
  dryRun: boolean;
  images: ImageReport[];
  failed: FailedImage[];
  plan: { images: number; uniqueLayers: number; bytesToRead: number; estimatedOutputBytes: number };
  totals: { layersProcessed: number; layersReused: number; layersRegenerated: number; bytesRead: number; bytesWritten: number; elapsedMs: number };
}

/** Rough compressed/uncompressed ratios, for the dry-run estimate and the free-space check. */
const RATIO: Record<CompressionSpec['algorithm'], number> = { none: 1, gzip: 0.5, zstd: 0.45 };

export function compressionLabel(c: CompressionSpec): string {
  return c.algorithm === 'none' ? 'none' : `${c.algorithm}:${c.level ?? 'default'}${c.engine ? `(${c.engine})` : ''}`;
}

/**
 * Bytes in use on the filesystems holding the root: no set of layers can hold more file data than
 * that (each diff dir's files are stored there once), whatever `layersize` claims. null: unknown.
 */
function usedBytesUnder(root: string): number | null {
  let best: number | null = null;
  for (const p of [root, join(root, 'aufs', 'diff'), join(root, 'overlay2'), join(root, 'overlay'), join(root, 'vfs', 'dir'), join(root, 'btrfs', 'subvolumes')]) {
    try {
      const st = statfsSync(p);
      const used = (Number(st.blocks) - Number(st.bfree)) * Number(st.bsize);
      if (Number.isFinite(used) && used >= 0) best = Math.max(best ?? 0, used);
    } catch { /* not there: no bound from it */ }
  }
  return best;
}

/**
 * A real run checks free space first: the estimate plus 5 % must fit. The estimate comes from
 * `layersize`, which is unreliable (legacy-formats.md §8 item 9), so it is capped at what the root's
 * filesystem can hold: a damaged or crafted layersize never blocks an export by itself.
 */
function checkFreeSpace(dir: string, needed: number): void {
  let probe = dir;
  while (!existsSync(probe)) probe = dirname(probe);
  const st = statfsSync(probe);
  const free = Number(st.bavail) * Number(st.bsize);
  if (free < needed * 1.05) {
    throw new L2OError('E_NO_SPACE', `${dir}: not enough free space (about ${Math.ceil(needed / 1e6)} MB needed, ${Math.floor(free / 1e6)} MB free)`, { exitCode: EXIT.USAGE, file: dir });
  }
}

/** The nearest existing ancestor of `p` (itself included), resolved through symlinks. */
function realAncestor(p: string): string {
  let probe = p;
  for (;;) {
    try {
      return realpathSync(probe);
    } catch {
      const up = dirname(probe);
      if (up === probe) return probe;
      probe = up;
    }
  }
}

/** The root is never written: an OUT inside it (or equal to it) is refused before anything is done. */
function assertOutOutsideRoot(out: string, root: string): void {
  const realRoot = realAncestor(root);
  const realOut = realAncestor(out);
  const prefix = realRoot.endsWith(sep) ? realRoot : realRoot + sep;
  if (realOut === realRoot || realOut.startsWith(prefix) || out === root || out.startsWith(root.endsWith(sep) ? root : root + sep)) {
    throw new UsageError(`${out}: OUT is inside the legacy root ${root}; the root is never written, choose an OUT elsewhere`);
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** `<out>.staging-<pid>` dirs and `<out>.tmp-<pid>` files left by killed `.tar` exports. */
function removeStaleArchiveTemps(out: string): void {
  const dir = dirname(out);
  const base = basename(out);
  let names: string[] = [];
  try { names = readdirSync(dir); } catch { return; }
  for (const n of names) {
    const m = n.startsWith(base) ? /^\.(?:staging|tmp)-(\d+)$/.exec(n.slice(base.length)) : null;
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid !== process.pid && !pidAlive(pid)) rmSync(join(dir, n), { recursive: true, force: true });
  }
}

/** Failures before any work (OUT cannot be created, no space) mean "nothing done": exit 2. */
function nothingDone(err: unknown): never {
  if (err instanceof L2OError && err.exitCode !== EXIT.USAGE) {
    throw new L2OError(err.code, err.message, { exitCode: EXIT.USAGE, file: err.file, cause: err });
  }
  throw err;
}

export async function runExport(opts: ExportOptions): Promise<ExportReport> {
  if (opts.pool || opts.dryRun) return exportWith(opts, opts.pool ?? null);
  // the workers start (a Node isolate and our modules each) while the root is read and planned
  const pool = takeLayerPool(LAYER_WORKER_URL, opts.jobs);
  try {
    return await exportWith(opts, pool);
  } finally {
    await pool.close();
  }
}

/** The export with its layer pool; null only for a dry run, which returns before any layer is run. */
async function exportWith(opts: ExportOptions, pool: LayerPool | null): Promise<ExportReport> {
  const started = Date.now();
  const store = opts.store ?? openStore(opts.root);
  const plan = planExport(store, opts.refs, { rename: opts.rename });
  if (opts.namePrefix) for (const img of plan.images) img.names = img.names.map((n) => opts.namePrefix + n);
  opts.onPlan?.(plan);
  const used = usedBytesUnder(store.root);
  const plausibleBytes = used === null ? plan.bytesToRead : Math.min(plan.bytesToRead, used);
  const estimatedOutputBytes = Math.ceil(plausibleBytes * RATIO[opts.compression.algorithm]);
  const out = resolve(opts.out);
  assertOutOutsideRoot(out, store.root);
  const report: ExportReport = {
    schemaVersion: 1,
    root: store.root,
    out,
    compression: compressionLabel(opts.compression),
    dryRun: Boolean(opts.dryRun),
    images: [],
    failed: [...plan.failed],
    plan: { images: plan.images.length, uniqueLayers: plan.layers.length, bytesToRead: plan.bytesToRead, estimatedOutputBytes },
    totals: { layersProcessed: 0, layersReused: 0, layersRegenerated: 0, bytesRead: 0, bytesWritten: 0, elapsedMs: 0 },
  };
  if (opts.dryRun || plan.images.length === 0) {
    report.totals.elapsedMs = Date.now() - started;
    return report;
  }

  const asArchive = out.endsWith('.tar');
  const layoutDir = asArchive ? `${out}.staging-${process.pid}` : out;
  try {
    checkFreeSpace(asArchive ? dirname(out) : out, estimatedOutputBytes * (asArchive ? 2 : 1));
    if (asArchive) removeStaleArchiveTemps(out);
  } catch (err) {
    nothingDone(err);
  }

  try {
    try {
      if (asArchive) {
        rmSync(layoutDir, { recursive: true, force: true });
        mkdirSync(layoutDir, { recursive: true });
        // tar-stream is loaded only for an archive OUT
        if (existsSync(out)) await (await import('../oci/archive.js')).unpackLayout(out, layoutDir);
      }
      initLayout(layoutDir);
      // what killed runs left behind (their pid is gone): temp blobs and index/manifest temps
      removeStaleTemps(layoutDir);
      removeStaleLayoutTemps(layoutDir);
    } catch (err) {
      nothingDone(err);
    }
    const layerPool = pool!;
    // One promise per unique layer, submitted costliest first; images wait on their own layers.
    let layersDone = 0;
    const layerResults = new Map<string, Promise<LayerResult>>();
    for (const layer of plan.layers) {
      const known = opts.knownLayer?.(layer, opts.compression);
      const p = (known ? Promise.resolve({ ...known, reused: true }) : layerPool.run({
        root: store.root,
        id: layer.id,
        diffDir: layer.diffDir,
        tarDataPath: layer.tarDataPath,
        ...layerTaskFields(layer),
        outDir: layoutDir,
        compression: opts.compression,
        deferCommit: true,
      }).then(commitLayerBlob)).then((r) => {
        layersDone++;
        report.totals.layersProcessed++;
        if (r.reused) report.totals.layersReused++;
        if (r.source === 'regenerated') report.totals.layersRegenerated++;
        report.totals.bytesRead += r.uncompressedSize;
        if (!r.reused) report.totals.bytesWritten += r.size;
        opts.onLayerDone?.(r, layersDone, plan.layers.length);
        return r;
      });
      p.catch(() => {}); // handled by each image that needs it
      layerResults.set(layer.id, p);
    }

    const entries: IndexEntryInput[] = [];
    const assembled: AssembledImage[] = [];
    await Promise.all(plan.images.map(async (img: ImagePlan) => {
      try {
        const results = await Promise.all(img.chain.map((id) => layerResults.get(id)!));
        const a = assembleImage(store, img, results, layoutDir);
        assembled.push(a);
        entries.push(...a.indexEntries);
        const imageReport = toImageReport(img, a, results);
        report.images.push(imageReport);
        opts.onImageDone?.(imageReport);
      } catch (err) {
        report.failed.push({ requested: img.requested.join(', '), id: img.id, code: err instanceof L2OError ? err.code : 'E_LAYER', reason: describeError(err) });
      }
    }));

    if (entries.length > 0) {
      await updateIndex(layoutDir, (current) => mergeIndex(current, entries));
      if (opts.dockerSave) await writeDockerSaveFiles(layoutDir, assembled);
    }
    // an archive is (re)written only when something was added: a run that exported nothing
    // leaves an existing archive as it was and creates no empty one
    if (asArchive && entries.length > 0) await (await import('../oci/archive.js')).packLayout(layoutDir, out);
  } finally {
    if (asArchive) rmSync(layoutDir, { recursive: true, force: true });
  }
  // Canonical order in the report too, whatever order the images finished in.
  report.images.sort((a, b) => (a.refs[0] ?? a.legacyId).localeCompare(b.refs[0] ?? b.legacyId) || a.legacyId.localeCompare(b.legacyId));
  report.totals.elapsedMs = Date.now() - started;
  return report;
}

function toImageReport(img: ImagePlan, a: AssembledImage, results: LayerResult[]): ImageReport {
  return {
    legacyId: img.id,
    refs: img.names,
    requested: img.requested,
    dockerImageID: a.dockerImageID,
    chainIDs: a.chainIDs,
    configDigest: a.configDigest,
    configFixes: a.configFixes,
    manifestDigest: a.manifestDigest,
    manifestSize: a.manifestSize,
    layers: results.map((r) => ({
      legacyId: r.id,
      diffID: r.diffID,
      digest: r.digest,
      size: r.size,
      uncompressedSize: r.uncompressedSize,
      mediaType: r.mediaType,
      source: r.source,
      ...(r.reason ? { reason: r.reason } : {}),
      warnings: r.warnings,
      reused: Boolean(r.reused),
    })),
  };
}

/**
 * The worker left its blob sealed (written, checked, not yet synced nor renamed): this thread
 * waits for the device instead, in the thread pool, while the worker goes on with its next layer.
 * The layer counts as done (report, onLayerDone, migrate's journal) only once its blob is in place.
 */
async function commitLayerBlob(result: LayerResult): Promise<LayerResult> {
  const { sealed, ...rest } = result;
  if (!sealed) return rest;
  const { replaced } = await commitSealedBlob(sealed);
  // the same bytes were committed by another layer meanwhile: this one wrote nothing new
  return replaced ? { ...rest, reused: true } : rest;
}
