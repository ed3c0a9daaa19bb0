// Reading graph/<id> for every layer of a big root on two threads. Each layer costs ~17 small
// system calls (lstat, open, read and close of json, layersize and tar-data.json.gz; open, read
// and close of aufs/layers/<id>; lstats of the usually absent parent and checksum) and some JS
// around each: ~65 µs, 1.3 s for 20,000 layers on one core, most of `ls` on such a root. Above
// PARALLEL_MIN_LAYERS a helper thread reads the later part of the ids while this thread reads
// the first part; its records come back through a MessagePort, picked up synchronously
// (Atomics.wait + receiveMessageOnPort), so openStore stays synchronous and gives the same
// records in the same order.
//
// The helper is started before the driver directories are listed (it takes ~60 ms to boot, the
// listings ~50 ms on 20,000 layers) and gets the listings of its ids by message; it sends its
// records in batches, so their serialisation overlaps its reading.
//
// The helper only speeds things up: if it cannot start, fails, or has not answered long after
// this thread finished its own part, this thread reads the rest itself.
import { availableParallelism } from 'node:os';
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { readLayer, type EntryKind, type LayerHints } from './graph-aufs.js';
import type { LegacyLayer } from './types.js';

/** Below this many layers one thread is as fast (the helper's start costs ~50 ms). */
export const PARALLEL_MIN_LAYERS = 2000;
/**
 * The share of the ids this thread reads: it starts at once, while the helper first boots and
 * sends its records (~4 µs each to serialise).
 */
const MAIN_SHARE = 0.52;
/** Records per message from the helper: serialised while it reads on, few messages to drain. */
export const HELPER_BATCH = 1000;
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

/** What the helper gets (workerData); the listings of its ids follow as the port's first message. */
export interface StoreWorkerInput {
  root: string;
  realRoot: string;
  ids: string[];
  driver: string;
  /** Int32Array[0] set to 1 (and notified) once the last reply is posted */
  done: SharedArrayBuffer;
  port: MessagePort;
  /** the helper module the bootstrap imports */
  helperUrl: string;
  /** records per reply (HELPER_BATCH; tests use fewer) */
  batch: number;
}
/** The first message to the helper. */
export interface StoreWorkerHints { hints?: LayerHints }
/** The helper's replies: batches of records in id order, the last one marked. */
export type StoreWorkerReply = { ok: true; layers: LegacyLayer[]; last: boolean } | { ok: false; error: string };

/** Tests only: a lower threshold, another helper module, a shorter wait, and who read what. */
export interface ReadLayersOptions {
  minParallel?: number;
  workerUrl?: URL;
  graceMs?: number;
  /** called with how many records the helper delivered (0: it failed or was not used) */
  onHelper?: (delivered: number) => void;
  /** records per helper reply (default HELPER_BATCH) */
  helperBatch?: number;
}

/** Reads started by startLayerReads: `read` gives the records once the listings are made. */
export interface LayerReads {
  read(hints?: LayerHints): LegacyLayer[];
}

/**
 * readLayer for each id, in order; on two threads when there are many (LEGACY2OCI_STORE_THREADS=1:
 * one). The helper, if any, starts now; the caller makes the listings meanwhile and passes them
 * to `read`, so the listings and the helper's start overlap.
 */
export function startLayerReads(root: string, realRoot: string, ids: string[], driver: string, opts: ReadLayersOptions = {}): LayerReads {
  const parallel = ids.length >= (opts.minParallel ?? PARALLEL_MIN_LAYERS) && availableParallelism() >= 2 && process.env.LEGACY2OCI_STORE_THREADS !== '1';
  const split = parallel ? Math.ceil(ids.length * MAIN_SHARE) : ids.length;
  const helper = parallel ? startHelper({ root, realRoot, ids: ids.slice(split), driver, batch: opts.helperBatch ?? HELPER_BATCH }, opts.workerUrl ?? STORE_WORKER_URL) : null;
  return {
    read(hints) {
      helper?.send(hints);
      const one = (id: string): LegacyLayer => readLayer(root, realRoot, id, driver, hints);
      const started = performance.now();
      const mine = ids.slice(0, split).map(one);
      if (!parallel) {
        opts.onHelper?.(0);
        return mine;
      }
      const theirs = helper ? helper.collect(opts.graceMs ?? Math.max(HELPER_GRACE_MS, HELPER_GRACE_FACTOR * (performance.now() - started))) : null;
      opts.onHelper?.(theirs?.length ?? 0);
      return mine.concat(theirs ?? ids.slice(split).map(one));
    },
  };
}

/** startLayerReads with the listings already made. */
export function readLayers(root: string, realRoot: string, ids: string[], driver: string, hints?: LayerHints, opts: ReadLayersOptions = {}): LegacyLayer[] {
  return startLayerReads(root, realRoot, ids, driver, opts).read(hints);
}

interface Helper {
  /** hand the helper the listings (only the entries of its ids: less to copy) */
  send(hints: LayerHints | undefined): void;
  /** the helper's records, or null when it failed or did not answer within `waitMs` */
  collect(waitMs: number): LegacyLayer[] | null;
}

function only(listing: Map<string, EntryKind> | null | undefined, ids: string[]): Map<string, EntryKind> | null | undefined {
  if (!listing) return listing;
  const kept = new Map<string, EntryKind>();
  for (const id of ids) {
    const kind = listing.get(id);
    if (kind !== undefined) kept.set(id, kind);
  }
  return kept;
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
  const fail = (): null => {
    void worker.terminate();
    return null;
  };
  return {
    send(hints) {
      const message: StoreWorkerHints = hints ? { hints: { graph: only(hints.graph, input.ids) ?? null, diff: only(hints.diff, input.ids) ?? null, ...('layers' in hints ? { layers: only(hints.layers, input.ids) } : {}) } } : {};
      port1.postMessage(message);
    },
    collect(waitMs) {
      const timedOut = Atomics.wait(flag, 0, 0, waitMs) === 'timed-out';
      const layers: LegacyLayer[] = [];
      let complete = false;
      for (let m = timedOut ? undefined : receiveMessageOnPort(port1); m && !complete; m = receiveMessageOnPort(port1)) {
        const reply = m.message as StoreWorkerReply;
        if (!reply.ok) break;
        for (const l of reply.layers) layers.push(l);
        complete = reply.last;
      }
      port1.close();
      // a reply of the wrong length (a helper that read something else) is not used either
      if (!complete || layers.length !== input.ids.length) return fail();
      // structured clone turns Buffers into plain Uint8Arrays
      for (const l of layers) if (l.json) l.json = Buffer.from(l.json.buffer, l.json.byteOffset, l.json.byteLength);
      return layers;
    },
  };
}
