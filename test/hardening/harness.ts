// Shared machinery of the hardening tests: running the real CLI asynchronously with a hard timeout
// (optionally as an unprivileged user or under strace), recognising a clean failure, proving that a
// layout holds no bytes of a canary planted outside the root, seeded randomness, layout checks.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { PROJECT_ROOT } from '../helpers/env.js';

export const BIN = join(PROJECT_ROOT, 'bin', 'legacy2oci.js');
export const IS_ROOT = process.getuid?.() === 0;
/** The unprivileged user for permission cases (Debian's nobody). */
export const NOBODY = 65534;

export interface RunResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

export interface RunOptions {
  timeoutMs?: number;
  /** run as this uid/gid (setpriv), for permission-denied cases */
  asUser?: number;
  /** write an strace log of every open to this file */
  straceLog?: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** Any command line, with a hard timeout (SIGKILL) and the output collected. */
export function runCmd(cmd: string, args: string[], opts: RunOptions = {}): Promise<RunResult> {
  let argv = [cmd, ...args];
  if (opts.straceLog) argv = ['strace', '-f', '-qq', '-y', '-e', 'trace=open,openat,openat2', '-o', opts.straceLog, ...argv];
  if (opts.asUser !== undefined) argv = ['setpriv', `--reuid=${opts.asUser}`, `--regid=${opts.asUser}`, '--clear-groups', ...argv];
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const p = spawn(argv[0]!, argv.slice(1), {
      cwd: opts.cwd ?? PROJECT_ROOT,
      env: { ...process.env, CI: 'true', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    p.stdout.on('data', (b: Buffer) => out.push(b));
    p.stderr.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      p.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    p.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    p.on('close', (status, signal) => {
      clearTimeout(timer);
      resolve({
        status,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        ms: Date.now() - started,
        timedOut,
      });
    });
  });
}

/** The real CLI (bin/legacy2oci.js → dist), as a user runs it. */
export function runCli(args: string[], opts: RunOptions = {}): Promise<RunResult> {
  return runCmd(process.execPath, [BIN, ...args], opts);
}

/**
 * What every run must satisfy, whatever the input: it ended by itself (no hang), with one of the
 * documented exit codes, without a stack trace or an uncaught exception, and a failure names a code.
 */
export function assertCleanExit(r: RunResult, what: string): void {
  const ctx = `${what} (exit ${r.status}, signal ${r.signal}, ${r.ms} ms)\n--- stdout:\n${r.stdout.slice(0, 3000)}\n--- stderr:\n${r.stderr.slice(0, 3000)}`;
  if (r.timedOut) throw new Error(`hung: ${ctx}`);
  if (r.signal !== null) throw new Error(`killed by ${r.signal}: ${ctx}`);
  if (![0, 1, 2].includes(r.status ?? -1)) throw new Error(`undocumented exit code: ${ctx}`);
  const crash = /^\s+at .+[(:]\d+|\b(?:TypeError|RangeError|ReferenceError|SyntaxError|AssertionError)\b|Uncaught|node:internal|ERR_UNHANDLED|FATAL ERROR|Aborted \(core dumped\)/m;
  if (crash.test(r.stderr)) throw new Error(`crashed (stack trace or JS error on stderr): ${ctx}`);
  if (r.status !== 0 && !/\bE_[A-Z0-9_]+\b/.test(r.stderr + r.stdout)) throw new Error(`failed without an error code: ${ctx}`);
}

export function parseJsonOut(r: RunResult, what: string): any {
  try {
    return JSON.parse(r.stdout);
  } catch {
    throw new Error(`${what}: stdout is not JSON (exit ${r.status})\n${r.stdout.slice(0, 2000)}\n--- stderr:\n${r.stderr.slice(0, 2000)}`);
  }
}

/** A directory every user can enter (mkdtemp makes 0700), for roots read by the nobody user. */
export function worldTemp(label: string): string {
  const d = mkdtempSync(join(tmpdir(), `l2o-hard-${label}-`));
  chmodSync(d, 0o755);
  return d;
}

export function rmrf(p: string): void {
  rmSync(p, { recursive: true, force: true });
}

// ───────────────────────────── canary ─────────────────────────────

/**
 * A file outside the root that crafted entries name. Its content is one unique marker; a layout
 * that contains the marker anywhere (raw or inside a gzip layer) has read outside the root.
 */
export interface Canary {
  /** <dir>/canary */
  file: string;
  /** <dir>/canarydir (holds another copy, for symlinked-directory traps) */
  dir: string;
  marker: Buffer;
}

export function canaryMarker(seed: string): Buffer {
  return Buffer.from(`L2O-CANARY-${createHash('sha256').update(seed).digest('hex').slice(0, 24)}-MUST-NOT-BE-READ\n`);
}

/** Paths of the regular files under `dir` (recursive). */
export function filesUnder(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    let names: string[];
    try { names = readdirSync(d); } catch { return; }
    for (const n of names) {
      const p = join(d, n);
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p);
      else if (st.isFile()) out.push(p);
    }
  };
  walk(dir);
  return out;
}

/** Does any file of the layout (decompressing gzip blobs) contain `needle`? Returns the file or null. */
export function layoutContains(layoutDir: string, needle: Buffer): string | null {
  for (const f of filesUnder(layoutDir)) {
    const bytes = readFileSync(f);
    if (bytes.includes(needle)) return f;
    if (bytes.length > 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
      try {
        if (gunzipSync(bytes).includes(needle)) return `${f} (gunzipped)`;
      } catch { /* not ours to judge here */ }
    }
  }
  return null;
}

/**
 * Lines of an strace log (strace -y) where a call returned a descriptor for `path`: the file was
 * opened. Calls that failed (= -1 ...) are not opens.
 */
export function straceOpened(logFile: string, paths: string[]): string[] {
  if (!existsSync(logFile)) return [];
  const lines = readFileSync(logFile, 'utf8').split('\n');
  return lines.filter((l) => /= \d+</.test(l) && paths.some((p) => l.includes(`<${p}>`)));
}

/** Lines of an strace log (strace -y) where a call returned a descriptor for anything under `dir`. */
export function straceOpenedUnder(logFile: string, dir: string): string[] {
  if (!existsSync(logFile)) return [];
  const prefix = `<${dir.endsWith('/') ? dir : dir + '/'}`;
  return readFileSync(logFile, 'utf8').split('\n').filter((l) => /= \d+</.test(l) && (l.includes(prefix) || l.includes(`<${dir}>`)));
}

// ───────────────────────────── layouts ─────────────────────────────

const HEX64 = /^[a-f0-9]{64}$/;

/** Files under blobs/sha256 whose name is a digest but whose content does not hash to it. */
export function badBlobs(layoutDir: string): string[] {
  const dir = join(layoutDir, 'blobs', 'sha256');
  let names: string[] = [];
  try { names = readdirSync(dir); } catch { return []; }
  const bad: string[] = [];
  for (const n of names) {
    if (!HEX64.test(n)) continue;
    const hex = createHash('sha256').update(readFileSync(join(dir, n))).digest('hex');
    if (hex !== n) bad.push(n);
  }
  return bad;
}

/** Names anywhere in the layout that are temp files, stale lock files or staging leftovers. */
export function leftovers(layoutDir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, rel: string) => {
    let names: string[] = [];
    try { names = readdirSync(d); } catch { return; }
    for (const n of names) {
      const r = rel ? `${rel}/${n}` : n;
      if (/\.tmp-|\.lock|\.stale-|staging/.test(n)) out.push(r);
      if (lstatSync(join(d, n)).isDirectory()) walk(join(d, n), r);
    }
  };
  walk(layoutDir, '');
  return out;
}

