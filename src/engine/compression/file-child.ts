// A spawned compressor (igzip, zstd) that writes its output straight into the blob's temp file,
// fed through a FIFO with blocking writes. Why not the child's stdin/stdout pipes (spawned.ts)?
// Those are sockets the event loop serves: the layer worker produces the tar synchronously, so
// every chunk had to wait for an event-loop turn in both directions, the two sides took turns
// instead of running at once, and the compressed bytes crossed into JavaScript only to be
// written back out. Here the worker writes synchronously with blocking writes (the kernel wakes
// it as soon as the child has read), and the child runs on the other core; the compressed bytes never enter this
// process (the blob writer hashes the finished file once, from the page cache).
//
// The FIFO is made by the child's shell (Node has no mkfifo) next to the temp blob, named like
// every temp file of this process (.tmp-<pid>-…, removed by the signal handler and by stale-temp
// cleanup), and unlinked as soon as both ends are open.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, constants as fsc, openSync, unlinkSync, writeSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { LayerError } from '../../errors.js';
import type { Compressor } from './compressor.js';
import { compressorMissing, toolVersion } from './spawned.js';

/** How long the child may take to open its end of the FIFO. */
const OPEN_TIMEOUT_MS = 30_000;
/** sh exit codes of our own: the FIFO could not be made / opened. */
const EXIT_MKFIFO = 97;
const EXIT_OPEN = 98;
const EXIT_NOT_FOUND = 127;

/**
 * How long the child waits for our end of the FIFO. If this process dies first (SIGKILL), nobody
 * will ever open it: a watchdog then kills the waiting shell instead of leaving it blocked for
 * good. Longer than OPEN_TIMEOUT_MS, so a slow but live parent never finds the child gone.
 */
const CHILD_OPEN_TIMEOUT_S = 60;

/**
 * The child's script. $1: FIFO path; the rest: the command; exec replaces the shell, so the
 * child is the compressor. The watchdog's stdio is /dev/null (holding our stderr pipe would delay
 * 'close'); told to stop (TERM) once the FIFO is open, it takes its sleep with it. It only kills
 * after a full sleep: without a `sleep` command it does nothing.
 */
export function childShell(openTimeoutS: number): string {
  return [
    `mkfifo -m 600 -- "$1" || exit ${EXIT_MKFIFO}`,
    `(trap 'kill $s 2>/dev/null; exit 0' TERM; sleep ${openTimeoutS} & s=$!; wait $s && kill -9 $$) </dev/null >/dev/null 2>&1 & w=$!`,
    `exec <"$1" || exit ${EXIT_OPEN}`,
    'kill $w 2>/dev/null',
    'shift; exec "$@"',
  ].join('\n');
}

const SHELL = childShell(CHILD_OPEN_TIMEOUT_S);

export interface FileChildSpec {
  binary: string;
  args: string[];
  /** engine:level, the version is appended */
  label: string;
  installHint: string;
  /** the temp blob file, open for writing at offset 0: the child's stdout */
  outFd: number;
  /** path for the FIFO (a temp name in the blob dir) */
  fifoPath: string;
  /** called once the child has exited with 0 and every output byte is in the file */
  onFinished?: () => void;
  /** the child's environment (undefined: this process's, as spawn does) */
  env?: NodeJS.ProcessEnv;
}

/**
 * Input held back before a streaming child is started: a layer whose whole tar is smaller is
 * compressed by one synchronous run of the tool instead (spawnSync, stdin from memory, stdout
 * into the temp file). Same tool, same arguments, same bytes, but one process instead of a shell,
 * mkfifo, a watchdog and the FIFO handshake: ~10 ms instead of ~35 ms, and Docker 1.x images are
 * full of empty layers (every ENV, CMD, EXPOSE made one).
 */
export const HOLD_BYTES = 1024 * 1024;
/** How long the synchronous run of a small layer may take. */
const SYNC_TIMEOUT_MS = 60_000;

export function createFileChildCompressor(spec: FileChildSpec): Compressor {
  let streaming: Compressor | null = null;
  let held: Buffer[] = [];
  let heldBytes = 0;
  const name = `${spec.label}@${toolVersion(spec.binary) ?? 'unknown'}`;

  /** The whole (small) input in one synchronous run of the tool, its stdout the temp file. */
  const runSync = (): void => {
    const r = spawnSync(spec.binary, spec.args, { input: Buffer.concat(held), stdio: ['pipe', spec.outFd, 'pipe'], timeout: SYNC_TIMEOUT_MS, maxBuffer: 64 * 1024, env: spec.env });
    held = [];
    if (r.error) {
      if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') throw compressorMissing(spec.binary, spec.installHint, r.error);
      throw new LayerError('E_COMPRESSOR_FAILED', `${spec.binary} failed: ${r.error.message}`, undefined, r.error);
    }
    if (r.status !== 0) {
      const detail = r.stderr?.toString('utf8').trim().split('\n').slice(-2).join(' | ');
      throw new LayerError('E_COMPRESSOR_FAILED', `${spec.binary} exited with ${r.status ?? r.signal}${detail ? ` (${detail})` : ''}`);
    }
    spec.onFinished?.();
  };

  return {
    name,
    writesOutputFile: true,
    write(chunk: Buffer, release?: (chunk: Buffer) => void) {
      if (streaming) return streaming.write(chunk, release);
      if (heldBytes + chunk.length < HOLD_BYTES) {
        held.push(Buffer.from(chunk)); // a copy: the caller reuses its chunks once released
        heldBytes += chunk.length;
        release?.(chunk);
        return undefined;
      }
      // more than a small layer: the streaming child, given what was held and this chunk at once
      streaming = createStreamingChild(spec, name);
      if (held.length === 0) return streaming.write(chunk, release);
      const first = Buffer.concat([...held, chunk]);
      held = [];
      release?.(chunk);
      return streaming.write(first);
    },
    async end() {
      if (streaming) await streaming.end();
      else runSync();
    },
    abort() {
      held = [];
      streaming?.abort();
    },
  };
}

