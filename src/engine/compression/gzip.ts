// gzip with Node's bundled zlib, in-process. Deterministic for a given Node release: zlib
// parameters are spelled out (not left to defaults), the header has no name and mtime 0 (zlib's
// default), and the OS byte is forced to 255 ("unknown", as Go's compress/gzip writes) so it does
// not depend on the platform zlib was built for. The input arrives in fixed 1 MiB chunks.
import { constants as zc, createGzip } from 'node:zlib';
import type { Compressor, OnCompressedData } from './compressor.js';
import { streamCompressor } from './stream-compressor.js';

/** Offset of the OS byte in the 10-byte gzip header (RFC 1952). */
const GZIP_OS_OFFSET = 9;
const GZIP_OS_UNKNOWN = 0xff;

export function createGzipCompressor(level: number, onData: OnCompressedData): Compressor {
  const gz = createGzip({
    level,
    memLevel: 8,
    windowBits: 15,
    strategy: zc.Z_DEFAULT_STRATEGY,
    // larger than deflate's worst case for one 1 MiB input chunk: one thread-pool job per chunk
    chunkSize: 2 * 1024 * 1024,
  });
  let offset = 0;
  return streamCompressor({
    name: `zlib-${level}`,
    input: gz,
    output: gz,
    onData(chunk) {
      if (offset <= GZIP_OS_OFFSET && offset + chunk.length > GZIP_OS_OFFSET) chunk[GZIP_OS_OFFSET - offset] = GZIP_OS_UNKNOWN;
      offset += chunk.length;
      onData(chunk);
    },
    kill: () => gz.destroy(),
  });
}
