// The piscina worker: one layer task per call. Never throws: every failure comes back as a
// plain {code, message, file} envelope that the pool turns into a coded error again.
import { processLayer } from '../src/engine/process-layer.js';
import type { LayerTask } from '../src/engine/types.js';
import { toPlainError, type WorkerReply } from '../src/engine/worker-protocol.js';

export default async function layerWorker(task: LayerTask): Promise<WorkerReply> {
  try {
    return { ok: true, result: await processLayer(task) };
  } catch (err) {
    return { ok: false, error: toPlainError(err) };
  }
}
