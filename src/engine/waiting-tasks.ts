// How many layer tasks of a pool are still waiting for a worker, shared between the pool (which
// counts a task in when it is submitted) and its workers (which count it out when they start it).
// zstd may compress one layer on several threads (the same bytes for any count), which pays off
// only when the other workers would otherwise idle: with layers still waiting, every core already
// has a layer (see compressionThreads in process-layer.ts). Only speed depends on this count.
import { isMainThread, workerData } from 'node:worker_threads';

const fromParent = (workerData as { waitingTasks?: unknown } | null)?.waitingTasks;
const COUNTER = !isMainThread && fromParent instanceof SharedArrayBuffer ? new Int32Array(fromParent) : null;

/** A fresh counter for a pool (hand its buffer to the workers as workerData.waitingTasks). */
export function newWaitingCounter(): Int32Array {
  return new Int32Array(new SharedArrayBuffer(4));
}

/** In a pool worker, as a task starts: how many other tasks still wait for a worker (0 outside a pool). */
export function startWaitingTask(): number {
  if (!COUNTER) return 0;
  return Math.max(0, Atomics.sub(COUNTER, 0, 1) - 1);
}
