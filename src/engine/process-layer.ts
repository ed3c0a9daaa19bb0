// One layer task, start to finish: tar-split replay when the metadata is usable, otherwise
// regeneration from the diff dir, each streamed through a LayerPipeline. Runs inside a pool
// worker (see workers/layer-worker.ts) but has no worker-specific code, so tests call it directly.
import { lstatSync, realpathSync } from 'node:fs';
import { isAbsolute, relative, sep } from 'node:path';
import { LayerError } from '../errors.js';
import { isId, shortId } from '../ids.js';
import { crc64ReadWindow } from '../tar/crc64.js';
import { replayTarSplit } from '../tar/tarsplit/replay.js';
import type { RegenerateInput } from '../tar/regen/regenerate.js';
import type { TarSink } from '../tar/sink.js';
import { TarSplitUnusableError } from '../tar/tarsplit/unusable.js';
import { LayerPipeline, type LayerDigests } from './layer-pipeline.js';
import { startWaitingTask } from './waiting-tasks.js';
import type { LayerResult, LayerTask } from './types.js';

/** Beyond this many warnings per layer only a count is kept (a tree of a million sockets must not bloat the report). */
export const MAX_WARNINGS = 200;
const READ_BUFFER_BYTES = 1024 * 1024;

function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith('..' + sep) && rel !== '..' && !isAbsolute(rel));
}

function checkTask(task: LayerTask): void {
  if (!isId(task.id)) throw new LayerError('E_LAYER_ID_INVALID', `layer id is not 64 lowercase hex: ${JSON.stringify(task.id)}`);
  if (!DRIVERS.has(task.driver)) throw new LayerError('E_DRIVER_UNSUPPORTED', `layer ${shortId(task.id)}: driver ${JSON.stringify(task.driver)} is not supported`);
  // overlay v1 dirs are read two ways (a full root/ tree, or an upper/ with whiteouts): the
  // driver alone does not say which, so such a task must name its rules
  if (task.driver === 'overlay' && task.rules === undefined) throw new LayerError('E_DRIVER_UNSUPPORTED', `layer ${shortId(task.id)}: an overlay (v1) layer task must say how its dir is read (rules naive for root/, overlay for upper/)`);
  if (task.rules !== undefined && !['aufs', 'overlay', 'naive'].includes(task.rules)) throw new LayerError('E_LAYER_RULES', `layer ${shortId(task.id)}: unknown diff rules ${JSON.stringify(task.rules)}`);
  for (const [what, p] of [['root', task.root], ['diffDir', task.diffDir], ['tarDataPath', task.tarDataPath], ['parentDir', task.parentDir ?? null]] as const) {
    if (p !== null && !isAbsolute(p)) throw new LayerError('E_LAYER_PATH', `layer ${shortId(task.id)}: ${what} must be absolute: ${p}`);
  }
  if (!inside(task.root, task.diffDir)) throw new LayerError('E_LAYER_PATH', `layer ${shortId(task.id)}: diff dir ${task.diffDir} is outside the root`, task.diffDir);
  if (task.tarDataPath !== null && !inside(task.root, task.tarDataPath)) {
    throw new LayerError('E_LAYER_PATH', `layer ${shortId(task.id)}: ${task.tarDataPath} is outside the root`, task.tarDataPath);
  }
  if (task.parentDir && !inside(task.root, task.parentDir)) {
    throw new LayerError('E_LAYER_PATH', `layer ${shortId(task.id)}: parent tree ${task.parentDir} is outside the root`, task.parentDir);
  }
}

const DRIVERS = new Set(['aufs', 'overlay2', 'overlay', 'vfs', 'btrfs']);

type DiffRules = NonNullable<LayerTask['rules']>;

/** The rules a task's dir is read with: given, else the driver's usual ones. */
function rulesOf(task: LayerTask): DiffRules {
  if (task.rules) return task.rules;
  return task.driver === 'aufs' ? 'aufs' : task.driver === 'overlay2' ? 'overlay' : 'naive';
}

/** A naive-diff layer's parent tree: resolved like the diff dir, and it must exist. */
function resolveParentDir(task: LayerTask): string | null {
  if (!task.parentDir) return null;
  const real = resolveDiffDir({ ...task, diffDir: task.parentDir }, () => {});
  if (real === null) throw new LayerError('E_LAYER_DIFF_MISSING', `layer ${shortId(task.id)}: the parent layer's tree ${task.parentDir} is missing`, task.parentDir);
  return real;
}

/**
 * The diff dir to read, or null when it does not exist. A symlink is followed at the top only
 * (the pre-0.7 aufs migration left `diff/<id>` → `graph/<id>/layer`), and must stay in the root.
 */
function resolveDiffDir(task: LayerTask, warn: (m: string) => void): string | null {
  const st = lstatSync(task.diffDir, { throwIfNoEntry: false });
  if (!st) return null;
  let real: string;
  try {
    real = realpathSync(task.diffDir);
  } catch (err) {
    throw new LayerError('E_LAYER_READ', `layer ${shortId(task.id)}: cannot resolve ${task.diffDir}: ${(err as NodeJS.ErrnoException).code ?? err}`, task.diffDir, err);
  }
  const rootReal = realpathSync(task.root);
  if (!inside(rootReal, real)) throw new LayerError('E_LAYER_PATH', `layer ${shortId(task.id)}: diff dir resolves to ${real}, outside the root`, task.diffDir);
  if (!lstatSync(real).isDirectory()) throw new LayerError('E_LAYER_READ', `layer ${shortId(task.id)}: ${task.diffDir} is not a directory`, task.diffDir);
  if (st.isSymbolicLink()) warn(`diff dir is a symlink to ${real}`);
  return real;
}

