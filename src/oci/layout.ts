// The OCI image layout directory as a whole: `oci-layout`, `blobs/`, and `index.json` replaced
// atomically under a lock, so several exports (and migrate) can write into one layout at once and
// a reader never sees a half-written index.

import { randomBytes } from 'node:crypto';
import {
  closeSync, existsSync, fstatSync, fsyncSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, statSync,
  renameSync, rmSync, unlinkSync, writeSync, constants as fsc,
} from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { OutputError } from '../errors.js';
import { processAlive, processStartTime } from '../process-info.js';
import { syncBlobsDir } from './blob-store.js';

export const OCI_LAYOUT_FILE = 'oci-layout';
export const INDEX_FILE = 'index.json';
const LOCK_FILE = 'index.json.lock';
const LAYOUT_BYTES = Buffer.from('{"imageLayoutVersion":"1.0.0"}');
const EMPTY_INDEX = Buffer.from('{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
/** A lock whose content cannot be parsed (an older writer died mid-write) is stale after this long. */
const UNPARSEABLE_STALE_MS = 10_000;

function fsyncDir(dir: string): void {
  const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try { fsyncSync(fd); } finally { closeSync(fd); }
}

let tempSeq = 0;
/** `<path>.tmp-<pid>-<unique>`: the pid lets a later run tell a dead writer's leftovers from a live one's. */
function tempPath(path: string): string {
  return `${path}.tmp-${process.pid}-${Date.now().toString(36)}${(++tempSeq).toString(36)}${randomBytes(3).toString('hex')}`;
}

function writeAll(fd: number, bytes: Buffer): void {
  let off = 0;
  while (off < bytes.length) off += writeSync(fd, bytes, off, bytes.length - off);
}

/** Write a file atomically: temp in the same dir, fsync, rename, fsync the dir. */
export function writeFileAtomic(path: string, bytes: Buffer): void {
  const tmp = tempPath(path);
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o644);
  try {
    writeAll(fd, bytes);
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
    mkdirs(join(out, 'blobs', 'sha256'));
    if (!existsSync(join(out, OCI_LAYOUT_FILE))) writeFileAtomic(join(out, OCI_LAYOUT_FILE), LAYOUT_BYTES);
    if (!existsSync(join(out, INDEX_FILE))) writeFileAtomic(join(out, INDEX_FILE), EMPTY_INDEX);
  } catch (err) {
    throw new OutputError(errCode(err), `${out}: cannot create the OCI layout (${(err as Error).message})`, out, err);
  }
}

/**
 * mkdir -p that reports the real cause: Node's recursive mkdir turns EROFS/EACCES on a missing
 * parent into a misleading ENOENT for the deepest path.
 */
function mkdirs(dir: string): void {
  try {
    mkdirExisting(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dirname(dir) === dir) throw err;
    mkdirs(dirname(dir));
    // another writer making the same layout may have made it meanwhile
    mkdirExisting(dir);
  }
}

/** mkdir that accepts a directory already there (made by us before, or by a concurrent writer). */
function mkdirExisting(dir: string): void {
  try {
    mkdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    if (!statSync(dir).isDirectory()) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${dir}'`), { code: 'ENOTDIR' });
  }
}

function errCode(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'ENOSPC' ? 'E_NO_SPACE' : code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'E_PERMISSION' : 'E_OUTPUT';
}

/**
 * Temp files a killed writer left in the layout's top directory (`index.json.tmp-<pid>-…`,
 * `manifest.json.tmp-…`, lock temps, `index.json.lock.stale-<pid>-…`): removed when their pid is
 * gone. Blob temps are removeStaleTemps' (blob-store.ts). Returns the names removed.
 */
