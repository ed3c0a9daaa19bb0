// SIGINT / SIGTERM during a writing command: stop the layer workers, remove this process's temp
// files and the staging directory, release the index lock if we hold it, and exit 130 / 143. Blobs
// already renamed into place are complete and verified, so a rerun resumes from them.
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { EXIT } from '../errors.js';
import { stopLayerWorkers } from '../export/export.js';

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
 * On SIGINT / SIGTERM: run `cleanup` at once (whatever happens next, this much is done), stop the
 * layer worker threads (one could be about to create another temp file), run `cleanup` again,
 * print `message`, exit 130 / 143. What the main thread writes is synchronous, so it is never
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
    cleanup();
    stopLayerWorkers().then(finish, finish);
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
