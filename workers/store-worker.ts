// The helper thread of src/store/parallel-layers.ts: takes the listings of its ids from the
// port's first message, reads graph/<id> records for its share of the ids and posts them back in
// batches, a failure as {ok:false}. Its bootstrap (HELPER_BOOTSTRAP) then raises the flag the
// main thread is waiting on.
import { once } from 'node:events';
import { workerData } from 'node:worker_threads';
import type { StoreWorkerHints, StoreWorkerInput, StoreWorkerReply } from '../src/store/parallel-layers.js';

const input = workerData as StoreWorkerInput;
try {
  const { readLayer } = await import('../src/store/graph-aufs.js');
  const [{ hints }] = (await once(input.port, 'message')) as [StoreWorkerHints];
  for (let start = 0; start < input.ids.length || start === 0; start += input.batch) {
    const end = Math.min(start + input.batch, input.ids.length);
    const layers = input.ids.slice(start, end).map((id) => readLayer(input.root, input.realRoot, id, input.driver, hints));
    input.port.postMessage({ ok: true, layers, last: end === input.ids.length } satisfies StoreWorkerReply);
  }
} catch (err) {
  input.port.postMessage({ ok: false, error: String(err) } satisfies StoreWorkerReply);
} finally {
  input.port.close();
}
