// Reading graph/<id> for every layer of a big root on two threads. Each layer costs ~17 small
// system calls (lstat, open, read and close of json, layersize and tar-data.json.gz; open, read
// and close of aufs/layers/<id>; lstats of the usually absent parent and checksum) and some JS
// around each: ~65 µs, 1.3 s for 20,000 layers on one core, most of `ls` on such a root. Above PARALLEL_MIN_LAYERS a helper
// thread reads the later part of the ids while this thread reads the first part; its records
// come back through a MessagePort, picked up synchronously (Atomics.wait + receiveMessageOnPort),
// so openStore stays synchronous and gives the same records in the same order.
//
// The helper only speeds things up: if it cannot start, fails, or has not answered long after
// this thread finished its own part, this thread reads the rest itself.
import { availableParallelism } from 'node:os';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { readLayer, type LayerHints } from './graph-aufs.js';
import type { LegacyLayer } from './types.js';

/** Below this many layers one thread is as fast (the helper's start costs ~50 ms). */
export const PARALLEL_MIN_LAYERS = 2000;
/**
 * The share of the ids this thread reads: it starts at once, while the helper first boots and
 * at the end sends its records (~4 µs each to serialise).
 */
const MAIN_SHARE = 0.52;
/** After its own part, wait this long at least for the helper (then this many times its own time). */
const HELPER_GRACE_MS = 5000;
const HELPER_GRACE_FACTOR = 3;

export const STORE_WORKER_URL = new URL('../../workers/store-worker.js', import.meta.url);

/**
 * Run as the helper's code (CommonJS, eval): import the helper module (which posts its reply),
 * answer for it if that fails, and in either case raise the flag this thread waits on.
 */
const HELPER_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.helperUrl).catch((err) => {
  try { workerData.port.postMessage({ ok: false, error: String(err) }); } catch {}
}).finally(() => {
  const flag = new Int32Array(workerData.done);
  Atomics.store(flag, 0, 1);
  Atomics.notify(flag, 0);
});`;

/** What the helper gets (workerData) and sends back. */
export interface StoreWorkerInput {
  root: string;
  realRoot: string;
  ids: string[];
  driver: string;
  hints?: LayerHints;
  /** Int32Array[0] set to 1 (and notified) once the reply is posted */
  done: SharedArrayBuffer;
  port: MessagePort;
  /** the helper module the bootstrap imports */
  helperUrl: string;
}
export type StoreWorkerReply = { ok: true; layers: LegacyLayer[] } | { ok: false; error: string };

/** Tests only: a lower threshold, another helper module, a shorter wait, and who read what. */
export interface ReadLayersOptions {
  minParallel?: number;
  workerUrl?: URL;
  graceMs?: number;
  /** called with how many records the helper delivered (0: it failed or was not used) */
  onHelper?: (delivered: number) => void;
}

/** readLayer for each id, in order; on two threads when there are many (LEGACY2OCI_STORE_THREADS=1: one). */
export function readLayers(root: string, realRoot: string, ids: string[], driver: string, hints?: LayerHints, opts: ReadLayersOptions = {}): LegacyLayer[] {
  const one = (id: string): LegacyLayer => readLayer(root, realRoot, id, driver, hints);
  if (ids.length < (opts.minParallel ?? PARALLEL_MIN_LAYERS) || availableParallelism() < 2 || process.env.LEGACY2OCI_STORE_THREADS === '1') {
    opts.onHelper?.(0);
    return ids.map(one);
  }
  const split = Math.ceil(ids.length * MAIN_SHARE);
  const helper = startHelper({ root, realRoot, ids: ids.slice(split), driver, ...(hints ? { hints } : {}) }, opts.workerUrl ?? STORE_WORKER_URL);
  const started = performance.now();
  const mine = ids.slice(0, split).map(one);
  const theirs = helper ? helper.collect(opts.graceMs ?? Math.max(HELPER_GRACE_MS, HELPER_GRACE_FACTOR * (performance.now() - started))) : null;
  opts.onHelper?.(theirs?.length ?? 0);
  return mine.concat(theirs ?? ids.slice(split).map(one));
}

interface Helper {
  /** the helper's records, or null when it failed or did not answer within `waitMs` */
  collect(waitMs: number): LegacyLayer[] | null;
}

function startHelper(input: Omit<StoreWorkerInput, 'done' | 'port' | 'helperUrl'>, url: URL): Helper | null {
  const done = new SharedArrayBuffer(4);
  const flag = new Int32Array(done);
  const { port1, port2 } = new MessageChannel();
  let worker: Worker;
  try {
    // A small bootstrap loads the helper module: if it is missing or fails to load, the
    // bootstrap still answers and raises the flag, so this thread falls back at once instead of
    // waiting out the grace period (a helper that dies outright, out of memory say, still costs it).
    worker = new Worker(HELPER_BOOTSTRAP, { eval: true, workerData: { ...input, done, port: port2, helperUrl: url.href } satisfies StoreWorkerInput, transferList: [port2] });
  } catch {
    port1.close();
    return null;
  }
  // the helper never keeps the process alive, and its failure is only a fallback
  worker.unref();
  worker.on('error', () => undefined);
  return {
    collect(waitMs) {
      const result = Atomics.wait(flag, 0, 0, waitMs) === 'timed-out' ? null : receiveMessageOnPort(port1)?.message as StoreWorkerReply | undefined;
      port1.close();
      // a reply of the wrong length (a helper that read something else) is not used either
      if (!result || !result.ok || result.layers.length !== input.ids.length) {
        void worker.terminate();
        return null;
      }
      // structured clone turns Buffers into plain Uint8Arrays
      for (const l of result.layers) if (l.json) l.json = Buffer.from(l.json.buffer, l.json.byteOffset, l.json.byteLength);
      return result.layers;
    },
  };
}
