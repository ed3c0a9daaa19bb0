// Starting the layer pool before the command's own modules load. A worker thread takes a few
// hundred milliseconds to be ready (a Node isolate, then our module graph), and until now the
// pool was made only once the root was read and planned, so every export and check began with
// both cores idle. `main` starts the pool first thing for the commands that will need it; the
// job takes it over when the worker file and --jobs match, and a pool nobody took is closed.
import { LAYER_WORKER_URL, createLayerPool, type LayerPool } from './pool.js';

/** The worker `check` runs (check-worker.js, beside check.ts in dist/src/check). */
export const CHECK_WORKER_URL = new URL('../check/check-worker.js', import.meta.url);

export type PoolKind = 'export' | 'check';

let prewarmed: { file: string; jobs: number; pool: LayerPool } | null = null;

const workerFileOf = (kind: PoolKind): URL => (kind === 'check' ? CHECK_WORKER_URL : LAYER_WORKER_URL);

/** Start the pool for `kind` now. Best effort: any failure shows up again, properly reported, when the job makes its pool. */
export function prewarmLayerPool(kind: PoolKind, jobs: number): void {
  if (prewarmed) return;
  const workerFile = workerFileOf(kind);
  try {
    prewarmed = { file: workerFile.href, jobs, pool: createLayerPool({ jobs, workerFile, warm: true }) };
  } catch {
    prewarmed = null;
  }
}

/** The prewarmed pool when it is the one asked for, else a new (warm) one. The caller closes it. */
export function takeLayerPool(workerFile: URL, jobs: number): LayerPool {
  const p = prewarmed;
  prewarmed = null;
  if (p && p.file === workerFile.href && p.jobs === jobs) return p.pool;
  if (p) void p.pool.close();
  return createLayerPool({ jobs, workerFile, warm: true });
}

/** Close a prewarmed pool no job took (--help, a usage error, a dry run). */
export async function releasePrewarmedPool(): Promise<void> {
  const p = prewarmed;
  prewarmed = null;
  if (p) await p.pool.close();
}

/**
 * The --jobs an export or check command line asks for, read ahead of the command's own parsing:
 * null when it cannot be told for sure (the command then reports the problem itself), or when
 * the command will not run layers at all (--help, --dry-run).
 */
export function jobsFromArgv(argv: readonly string[], cores: number): number | null {
  let jobs = cores;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') break;
    if (a === '--help' || a === '-h' || a === '--dry-run') return null;
    let value: string | undefined;
    if (a === '--jobs' || a === '-j') value = argv[++i];
    else if (a.startsWith('--jobs=')) value = a.slice('--jobs='.length);
    else if (/^-j\d/.test(a)) value = a.slice(2);
    else continue;
    if (value === undefined || !/^[1-9]\d{0,2}$/.test(value)) return null;
    jobs = Number(value);
  }
  return jobs;
}