class Warnings {
  readonly list: string[] = [];
  private dropped = 0;
  add = (message: string): void => {
    if (this.list.length < MAX_WARNINGS) this.list.push(message);
    else this.dropped++;
  };
  result(): string[] {
    return this.dropped > 0 ? [...this.list, `... and ${this.dropped} more warnings`] : this.list;
  }
}

function toResult(task: LayerTask, d: LayerDigests, source: LayerResult['source'], warnings: Warnings, reason?: string): LayerResult {
  const result: LayerResult = {
    id: task.id,
    diffID: d.diffID,
    digest: d.digest,
    size: d.size,
    uncompressedSize: d.uncompressedSize,
    mediaType: d.mediaType,
    source,
    warnings: warnings.result(),
    compressor: d.compressor,
  };
  if (reason !== undefined) result.reason = reason;
  if (d.reused) result.reused = true;
  if (d.sealed) result.sealed = d.sealed;
  return result;
}

/**
 * The compressor threads for this layer (the bytes are the same for any count). zstd's worker
 * threads compete with the other layers' work: while layers still wait for a worker, one thread
 * per zstd is measurably faster (its threads hand every block over). zlib's parallel blocks are
 * what lets a worker produce the next chunk while the last one deflates, so gzip keeps them.
 */
function compressionThreads(task: LayerTask, othersWaiting: number): number | undefined {
  return task.compression.algorithm === 'zstd' && othersWaiting > 0 ? 1 : task.threads;
}

type Regenerator = (input: Omit<RegenerateInput, 'rules'>, sink: TarSink) => Promise<unknown>;

/**
 * The regenerator for these rules. Regeneration is the fallback: its modules (and the xattr
 * addon) are loaded when a layer first needs them, so a worker is ready sooner for replays.
 */
async function loadRegenerator(rules: DiffRules, parentDir: string | null): Promise<Regenerator> {
  if (rules === 'naive') {
    const { regenerateNaiveDiff } = await import('../tar/regen/naive-diff.js');
    return (input, sink) => regenerateNaiveDiff({ ...input, parentDir }, sink);
  }
  const { regenerateAufsLayer } = await import('../tar/regen/regenerate.js');
  return (input, sink) => regenerateAufsLayer({ ...input, rules }, sink);
}

/** Turn one layer into a blob (or only digests when `outDir` is null). */
export async function processLayer(task: LayerTask): Promise<LayerResult> {
  // first, whatever happens next: this task no longer waits
  const threads = compressionThreads(task, startWaitingTask());
  checkTask(task);
  const warnings = new Warnings();
  const diffDir = resolveDiffDir(task, warnings.add);
  let readBuffer: Buffer | null = null;
  /** the read buffer, sized to the pipeline's pieces: file bodies are read and handed over in those */
  const bufferFor = (pipeline: LayerPipeline): Buffer => {
    const size = Math.min(READ_BUFFER_BYTES, pipeline.preferredWriteBytes);
    // the CRC kernel's own input window when there is one: file bodies are checked without a copy
    if (!readBuffer || readBuffer.length !== size) readBuffer = crc64ReadWindow()?.subarray(0, size) ?? Buffer.allocUnsafe(size);
    return readBuffer;
  };

  let reason: string;
  if (task.forceRegenerate) reason = 'regeneration requested';
  else if (task.tarDataPath === null) reason = task.expectedDiffID ? 'no tar-split metadata (layerdb tar-split.json.gz absent)' : 'no tar-split metadata (tar-data.json.gz absent: layer registered before Docker 1.8)';
  else {
    const pipeline = new LayerPipeline(task.outDir, task.compression, threads);
    try {
      // a missing diff dir only matters if some entry has data: the replay then reports the missing file
      await replayTarSplit({ tarDataPath: task.tarDataPath, diffDir: diffDir ?? task.diffDir, readBuffer: bufferFor(pipeline) }, pipeline);
      const digests = await pipeline.finish({ deferCommit: task.deferCommit === true });
      if (task.expectedDiffID && digests.diffID !== task.expectedDiffID) {
        // Docker would refuse such a layer (its tar stream is verified against the diffID); the
        // bytes are a faithful replay of the metadata, so they are kept and the config follows them
        warnings.add(`tar-split replay gives ${digests.diffID}, but the store recorded ${task.expectedDiffID}`);
      }
      return toResult(task, digests, 'tar-split', warnings);
    } catch (err) {
      pipeline.abort();
      if (!(err instanceof TarSplitUnusableError)) throw err;
      reason = err.reason;
    }
  }

  if (diffDir === null) {
    throw new LayerError('E_LAYER_DIFF_MISSING', `layer ${shortId(task.id)}: ${reason}, and the diff dir ${task.diffDir} is missing`, task.diffDir);
  }
  const rules = rulesOf(task);
  const parentDir = rules === 'naive' ? resolveParentDir(task) : null;
  const regenerate = await loadRegenerator(rules, parentDir);
  const pipeline = new LayerPipeline(task.outDir, task.compression, threads);
  try {
    await regenerate({ diffDir, readBuffer: bufferFor(pipeline), warn: warnings.add }, pipeline);
    return toResult(task, await pipeline.finish({ deferCommit: task.deferCommit === true }), 'regenerated', warnings, reason);
  } catch (err) {
    pipeline.abort();
    throw err;
  }
}
