// One migrate run per layout at a time: `<layout>/.legacy2oci/lock`, holding the owner's pid,
// hostname, process start time (from /proc, so a reused pid is not mistaken for the owner) and a
// heartbeat (the file's mtime, touched every 30 s).
//
// A lock left by a killed run never blocks the rerun: on this host it is stale as soon as its pid is
// gone or belongs to another process; from another host (a disk moved after a crash) once its
// heartbeat is older than two minutes. Stale locks are renamed away first, so two breakers never
// both win. A live lock fails the run before any work with E_LOCKED (exit 2).

import { closeSync, constants as fsc, mkdirSync, openSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EXIT, L2OError } from '../errors.js';
import { STATE_DIR } from './journal.js';
import { processAlive, processStartTime } from '../process-info.js';

const LOCK_FILE = 'lock';
const HEARTBEAT_MS = 30_000;
const FOREIGN_STALE_MS = 120_000;

interface LockInfo { pid: number; host: string; start: string | null; at: number }

function isStale(path: string): boolean {
  let info: LockInfo;
  let mtime: number;
  try {
    info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    mtime = statSync(path).mtimeMs;
  } catch {
    // unreadable or half-written: stale once old enough (a live writer finishes in microseconds)
    try {
      return Date.now() - statSync(path).mtimeMs > 5_000;
    } catch {
      return false; // vanished: retry
    }
  }
  if (info.host === hostname() && Number.isInteger(info.pid) && info.pid > 0) {
    if (info.pid === process.pid) return false;
    if (!processAlive(info.pid)) return true;
    const start = processStartTime(info.pid);
    return info.start !== null && start !== null && start !== info.start;
  }
  return Date.now() - mtime > FOREIGN_STALE_MS;
}

/** Throw E_LOCKED when a live run holds `<layoutDir>/.legacy2oci/lock` (reads only; a stale lock passes). */
export function assertUnlocked(layoutDir: string): void {
  const path = join(layoutDir, STATE_DIR, LOCK_FILE);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return;
  }
  if (isStale(path)) return;
  let owner = '';
  try {
    const info = JSON.parse(text) as LockInfo;
    owner = ` by pid ${info.pid} on ${info.host}`;
  } catch { /* unknown owner */ }
  throw new L2OError('E_LOCKED', `${path}: another migrate is running into ${layoutDir}${owner}; wait for it (a lock of a killed run is broken automatically)`, { exitCode: EXIT.USAGE, file: path });
}

export interface HeldLock {
  path: string;
  release(): void;
}

/** Take `<layoutDir>/.legacy2oci/lock` or throw E_LOCKED. */
export function acquireLayoutLock(layoutDir: string): HeldLock {
  const dir = join(layoutDir, STATE_DIR);
  const path = join(dir, LOCK_FILE);
  mkdirSync(dir, { recursive: true });
  for (let attempt = 0; attempt < 5; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o644);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        throw new L2OError('E_LOCK', `${path}: cannot take the migrate lock (${(err as Error).message})`, { exitCode: EXIT.USAGE, file: path, cause: err });
      }
      if (isStale(path)) {
        const aside = `${path}.stale-${process.pid}-${Date.now().toString(36)}`;
        try {
          renameSync(path, aside);
          rmSync(aside, { force: true });
        } catch { /* someone else broke it first */ }
        continue;
      }
      let owner = '';
      try {
        const info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
        owner = ` by pid ${info.pid} on ${info.host}`;
      } catch { /* unknown owner */ }
      throw new L2OError('E_LOCKED', `${path}: another migrate is running into ${layoutDir}${owner}; wait for it (a lock of a killed run is broken automatically)`, { exitCode: EXIT.USAGE, file: path });
    }
    const info: LockInfo = { pid: process.pid, host: hostname(), start: processStartTime(process.pid), at: Date.now() };
    writeSync(fd, JSON.stringify(info));
    closeSync(fd);
    const timer = setInterval(() => {
      try {
        const now = new Date();
        utimesSync(path, now, now);
      } catch { /* released or removed */ }
    }, HEARTBEAT_MS);
    timer.unref();
    let released = false;
    return {
      path,
      release() {
        if (released) return;
        released = true;
        clearInterval(timer);
        try {
          const cur = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
          if (cur.pid === process.pid && cur.host === info.host) rmSync(path, { force: true });
        } catch { /* gone */ }
      },
    };
  }
  throw new L2OError('E_LOCKED', `${path}: could not take the migrate lock (it keeps changing hands)`, { exitCode: EXIT.USAGE, file: path });
}
