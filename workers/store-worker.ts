// The helper thread of src/store/parallel-layers.ts: reads graph/<id> records for its share of
// the ids and posts them back, a failure as {ok:false}. Its bootstrap (HELPER_BOOTSTRAP) then
// raises the flag the main thread is waiting on.
import { workerData } from 'node:worker_threads';
import type { StoreWorkerInput, StoreWorkerReply } from '../src/store/parallel-layers.js';

const input = workerData as StoreWorkerInput;
let reply: StoreWorkerReply;
try {
  const { readLayer } = await import('../src/store/graph-aufs.js');
  reply = { ok: true, layers: input.ids.map((id) => readLayer(input.root, input.realRoot, id, input.driver, input.hints)) };
} catch (err) {
  reply = { ok: false, error: String(err) };
}
try {
  input.port.postMessage(reply);
} finally {
  input.port.close();
}