/** The streaming child: the tool behind a FIFO (see the top of the file). */
function createStreamingChild(spec: FileChildSpec, name: string): Compressor {
  const tool = spec.binary;
  const child = spawn('sh', ['-c', SHELL, 'sh', spec.fifoPath, spec.binary, ...spec.args], { stdio: ['ignore', spec.outFd, 'pipe'], env: spec.env });
  let stderr = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  const removeFifo = (): void => {
    try {
      unlinkSync(spec.fifoPath);
    } catch {
      /* not made yet, or already removed */
    }
  };

  let exit: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let spawnError: Error | null = null;
  const exited = new Promise<void>((resolve) => {
    child.once('error', (err) => {
      spawnError = err;
      resolve();
    });
    child.once('close', (code, signal) => {
      exit = { code, signal };
      removeFifo(); // a child killed between its mkfifo and our open leaves it behind
      resolve();
    });
  });

  const failure = (what?: unknown): LayerError => {
    if (spawnError) return new LayerError('E_COMPRESSOR_FAILED', `cannot start ${tool}: ${spawnError.message}`, undefined, spawnError);
    if (exit?.code === EXIT_NOT_FOUND) return compressorMissing(tool, spec.installHint);
    const detail = stderr.trim() ? ` (${stderr.trim().split('\n').slice(-2).join(' | ')})` : '';
    if (exit?.code === EXIT_MKFIFO || exit?.code === EXIT_OPEN) return new LayerError('E_COMPRESSOR_FAILED', `cannot make the pipe for ${tool} at ${spec.fifoPath}${detail}`);
    const how = exit ? `exited with ${exit.code ?? exit.signal}` : `failed: ${(what as Error)?.message ?? what}`;
    return new LayerError('E_COMPRESSOR_FAILED', `${tool} ${how}${detail}`, undefined, what);
  };

  let fd: number | null = null;
  let opening: Promise<void> | null = null;
  let dead = false;

  /**
   * Open the writing end as a blocking descriptor, without ever blocking in open(2): a
   * non-blocking probe succeeds once the child (blocked in its own open) counts as a reader;
   * then an O_RDWR open (never blocks on Linux: it is a reader itself) lets the blocking
   * O_WRONLY open return at once even if the child has just gone. Once the helpers are closed
   * the child is the only reader: if it dies, writes fail with EPIPE instead of hanging.
   */
  const open = async (): Promise<void> => {
    const started = Date.now();
    for (;;) {
      if (exit || spawnError) throw failure();
      let probe: number | null = null;
      try {
        probe = openSync(spec.fifoPath, fsc.O_WRONLY | fsc.O_NONBLOCK | fsc.O_NOFOLLOW);
        const self = openSync(spec.fifoPath, fsc.O_RDWR | fsc.O_NOFOLLOW);
        try {
          fd = openSync(spec.fifoPath, fsc.O_WRONLY | fsc.O_NOFOLLOW);
        } finally {
          closeSync(self);
        }
        removeFifo();
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ENXIO') throw failure(err);
      } finally {
        if (probe !== null) closeSync(probe);
      }
      if (Date.now() - started > OPEN_TIMEOUT_MS) throw new LayerError('E_COMPRESSOR_FAILED', `${tool} did not start within ${OPEN_TIMEOUT_MS / 1000} s`);
      await sleep(1);
    }
  };

  /** Write all of `chunk`; blocks while the FIFO is full. A child that died gives EPIPE. */
  const writeAll = (chunk: Buffer): void => {
    let off = 0;
    try {
      while (off < chunk.length) off += writeSync(fd!, chunk, off, chunk.length - off);
    } catch (err) {
      dead = true;
      throw err; // EPIPE: the child died; end() or the caller reports why
    }
  };

  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  };

  return {
    name,
    writesOutputFile: true,
    write(chunk: Buffer, release?: (chunk: Buffer) => void) {
      if (dead) return exited.then(() => Promise.reject(failure()));
      if (fd === null) {
        opening ??= open();
        return opening.then(() => {
          writeAll(chunk);
          release?.(chunk);
        }).catch(async (err) => {
          dead = true;
          kill();
          await exited;
          throw err instanceof LayerError ? err : failure(err);
        });
      }
      try {
        writeAll(chunk);
      } catch (err) {
        kill();
        return exited.then(() => Promise.reject(failure(err)));
      }
      release?.(chunk);
      return undefined;
    },
    async end() {
      if (fd === null && !dead) await (opening ??= open());
      if (fd !== null) {
        closeSync(fd);
        fd = null;
      }
      await exited;
      removeFifo();
      if (spawnError || !exit || exit.code !== 0) throw failure();
      spec.onFinished?.();
    },
    abort() {
      dead = true;
      if (fd !== null) {
        try {
          closeSync(fd);
        } catch {
          /* closed */
        }
        fd = null;
      }
      kill();
      removeFifo();
    },
  };
}
