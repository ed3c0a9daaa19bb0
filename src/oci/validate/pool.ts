// Runs blob checks on a piscina worker pool (dist/workers/validate-worker.js), or in this
// thread when jobs is 0 or the compiled worker is not there (e.g. running from sources).
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Piscina } from 'piscina';
import { checkBlob, type BlobResult, type BlobTask } from './blob-check.js';
import { WORKER_EXEC_ARGV } from '../../engine/pool.js';

export interface BlobChecker {
  check(task: BlobTask): Promise<BlobResult>;
  close(): Promise<void>;
}

const WORKER_URL = new URL('../../../workers/validate-worker.js', import.meta.url);

export function createChecker(jobs: number | undefined): BlobChecker {
  const threads = jobs ?? availableParallelism();
  if (threads <= 0 || !existsSync(fileURLToPath(WORKER_URL))) {
    return { check: (task) => checkBlob(task), close: async () => {} };
  }
  let pool: Piscina | undefined;
  return {
    check(task) {
      // started on first use: a layout with no layers never pays for the threads
      pool ??= new Piscina({ filename: WORKER_URL.href, execArgv: WORKER_EXEC_ARGV, minThreads: 1, maxThreads: threads, idleTimeout: 1000 });
      // checkBlob never rejects, so a rejection is the pool's own failure (a worker that died or
      // failed to load; Node 20 has a rare internal assertion when a worker loads an ESM
      // handler). The blob is then checked in this thread: a report never depends on the pool.
      return (pool.run(task) as Promise<BlobResult>).catch((err: unknown) => {
        if (process.env.LEGACY2OCI_DEBUG) process.stderr.write(`validate: worker failed, checking ${task.file} in-process: ${String(err)}\n`);
        return checkBlob(task);
      });
    },
    async close() {
      await pool?.destroy();
    },
  };
}
