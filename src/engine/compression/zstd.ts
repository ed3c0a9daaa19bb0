// zstd through the `zstd` CLI (Node 20 has no zstd in zlib), streamed through pipes.
// Flags are explicit so the bytes depend only on the zstd version and level: multithreaded mode
// (-T<n>, n >= 1: zstd 1.5 cuts the input into the same jobs for any n, so the output is the
// same whatever --jobs is; only the speed changes), --check (content checksum, zstd's default),
// no size in the frame header (stdin). ZSTD_CLEVEL/ZSTD_NBTHREADS in the environment are
// overridden by the flags.
import { availableParallelism } from 'node:os';
import type { Compressor, CompressorOptions, OnCompressedData } from './compressor.js';
import { createFileChildCompressor } from './file-child.js';
import { createSpawnedCompressor } from './spawned.js';

export const ZSTD_BINARY = 'zstd';

/** zstd's worker threads: --jobs, at most one per core (the output is the same for any count). */
export function zstdArgs(level: number, threads = 1): string[] {
  const t = Math.min(availableParallelism(), Math.max(1, Math.floor(threads) || 1));
  return ['-q', '-c', `-${level}`, `-T${t}`, '--check', '--no-progress'];
}

export function createZstdCompressor(level: number, onData: OnCompressedData, opts: CompressorOptions = { threads: 1 }): Compressor {
  const file = opts.outputFile;
  if (file) {
    return createFileChildCompressor({
      binary: ZSTD_BINARY,
      args: zstdArgs(level, opts.threads),
      label: `zstd-cli:${level}`,
      installHint: 'apt-get install zstd',
      outFd: file.fd,
      fifoPath: file.fifoPath,
    });
  }
  return createSpawnedCompressor({
    binary: ZSTD_BINARY,
    args: zstdArgs(level, opts.threads),
    label: `zstd-cli:${level}`,
    installHint: 'apt-get install zstd',
    onData,
  });
}