export function removeStaleLayoutTemps(out: string): string[] {
  const removed: string[] = [];
  let names: string[] = [];
  try { names = readdirSync(out); } catch { return removed; }
  for (const n of names) {
    const m = /\.(?:tmp|stale)-(\d+)-[0-9a-z]+$/.exec(n);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    const p = join(out, n);
    const st = lstatSync(p, { throwIfNoEntry: false });
    if (!st || !st.isFile()) continue;
    try {
      unlinkSync(p);
      removed.push(n);
    } catch { /* someone else removed it */ }
  }
  return removed;
}

interface LockInfo {
  pid: number;
  host: string;
  at: number;
  token: string;
  start: string | null;
}

/** Lock content: `pid host startedMs token procStart` (the pid first: signals.ts reads it). */
function lockContent(token: string): string {
  return `${process.pid} ${hostname()} ${Date.now()} ${token} ${processStartTime(process.pid) ?? '-'}\n`;
}

function parseLock(text: string): LockInfo | null {
  const [pidText, host, atText, token, start] = text.trim().split(' ');
  const pid = Number(pidText);
  const at = Number(atText);
  if (!Number.isInteger(pid) || pid <= 0 || !host || !Number.isFinite(at)) return null;
  return { pid, host, at, token: token ?? '', start: start && start !== '-' ? start : null };
}

