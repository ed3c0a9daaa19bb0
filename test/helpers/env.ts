// Test environment helpers: third-party tools and ../shared are required in CI (CI=true) and
// skipped with a clear message elsewhere (e.g. a user's clone without the Debian packages).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, resolve } from 'node:path';

/** The project root (works from test/ sources and from dist/test/). */
export const PROJECT_ROOT = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
})();

export const SHARED_DIR = resolve(PROJECT_ROOT, '..', 'shared');
export const IN_CI = process.env.CI === 'true' || process.env.CI === '1';

export function hasTool(name: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' }).status === 0;
}

/**
 * For node:test's `skip` option: returns false when every tool is present, a skip message otherwise.
 * In CI a missing tool is a failure, not a skip.
 */
export function needTools(...names: string[]): false | string {
  const missing = names.filter((n) => !hasTool(n));
  if (missing.length === 0) return false;
  const msg = `needs ${missing.join(', ')} (apt-get install ${missing.join(' ')})`;
  if (IN_CI) throw new Error(`CI=true but ${msg}`);
  return msg;
}

/** Same for ../shared (the real legacy root). */
export function needShared(rel: string): false | string {
  if (existsSync(join(SHARED_DIR, rel))) return false;
  const msg = `needs ../shared/${rel}`;
  if (IN_CI) throw new Error(`CI=true but ${msg} is missing`);
  return msg;
}

/** Run a command, throw with its stderr on failure, return stdout as a Buffer. */
export function run(cmd: string, args: string[], opts: { cwd?: string; input?: Buffer | string; env?: NodeJS.ProcessEnv } = {}): Buffer {
  const r = spawnSync(cmd, args, { cwd: opts.cwd, input: opts.input, env: opts.env, maxBuffer: 1 << 30 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr.toString().trim()}`);
  return r.stdout;
}

/**
 * Run an ES module `script` in a new Node process under `strace -f -e trace=<calls>` and return
 * what strace printed (stderr); the run must succeed.
 */
export function straceNode(calls: string, script: string): string {
  const r = spawnSync('strace', ['-f', '-e', `trace=${calls}`, process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr.slice(-2000));
  return r.stderr;
}
