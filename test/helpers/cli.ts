// Run the real CLI (bin/legacy2oci.js → dist) as a user would, capturing output and exit code.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { PROJECT_ROOT } from './env.js';

export interface CliResult { status: number; stdout: string; stderr: string }

export function cli(args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): CliResult {
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'bin', 'legacy2oci.js'), ...args], {
    cwd: opts.cwd ?? PROJECT_ROOT,
    env: { ...process.env, CI: 'true', ...opts.env },
    encoding: 'utf8',
    timeout: opts.timeoutMs ?? 120_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.error) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export function cliJson<T = any>(args: string[], opts?: Parameters<typeof cli>[1]): { status: number; json: T; stderr: string } {
  const r = cli([...args, '--json'], opts);
  let json: T;
  try {
    json = JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`stdout is not JSON (exit ${r.status}):\n${r.stdout}\n--- stderr:\n${r.stderr}`);
  }
  return { status: r.status, json, stderr: r.stderr };
}
