// Real Docker roots made by a real dockerd (Debian's docker.io, 20.10): a throwaway daemon per
// root, started and stopped with ../shared/tools/dockerd-sandbox.sh. The daemons are always stopped:
// by the test's own `stop()` in a finally/after, and, as a last resort, when the process exits.
//
// Images are built the way users built them: `docker import` of a GNU tar (to get file
// capabilities into a layer: the classic builder's COPY drops xattrs) and DOCKER_BUILDKIT=0
// `docker build` FROM it, with RUN steps run by a static busybox (deletes → whiteouts, a dir
// removed and made again → an opaque dir). No registry is involved.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IN_CI, SHARED_DIR, hasTool } from './env.js';

export const SANDBOX_SCRIPT = join(SHARED_DIR, 'tools', 'dockerd-sandbox.sh');
/** A static busybox to run RUN steps in FROM-scratch images (Debian's busybox-static). */
export const BUSYBOX = '/bin/busybox';

/** node:test `skip` value: false when dockerd, docker, busybox and the script are there. In CI a missing one fails. */
export function needDockerd(): false | string {
  const missing = ['dockerd', 'docker', 'setcap'].filter((t) => !hasTool(t));
  if (!existsSync(BUSYBOX)) missing.push('busybox-static');
  if (!existsSync(SANDBOX_SCRIPT)) missing.push('../shared/tools/dockerd-sandbox.sh');
  if (process.getuid?.() !== 0) missing.push('root');
  if (missing.length === 0) return false;
  const msg = `needs ${missing.join(', ')} (apt-get install docker.io busybox-static libcap2-bin; run as root)`;
  if (IN_CI) throw new Error(`CI=true but ${msg}`);
  return msg;
}

const running = new Set<string>();
process.on('exit', () => {
  for (const dir of running) spawnSync('bash', [SANDBOX_SCRIPT, 'stop', dir], { stdio: 'ignore' });
});

export interface Sandbox {
  /** the sandbox dir (socket, logs, pid) */
  dir: string;
  /** the daemon's data root: what we read once it is stopped */
  root: string;
  driver: 'vfs' | 'overlay2' | 'overlay';
  docker(args: string[], opts?: { cwd?: string; input?: Buffer; env?: NodeJS.ProcessEnv }): string;
  /** stop the daemon (idempotent); the root stays until `remove()` */
  stop(): void;
  remove(): void;
}

/**
 * Start a daemon on a fresh sandbox dir. `prepareRoot(root)` runs first and may fill the data root
 * (e.g. with a legacy root, to get what an upgraded host has).
 */
export function startSandbox(driver: 'vfs' | 'overlay2' | 'overlay', label: string = driver, prepareRoot?: (root: string) => void): Sandbox {
  const dir = mkdtempSync(join(tmpdir(), `l2o-dockerd-${label}-`));
  if (prepareRoot) {
    try {
      prepareRoot(join(dir, 'root'));
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }
  const r = spawnSync('bash', [SANDBOX_SCRIPT, 'start', dir, driver], { encoding: 'utf8', timeout: 60_000 });
  running.add(dir);
  const sock = `unix://${dir}/docker.sock`;
  const sb: Sandbox = {
    dir,
    root: join(dir, 'root'),
    driver,
    docker(args, opts = {}) {
      const res = spawnSync('docker', args, {
        cwd: opts.cwd, input: opts.input, encoding: 'utf8', maxBuffer: 1 << 28, timeout: 120_000,
        env: { ...process.env, DOCKER_HOST: sock, DOCKER_BUILDKIT: '0', DOCKER_CLI_HINTS: 'false', ...opts.env },
      });
      if (res.error) throw res.error;
      if (res.status !== 0) throw new Error(`docker ${args.join(' ')} exited ${res.status}: ${res.stderr.trim()}`);
      return res.stdout;
    },
    stop() {
      if (!running.has(dir)) return;
      running.delete(dir);
      spawnSync('bash', [SANDBOX_SCRIPT, 'stop', dir], { stdio: 'ignore', timeout: 60_000 });
    },
    remove() {
      sb.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  if (r.status !== 0 || !r.stdout.includes(driver)) {
    const log = existsSync(join(dir, 'dockerd.log')) ? readFileSync(join(dir, 'dockerd.log'), 'utf8').slice(-2000) : '';
    sb.remove();
    throw new Error(`dockerd (${driver}) did not start: ${r.stdout}${r.stderr}\n${log}`);
  }
  return sb;
}

/** `docker images --no-trunc`'s ID of a reference, and `docker inspect`'s RootFS.Layers. */
export function imageFacts(sb: Sandbox, ref: string): { id: string; diffIDs: string[] } {
  const out = JSON.parse(sb.docker(['inspect', '--type', 'image', '--format', '{{json .Id}} {{json .RootFS.Layers}}', ref]).replace(/^(\S+) /, '[$1,') + ']') as [string, string[] | null];
  return { id: out[0], diffIDs: out[1] ?? [] };
}

/** `docker images --no-trunc` as repo:tag → ID. */
export function imagesNoTrunc(sb: Sandbox): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of sb.docker(['images', '--no-trunc', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']).trim().split('\n')) {
    if (!line) continue;
    const [ref, id] = line.split(' ');
    m.set(ref!, id!);
  }
  return m;
}
