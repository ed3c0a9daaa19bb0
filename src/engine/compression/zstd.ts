// zstd through the `zstd` CLI (Node 20 has no zstd in zlib), streamed through pipes.
// Flags are explicit so the bytes depend only on the zstd version and level: -T1 (the zstd
// 1.5 multithreaded format gives the same bytes for any -T>=1, but a fixed count keeps that
// independent of --jobs and the host), --check (content checksum, zstd's default), no size in
// the frame header (stdin). ZSTD_CLEVEL/ZSTD_NBTHREADS in the environment are overridden.
import { spawn } from 'node:child_process';
import { LayerError } from '../../errors.js';
import type { Compressor, OnCompressedData } from './compressor.js';
import { streamCompressor } from './stream-compressor.js';

export const ZSTD_BINARY = 'zstd';

export function zstdArgs(level: number): string[] {
  return ['-q', '-c', `-${level}`, '-T1', '--check', '--no-progress'];
}

export function createZstdCompressor(level: number, onData: OnCompressedData): Compressor {
  const child = spawn(ZSTD_BINARY, zstdArgs(level), { stdio: ['pipe', 'pipe', 'pipe'] });
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
      else reject(new Error(`zstd exited with ${code ?? signal}: ${stderr.trim()}`));
    });
  });
  exited.catch(() => {});
  const mapError = (err: unknown): Error => {
    const e = (spawnError ?? err) as NodeJS.ErrnoException;
    if (e?.code === 'ENOENT') return new LayerError('E_COMPRESSOR_MISSING', 'zstd compression needs the zstd command (apt-get install zstd)', undefined, e);
    if (e instanceof LayerError) return e;
    return new LayerError('E_COMPRESSOR_FAILED', `zstd failed: ${e?.message ?? e}${stderr ? ` (${stderr.trim()})` : ''}`, undefined, e);
  };
  child.once('error', (err) => child.stdout.destroy(err));
  return streamCompressor({
    name: `zstd-cli-${level}`,
    input: child.stdin,
    output: child.stdout,
    onData,
    finished: () => exited.catch((err) => Promise.reject(mapError(err))),
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    },
    mapError,
  });
}
