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

/**
 * The zstd child's environment: this process's, with glibc's malloc asked to back its large
 * blocks with transparent huge pages (GLIBC_TUNABLES glibc.malloc.hugetlb=1, glibc >= 2.35;
 * other C libraries ignore it, and so does a kernel with THP off). Multithreaded zstd
 * allocates its job buffers fresh in every process: ~10,500 page faults (~40 MiB) per run even
 * for a 45 MB layer, which on a VM cost more than the compression of a small layer. With huge
 * pages that is ~1,100. Measured on the bench layers, each compressed by its own
 * `zstd -3 -T1`: 9.2-10.3 s of CPU in all, 6.9-7.4 s with the tunable (same bytes: where
 * malloc gets its memory cannot change what zstd writes). A tunable the user set is kept.
 */
export function zstdChildEnv(base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const tunables = base.GLIBC_TUNABLES ?? '';
  if (/(^|:)glibc\.malloc\.hugetlb=/.test(tunables)) return base;
  return { ...base, GLIBC_TUNABLES: tunables ? `${tunables}:glibc.malloc.hugetlb=1` : 'glibc.malloc.hugetlb=1' };
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
      env: zstdChildEnv(),
    });
  }
  return createSpawnedCompressor({
    binary: ZSTD_BINARY,
    args: zstdArgs(level, opts.threads),
    label: `zstd-cli:${level}`,
    installHint: 'apt-get install zstd',
    onData,
    env: zstdChildEnv(),
  });
}
