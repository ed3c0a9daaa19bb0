// SIGINT / SIGTERM during a writing command: stop new temp files (engine/stop-flag.ts), remove
// this process's temp files and the staging directory, release the index lock if we hold it, and exit 130 / 143. Blobs
// already renamed into place are complete and verified, so a rerun resumes from them.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EXIT } from '../errors.js';
import { requestStop } from '../engine/stop-flag.js';

/** How long in-flight temp-file creations get before the final cleanup. */
const SECOND_CLEANUP_MS = 250;

/** Files this process may have left half-written under a layout directory. */
export function removeOwnTempFiles(layoutDir: string): void {
  const marker = `.tmp-${process.pid}-`;
  for (const dir of [layoutDir, join(layoutDir, 'blobs'), join(layoutDir, 'blobs', 'sha256')]) {
    let names: string[] = [];
    try { names = readdirSync(dir); } catch { continue; }
    for (const n of names) if (n.includes(marker)) rmSync(join(dir, n), { force: true, recursive: true });
  }
  try {
    const lock = join(layoutDir, 'index.json.lock');
    if (readFileSync(lock, 'utf8').split(' ')[0] === String(process.pid)) rmSync(lock, { force: true });
  } catch { /* no lock */ }
}

/**
 * On SIGINT / SIGTERM: stop every new temp file (shared flag), run `cleanup` at once, run it
 * again a moment later (a temp file a worker was creating right then), print `message`, exit
 * 130 / 143. What the main thread writes is synchronous, so it is never
 * half-done here. Returns the function that removes the handlers.
 */
export function onInterrupt(cleanup: () => void, message: string): () => void {
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (stopping) return; // a second Ctrl-C while cleaning up changes nothing
    stopping = true;
    const finish = () => {
      cleanup();
      process.stderr.write(`\ninterrupted (${signal}); ${message}\n`);
      process.exit(signal === 'SIGINT' ? EXIT.SIGINT : EXIT.SIGTERM);
    };
    // Raise the shared stop flag (workers create no more temp files), clean up at once, and
    // again after a moment for a temp file a worker was creating right then. Workers are not
    // terminated: process.exit ends them; terminating one mid-setup can abort Node itself.
    requestStop();
    cleanup();
    setTimeout(finish, SECOND_CLEANUP_MS);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return () => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
}

/** export: this process's temp files under OUT, its staging dir and half-written archive. */
export function installSignalHandlers(out: string): () => void {
  const target = resolve(out);
  return onInterrupt(() => {
    const layoutDir = target.endsWith('.tar') ? `${target}.staging-${process.pid}` : target;
    removeOwnTempFiles(layoutDir);
    if (layoutDir !== target) rmSync(layoutDir, { recursive: true, force: true });
    if (target.endsWith('.tar')) rmSync(`${target}.tmp-${process.pid}`, { force: true });
  }, 'temp files removed, a rerun resumes');
}
