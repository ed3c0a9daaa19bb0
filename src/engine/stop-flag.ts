// One flag, shared by the main thread and every layer worker, that says "this process is being
// interrupted: create no more temp files". The signal handler raises it, removes this process's
// temp files, waits a moment and removes them again, then exits, without terminating worker
// threads (terminating a worker while it sets up a zlib stream aborts Node 20 with "close
// before init"). A worker checks the flag right before creating any temp file (BlobWriter).
import { isMainThread, workerData } from 'node:worker_threads';

const fromParent = (workerData as { stopFlag?: unknown } | null)?.stopFlag;
const FLAG = new Int32Array(!isMainThread && fromParent instanceof SharedArrayBuffer ? fromParent : new SharedArrayBuffer(4));

/** The shared memory to hand to workers (Piscina workerData.stopFlag). */
export function stopFlagBuffer(): SharedArrayBuffer {
  return FLAG.buffer as SharedArrayBuffer;
}

export function requestStop(): void {
  Atomics.store(FLAG, 0, 1);
}

export function stopRequested(): boolean {
  return Atomics.load(FLAG, 0) === 1;
}