/** name → sha256 of every regular file of a layout (the .legacy2oci state dir of migrate excluded). */
export function fingerprint(layoutDir: string, opts: { exclude?: RegExp } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of filesUnder(layoutDir).sort()) {
    const rel = f.slice(layoutDir.length + 1);
    if (opts.exclude?.test(rel)) continue;
    out[rel] = createHash('sha256').update(readFileSync(f)).digest('hex');
  }
  return out;
}

// ───────────────────────────── randomness ─────────────────────────────

/** mulberry32: a small seeded PRNG, so a failing kill schedule can be replayed with its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ───────────────────────────── privileges ─────────────────────────────

/** Can this process create mount namespaces and mount (root, not in a locked-down container)? */
export function canMount(): boolean {
  if (!IS_ROOT) return false;
  const r = spawnSync('unshare', ['-m', '--propagation', 'private', 'sh', '-c', 'd=$(mktemp -d) && mount -t tmpfs -o size=1m tmpfs "$d" && umount "$d" && rmdir "$d"'], { stdio: 'ignore' });
  return r.status === 0;
}

/** Can we run a command as the nobody user? */
export function canDropPrivileges(): boolean {
  if (!IS_ROOT) return false;
  return spawnSync('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', 'true'], { stdio: 'ignore' }).status === 0;
}
