// Preload for the bench's legacy2oci runs: `node --import dist/scripts/rss-preload.js …` with
// LEGACY2OCI_BENCH_RSS=<file> writes the process's peak RSS (KiB) to <file> at exit. Kept apart
// from bench.ts and free of imports beyond node's own: a preload also runs in every worker thread
// (--import is in their execArgv), and loading the whole bench there cost each run ~30 ms of
// start-up on every thread that the tool itself does not have.
import { writeFileSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

const file = process.env.LEGACY2OCI_BENCH_RSS;
if (isMainThread && file) {
  process.on('exit', () => {
    try {
      // maxRSS covers the whole process, worker threads included
      writeFileSync(file, String(process.resourceUsage().maxRSS));
    } catch {
      /* best effort */
    }
  });
}
