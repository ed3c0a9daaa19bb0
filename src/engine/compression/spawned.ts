// Compressors that run as a child process (igzip, zstd), streamed through pipes: the layer
// worker writes the tar to the child's stdin and reads the compressed bytes from its stdout,
// so the child works on another core while the worker reads, checks and hashes.
import { spawn, spawnSync } from 'node:child_process';
import { LayerError } from '../../errors.js';
import type { Compressor, OnCompressedData } from './compressor.js';
import { streamCompressor } from './stream-compressor.js';

/**
 * Input chunk for a child: small enough that the pipe (a socket pair of ~200 KiB) is refilled
 * at every event-loop turn the pipeline gives while the child is still busy with the last one.
 */
export const SPAWNED_CHUNK_BYTES = 256 * 1024;

const versions = new Map<string, string | null>();

/**
 * The version a binary reports for `--version` (first x.y[.z] in its output), cached per thread;
 * null when it cannot be run. Part of the compressor name: another version may give other bytes.
 */
export function toolVersion(binary: string): string | null {
  if (versions.has(binary)) return versions.get(binary)!;
  let version: string | null = null;
  try {
    const r = spawnSync(binary, ['--version'], { encoding: 'utf8', timeout: 10_000, stdio: ['ignore', 'pipe', 'pipe'] });
    if (!r.error && r.status === 0) version = /\d+\.\d+(?:\.\d+)?/.exec(`${r.stdout}\n${r.stderr}`)?.[0] ?? 'unknown';
  } catch {
    version = null;
  }
  versions.set(binary, version);
  return version;
}

/** The coded error for a compressor command that is not installed. */
export function compressorMissing(binary: string, installHint: string, cause?: unknown): LayerError {
  return new LayerError('E_COMPRESSOR_MISSING', `this compression needs the ${binary} command (${installHint})`, undefined, cause);
}

export interface SpawnedCompressorSpec {
  binary: string;
  args: string[];
  /** engine:level, the version is appended */
  label: string;
  /** how to install the binary, for the error message */
  installHint: string;
  onData: OnCompressedData;
  /** rewrite bytes of the output header in place (offset in the stream → value) */
  headerPatch?: ReadonlyMap<number, number>;
  /** the child's environment (undefined: this process's, as spawn does) */
  env?: NodeJS.ProcessEnv;
}

export function createSpawnedCompressor(spec: SpawnedCompressorSpec): Compressor {
  const tool = spec.binary;
  const child = spawn(spec.binary, spec.args, { stdio: ['pipe', 'pipe', 'pipe'], env: spec.env });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  let spawnError: Error | null = null;
  const exited = new Promise<void>((resolve, reject) => {
    child.once('error', (err) => {
      spawnError = err;
      reject(err);
    });
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`${tool} exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
  exited.catch(() => {});
  const mapError = (err: unknown): Error => {
    const e = (spawnError ?? err) as NodeJS.ErrnoException;
    if (e?.code === 'ENOENT') return compressorMissing(tool, spec.installHint, e);
    if (e instanceof LayerError) return e;
    return new LayerError('E_COMPRESSOR_FAILED', `${tool} failed: ${e?.message ?? e}${stderr ? ` (${stderr.trim()})` : ''}`, undefined, e);
  };
  child.once('error', (err) => child.stdout.destroy(err));
  let offset = 0;
  const patch = spec.headerPatch;
  return streamCompressor({
    name: `${spec.label}@${toolVersion(spec.binary) ?? 'unknown'}`,
    inputChunkBytes: SPAWNED_CHUNK_BYTES,
    input: child.stdin,
    output: child.stdout,
    onData: patch
      ? (chunk) => {
          for (const [at, value] of patch) if (at >= offset && at < offset + chunk.length) chunk[at - offset] = value;
          offset += chunk.length;
          spec.onData(chunk);
        }
      : spec.onData,
    finished: () => exited.catch((err) => Promise.reject(mapError(err))),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    mapError,
  });
}