/** The lock file as it is now: its inode (to break exactly this one) and its content. */
function readLock(lockPath: string): { ino: number; mtimeMs: number; text: string } | null {
  let fd: number;
  try {
    fd = openSync(lockPath, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    const st = fstatSync(fd);
    const buf = Buffer.alloc(Math.min(st.size, 4096));
    const n = readSync(fd, buf, 0, buf.length, 0);
    return { ino: st.ino, mtimeMs: st.mtimeMs, text: buf.subarray(0, n).toString('utf8') };
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether a lock is stale: its owner on this host is gone (dead pid, or the pid now belongs to a
 * process started at another time); from another host, or unparseable, once old enough.
 */
function lockIsStale(lock: { mtimeMs: number; text: string }, staleAfterMs: number): boolean {
  const info = parseLock(lock.text);
  if (info === null) return Date.now() - lock.mtimeMs > UNPARSEABLE_STALE_MS;
  if (info.host === hostname()) {
    if (info.pid === process.pid) return false;
    if (!processAlive(info.pid)) return true;
    const start = processStartTime(info.pid);
    return info.start !== null && start !== null && start !== info.start;
  }
  return Date.now() - Math.max(info.at, lock.mtimeMs) > staleAfterMs;
}

/**
 * Create the lock with its content in one step: the content goes to a temp file that is then
 * hard-linked to the lock name (link fails if the name exists), so a lock file is never seen
 * empty or half-written, even if its writer is killed at any instant. Returns false when held.
 */
function tryCreateLock(lockPath: string, content: string): boolean {
  const tmp = tempPath(lockPath);
  const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o644);
  try {
    writeAll(fd, Buffer.from(content));
    fsyncSync(fd);
    closeSync(fd);
    try {
      linkSync(tmp, lockPath);
      return true;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') return false;
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw err;
    }
    // no hard links on this filesystem: O_EXCL create (a kill mid-write leaves an unparseable lock, broken after a while)
    let lfd: number;
    try {
      lfd = openSync(lockPath, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
    try { writeAll(lfd, Buffer.from(content)); fsyncSync(lfd); } finally { closeSync(lfd); }
    return true;
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Break a stale lock: rename it aside, then check that what was moved is the very file judged
 * stale (same inode). If a live owner had taken the lock in between, its file is linked back.
 */
function breakLock(lockPath: string, staleIno: number): boolean {
  const aside = `${lockPath}.stale-${process.pid}-${Date.now().toString(36)}${(++tempSeq).toString(36)}`;
  try {
    renameSync(lockPath, aside);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ENOENT'; // gone: someone else broke it first
  }
  try {
    const st = lstatSync(aside, { throwIfNoEntry: false });
    if (st && st.ino !== staleIno) {
      try { linkSync(aside, lockPath); } catch { /* a new owner already holds it */ }
    }
  } finally {
    rmSync(aside, { force: true });
  }
  return true;
}

/** Our lock is still in place (not broken by someone who wrongly judged it stale). */
function holdsLock(lockPath: string, token: string): boolean {
  const lock = readLock(lockPath);
  return lock !== null && parseLock(lock.text)?.token === token;
}

export interface LockOptions {
  timeoutMs?: number;
  /** a lock from another host is broken after this long */
  staleAfterMs?: number;
}

export interface LockHandle {
  /** throws E_LOCK_LOST when the lock is no longer ours */
  assertHeld(): void;
}

/**
 * Run `fn` while holding OUT/index.json.lock. The lock holds `pid host startTime token procStart`;
 * a lock left by a killed process on this host is detected by its pid (and process start time)
 * and broken safely (see breakLock); a lock from another host after `staleAfterMs`.
 */
export async function withIndexLock<T>(out: string, fn: (lock: LockHandle) => T | Promise<T>, opts: LockOptions = {}): Promise<T> {
  const lockPath = join(out, LOCK_FILE);
  const deadline = Date.now() + (opts.timeoutMs ?? 120_000);
  const token = randomBytes(8).toString('hex');
  let delay = 5;
  for (;;) {
    try {
      if (tryCreateLock(lockPath, lockContent(token))) break;
    } catch (err) {
      throw new OutputError(errCode(err), `${lockPath}: cannot take the index lock (${(err as Error).message})`, lockPath, err);
    }
    const lock = readLock(lockPath);
    // broken: try again at once; not breakable (e.g. no rights): wait like for a live lock
    if (lock !== null && lockIsStale(lock, opts.staleAfterMs ?? 10 * 60_000) && breakLock(lockPath, lock.ino)) continue;
    // (lock null: released meanwhile, or not a readable regular file, e.g. a planted symlink or
    // directory, which is never broken: wait, and give up at the deadline)
    if (Date.now() > deadline) {
      const owner = lock === null ? 'not a readable lock file' : lock.text.trim().slice(0, 120);
      throw new OutputError('E_LOCKED', `${lockPath}: layout is locked by another process (${owner}; remove the file if no legacy2oci is running)`, lockPath);
    }
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 100);
  }
  const handle: LockHandle = {
    assertHeld() {
      if (!holdsLock(lockPath, token)) throw new OutputError('E_LOCK_LOST', `${lockPath}: the index lock was taken over by another process`, lockPath);
    },
  };
  try {
    return await fn(handle);
  } finally {
    if (holdsLock(lockPath, token)) rmSync(lockPath, { force: true });
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

/**
 * Replace index.json with `update(current)` atomically, under the lock. The lock is checked to
 * still be ours right before the rename; if it was lost, the update is redone from the index as
 * it then is (nothing another writer added is dropped).
 */
export async function updateIndex(out: string, update: (current: Buffer | null) => Buffer): Promise<Buffer> {
  // blobs committed without a directory sync of their own (commitSealedBlob) are durable under
  // their names before an index can name them
  await syncBlobsDir(out);
  for (let attempt = 0; ; attempt++) {
    try {
      return await withIndexLock(out, (lock) => {
        const next = update(readIndex(out));
        const path = join(out, INDEX_FILE);
        const tmp = tempPath(path);
        try {
          const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o644);
          try { writeAll(fd, next); fsyncSync(fd); } finally { closeSync(fd); }
          lock.assertHeld();
          renameSync(tmp, path);
          fsyncDir(out);
        } catch (err) {
          rmSync(tmp, { force: true });
          if (err instanceof OutputError) throw err;
          throw new OutputError(errCode(err), `${path}: cannot write (${(err as Error).message})`, path, err);
        }
        return next;
      });
    } catch (err) {
      if (err instanceof OutputError && err.code === 'E_LOCK_LOST' && attempt < 5) continue;
      throw err;
    }
  }
}
