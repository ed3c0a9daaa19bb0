// A small wrapper over piscina: a fixed number of worker threads, each turning one layer task
// into a blob at a time. Results are plain objects; failures are coded errors, and a worker
// that dies (crash, out of memory) rejects its task instead of hanging the pool. piscina itself
// rejects tasks whose worker dies mid-task, but when the worker module fails to load it only
// emits 'error' on the pool (fatal if unhandled) and leaves the task pending forever: the
// wrapper turns that into a rejection of every pending and later task.
import { Piscina } from 'piscina';
import { LayerError, type L2OError, UsageError } from '../errors.js';
import { shortId } from '../ids.js';
import type { LayerResult, LayerTask } from './types.js';
import { fromPlainError, type WorkerReply } from './worker-protocol.js';
import { stopFlagBuffer } from './stop-flag.js';
import { newWaitingCounter } from './waiting-tasks.js';

/** The compiled worker, from dist/src/engine/pool.js. */
/**
 * piscina require()s the worker file first; on Node 20.19+ that is require(esm), which can trip
 * internal assertions or abort the process ("v8::Module::IsGraphAsync") when a worker is
 * terminated while loading. Without require(esm) piscina falls back to import(): 0 crashes in 120
 * runs of the signal test that crashed about 1 in 30 before.
 */
export const WORKER_EXEC_ARGV = [...process.execArgv, '--no-experimental-require-module'];

export const LAYER_WORKER_URL = new URL('../../workers/layer-worker.js', import.meta.url);

export interface LayerPoolOptions {
  /** worker threads (--jobs), >= 1 */
  jobs: number;
  /** idle workers exit after this long (default 30 s) */
  idleTimeoutMs?: number;
  /** the worker module (tests only; default: the compiled workers/layer-worker.js) */
  workerFile?: URL;
  /** start every worker now rather than at the first task (their start-up overlaps the caller's planning) */
  warm?: boolean;
}

export interface LayerRunOptions {
  /** aborting rejects the task with E_LAYER_ABORTED and stops its worker */
  signal?: AbortSignal;
}

export interface LayerPool {
  readonly jobs: number;
  run(task: LayerTask, opts?: LayerRunOptions): Promise<LayerResult>;
  /** Wait for running tasks, then stop the workers. */
  close(): Promise<void>;
  /** Stop the workers now; running tasks reject. */
  destroy(): Promise<void>;
}

export function createLayerPool(opts: LayerPoolOptions): LayerPool {
  if (!Number.isInteger(opts.jobs) || opts.jobs < 1) throw new UsageError(`--jobs must be a whole number >= 1, got ${opts.jobs}`);
  const waiting = newWaitingCounter();
  const piscina = new Piscina<LayerTask, WorkerReply>({
    filename: (opts.workerFile ?? LAYER_WORKER_URL).href,
    execArgv: WORKER_EXEC_ARGV,
    minThreads: opts.warm ? opts.jobs : 0,
    maxThreads: opts.jobs,
    idleTimeout: opts.idleTimeoutMs ?? 30_000,
    concurrentTasksPerWorker: 1,
    workerData: { stopFlag: stopFlagBuffer(), waitingTasks: waiting.buffer },
  });
  /** set once a worker could not even start: every task then fails with it */
  let broken: L2OError | null = null;
  const inFlight = new Set<AbortController>();
  piscina.on('error', (err: unknown) => {
    broken ??= new LayerError('E_LAYER_WORKER', `layer worker failed to start: ${(err as Error)?.message?.split('\n')[0] ?? String(err)}`, undefined, err);
    for (const ac of inFlight) ac.abort(broken);
  });

  return {
    jobs: opts.jobs,
    async run(task, runOpts = {}) {
      if (broken) throw broken;
      const internal = new AbortController();
      inFlight.add(internal);
      const signal = runOpts.signal ? AbortSignal.any([internal.signal, runOpts.signal]) : internal.signal;
      let reply: WorkerReply;
      try {
        // one layer alone may use the whole --jobs budget for its compression (same bytes);
        // the worker uses one thread while other layers wait (waiting-tasks.ts)
        Atomics.add(waiting, 0, 1);
        reply = await piscina.run(task.threads === undefined ? { ...task, threads: opts.jobs } : task, { signal });
      } catch (err) {
        if (broken) throw broken;
        throw workerFailure(task, err);
      } finally {
        inFlight.delete(internal);
      }
      if (!reply || typeof reply !== 'object') throw new LayerError('E_LAYER_WORKER', `layer ${shortId(task.id)}: the worker returned no result`);
      if (reply.ok) return reply.result;
      throw fromPlainError(reply.error);
    },
    async close() {
      // a pool whose workers never started has nothing to wait for
      await (broken ? piscina.destroy() : piscina.close());
    },
    async destroy() {
      await piscina.destroy();
    },
  };
}

function workerFailure(task: LayerTask, err: unknown): L2OError {
  const e = err as Error & { code?: string };
  if (e?.name === 'AbortError' || e?.code === 'ABORT_ERR') {
    return new LayerError('E_LAYER_ABORTED', `layer ${shortId(task.id)}: aborted`, undefined, err);
  }
  return new LayerError('E_LAYER_WORKER', `layer ${shortId(task.id)}: worker failed: ${e?.message ?? String(err)}`, undefined, err);
}
