// The pool worker `check` runs: the export worker's job with nothing written (outDir null), plus,
// for a layer whose tar-split replay failed, a second pass listing every changed file.
import { realpathSync } from 'node:fs';
import { processLayer } from '../engine/process-layer.js';
import type { LayerResult, LayerTask } from '../engine/types.js';
import { toPlainError, type WorkerReply } from '../engine/worker-protocol.js';
import { diagnoseTarSplit, type Diagnosis } from './diagnose.js';

export interface CheckedLayer extends LayerResult {
  /** present when tar-split data existed but could not reproduce the layer */
  diagnosis?: Diagnosis;
}

export async function checkLayer(task: LayerTask): Promise<CheckedLayer> {
  const result: CheckedLayer = await processLayer({ ...task, outDir: null });
  if (result.source === 'regenerated' && task.tarDataPath !== null && result.reason?.startsWith('tar-split:')) {
    // processLayer confined the diff dir to the root already (a symlink at the top is followed)
    result.diagnosis = await diagnoseTarSplit(task.tarDataPath, realpathSync(task.diffDir));
  }
  return result;
}

export default async function checkWorker(task: LayerTask): Promise<WorkerReply> {
  try {
    return { ok: true, result: await checkLayer(task) };
  } catch (err) {
    return { ok: false, error: toPlainError(err) };
  }
}
