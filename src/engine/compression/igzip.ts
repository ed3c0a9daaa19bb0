// gzip through Intel ISA-L's `igzip` (Debian package `isal`), streamed through pipes. ISA-L's
// deflate is several times faster than zlib at a similar ratio: level 3 (its best) writes
// about what zlib -6 and skopeo write, at 5-8x zlib's speed on one core.
// Deterministic for a given igzip version and level: -n (no name, mtime 0), and the OS byte of
// the header forced to 255 ("unknown", as Go and our zlib engine write). One stream, one member.
// ISA-L picks its code path per CPU; x86-64 hosts with SSE4.2 or better share one, a CPU
// without it (or another architecture) may get other (equally valid) bytes: the compressor
// name in every report carries engine, level and version, so a digest can be traced.
// It runs on one core beside the worker (which reads, checks and hashes on its own core);
// the output does not depend on --jobs.
import type { Compressor, CompressorOptions, OnCompressedData } from './compressor.js';
import { writeSync } from 'node:fs';
import { createFileChildCompressor } from './file-child.js';
import { createSpawnedCompressor } from './spawned.js';

export const IGZIP_BINARY = 'igzip';
/** Offset of the OS byte in the 10-byte gzip header (RFC 1952). */
const GZIP_OS_OFFSET = 9;
const OS_UNKNOWN = Buffer.from([0xff]);

export function igzipArgs(level: number): string[] {
  return ['-c', `-${level}`, '-n', '-q'];
}

export function createIgzipCompressor(level: number, onData: OnCompressedData, opts: CompressorOptions = { threads: 1 }): Compressor {
  const file = opts.outputFile;
  if (file) {
    return createFileChildCompressor({
      binary: IGZIP_BINARY,
      args: igzipArgs(level),
      label: `igzip:${level}`,
      installHint: 'apt-get install isal',
      outFd: file.fd,
      fifoPath: file.fifoPath,
      onFinished: () => {
        writeSync(file.fd, OS_UNKNOWN, 0, 1, GZIP_OS_OFFSET);
      },
    });
  }
  return createSpawnedCompressor({
    binary: IGZIP_BINARY,
    args: igzipArgs(level),
    label: `igzip:${level}`,
    installHint: 'apt-get install isal',
    onData,
    headerPatch: new Map([[GZIP_OS_OFFSET, 0xff]]),
  });
}
