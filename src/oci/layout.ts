// The OCI image layout directory as a whole: `oci-layout`, `blobs/`, and `index.json` replaced
// atomically under a lock, so several exports (and migrate) can write into one layout at once and
// a reader never sees a half-written index.

import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync, constants as fsc } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { OutputError } from '../errors.js';

export const OCI_LAYOUT_FILE = 'oci-layout';
export const INDEX_FILE = 'index.json';
const LOCK_FILE = 'index.json.lock';
const LAYOUT_BYTES = Buffer.from('{"imageLayoutVersion":"1.0.0"}');
const EMPTY_INDEX = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');

function fsyncDir(dir: string): void {
  const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

/** Write a file atomically: temp in the same dir, fsync, rename, fsync the dir. */
export function writeFileAtomic(path: string, bytes: Buffer): void {
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644);
  try {
    let off = 0;
    while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw err;
  }
  closeSync(fd);
  try {
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
  fsyncDir(dirname(path));
}

/**
 * Make `out` an OCI layout if it is not one yet: blobs/sha256/, oci-layout, and an empty index.
 * The index is written last, so a directory with index.json is always a complete layout.
 */
export function initLayout(out: string): void {
  try {
    mkdirSync(join(out, 'blobs', 'sha256'), { recursive: true });
    if (!existsSync(join(out, OCI_LAYOUT_FILE))) writeFileAtomic(join(out, OCI_LAYOUT_FILE), LAYOUT_BYTES);
    if (!existsSync(join(out, INDEX_FILE))) writeFileAtomic(join(out, INDEX_FILE), EMPTY_INDEX);
  } catch (err) {
    throw new OutputError(errCode(err), `${out}: cannot create the OCI layout (${(err as Error).message})`, out, err);
  }
}

function errCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' ? 'E_NO_SPACE' : code === 'EACCES' || code === 'EPERM' ? 'E_PERMISSION' : 'E_OUTPUT';
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** A lock whose owner is gone (same host, dead pid) or unreadable and old is stale. */
function lockIsStale(lockPath: string, staleAfterMs: number): boolean {
  try {
    const text = readFileSync(lockPath, 'utf8');
    const [pidText, host, startedText] = text.split(' ');
    const pid = Number(pidText);
    if (host === hostname() && Number.isInteger(pid) && pid > 0) return !processAlive(pid);
    return Date.now() - Number(startedText) > staleAfterMs;
  } catch (err) {
    // vanished: not stale, just retry; unreadable (being written): retry too
    return false;
  }
}

export interface LockOptions {
  timeoutMs?: number;
  /** a lock from another host is broken after this long */
  staleAfterMs?: number;
}

/**
 * Run `fn` while holding OUT/index.json.lock. The lock holds `pid host startTime`; a lock left by a
 * killed process on this host is detected by its pid and broken (renamed away first, so two
 * breakers never both win).
 */
export async function withIndexLock<T>(out: string, fn: () => T | Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lockPath = join(out, LOCK_FILE);
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  let delay = 5;
  for (;;) {
    let fd: number | null = null;
    try {
      fd = openSync(lockPath, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644);
      writeSync(fd, `${process.pid} ${hostname()} ${Date.now()}`);
      fsyncSync(fd);
      closeSync(fd);
      fd = null;
      break;
    } catch (err) {
      if (fd !== null) closeSync(fd);
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw new OutputError(errCode(err), `${lockPath}: cannot take the index lock (${(err as Error).message})`, lockPath, err);
    }
    if (lockIsStale(lockPath, opts.staleAfterMs ?? 10 * 60_000)) {
      const aside = `${lockPath}.stale-${process.pid}-${Date.now().toString(36)}`;
      try {
        renameSync(lockPath, aside);
        rmSync(aside, { force: true });
      } catch { /* someone else broke it first */ }
      continue;
    }
    if (Date.now() > deadline) throw new OutputError('E_LOCKED', `${lockPath}: layout is locked by another process (remove the file if no legacy2oci is running)`, lockPath);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
  try {
    return await fn();
  } finally {
    rmSync(lockPath, { force: true });
  }
}

export function readIndex(out: string): Buffer | null {
  try {
    return readFileSync(join(out, INDEX_FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Replace index.json with `update(current)` atomically, under the lock. */
export async function updateIndex(out: string, update: (current: Buffer | null) => Buffer): Promise<Buffer> {
  return withIndexLock(out, () => {
    const next = update(readIndex(out));
    try {
      writeFileAtomic(join(out, INDEX_FILE), next);
    } catch (err) {
      throw new OutputError(errCode(err), `${join(out, INDEX_FILE)}: cannot write (${(err as Error).message})`, join(out, INDEX_FILE), err);
    }
    return next;
  });
}
