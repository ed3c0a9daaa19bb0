// gzip with Node's bundled zlib, in-process, in independent blocks that run in parallel
// (the pigz / pgzip scheme), so one large layer can use every core.
//
// The input is cut into fixed 1 MiB blocks, whatever the caller's chunking and whatever
// --jobs is. Each block is deflated on its own (raw deflate, on libuv's thread pool) with the
// previous block's last 32 KiB as its dictionary, so matches still reach back across the cut
// and the ratio is that of one stream. Every block but the last ends with a sync flush (an empty
// stored block: byte-aligned, not final); the last is finished (BFINAL). Their concatenation is
// one ordinary deflate stream inside one gzip member: gzip, Go's compress/gzip (skopeo, umoci,
// containerd, docker load), zlib and pigz all read it, and no reader needs multi-member support.
// The CRC-32 of the whole input is computed here, on this thread (crc32.ts).
//
// The bytes depend only on the input, the level and the zlib build (its version is part of the
// compressor name): not on `threads`, not on which block finishes first. `threads` only caps
// how many blocks are being deflated at once (1 = one at a time, overlapping the producer).
//
// Header: no name, mtime 0, XFL as zlib sets it, OS 255 ("unknown", as Go writes), so it does
// not depend on the platform.
import { constants as zc, deflateRaw, type ZlibOptions } from 'node:zlib';
import { crc32 } from './crc32.js';
import type { Compressor, CompressorOptions, OnCompressedData } from './compressor.js';

/** Input block size. Part of the output format: changing it changes every digest. */
export const GZIP_BLOCK_BYTES = 1024 * 1024;
/** deflate's window: the dictionary each block gets from the one before. */
const DICT_BYTES = 32 * 1024;
/** zlib's output buffer per block: output is gathered in pieces of this size and joined, so a block holds about what it produced, not a worst-case buffer. */
const OUT_CHUNK = 256 * 1024;

export const ZLIB_VERSION = process.versions.zlib ?? 'unknown';

/**
 * Blocks deflated at once never exceed libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE
 * says more): more would only queue there, holding their memory.
 */
export const MAX_BLOCKS_IN_FLIGHT = Math.max(1, Number(process.env.UV_THREADPOOL_SIZE) || 4);

function gzipHeader(level: number): Buffer {
  const xfl = level === 9 ? 2 : level === 1 ? 4 : 0;
  return Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 0xff]);
}

function deflateBlock(input: Buffer, dictionary: Buffer | null, level: number, last: boolean): Promise<Buffer> {
  const opts: ZlibOptions = {
    level,
    memLevel: 8,
    windowBits: 15,
    strategy: zc.Z_DEFAULT_STRATEGY,
    chunkSize: OUT_CHUNK,
    finishFlush: last ? zc.Z_FINISH : zc.Z_SYNC_FLUSH,
  };
  if (dictionary) opts.dictionary = dictionary;
  return new Promise((resolve, reject) => deflateRaw(input, opts, (err, out) => (err ? reject(err) : resolve(out))));
}

interface Block {
  input: Buffer;
  dictionary: Buffer | null;
  last: boolean;
  /** give the caller's memory back (blocks made of copies have nothing to release) */
  release: (() => void) | null;
  /** the deflated bytes, once done */
  output: Buffer | null;
}

/** The zlib engine's compressor; `peakInFlight` (most blocks deflated at once so far) shows `threads` is respected. */
export interface GzipCompressor extends Compressor {
  readonly peakInFlight: number;
}

export function createGzipCompressor(level: number, onData: OnCompressedData, opts: CompressorOptions = { threads: 1 }): GzipCompressor {
  const threads = Math.min(MAX_BLOCKS_IN_FLIGHT, Math.max(1, Math.floor(opts.threads) || 1));
  /** blocks cut but not yet handed to zlib (the window was full), oldest first */
  const ready: Block[] = [];
  /** blocks handed to zlib and not yet written out, in stream order */
  const submitted: Block[] = [];
  let deflating = 0;
  let peakInFlight = 0;
  /** the partial block being filled from copies */
  let fill: Buffer | null = null;
  let fillBytes = 0;
  /** the last 32 KiB of input cut so far: the next block's dictionary */
  let dictionary: Buffer | null = null;
  let crc = 0;
  let inputBytes = 0;
  let failure: Error | null = null;
  let ended = false;
  /** woken whenever a block leaves `ready` or is written out, and on failure */
  const wakers = new Set<() => void>();
  const wake = (): void => {
    for (const w of wakers) w();
    wakers.clear();
  };

  const fail = (err: unknown): void => {
    if (!failure) failure = err instanceof Error ? err : new Error(String(err));
    // blocks zlib still reads release their memory when it is done with them (see pump)
    for (const b of ready) b.release?.();
    ready.length = 0;
    submitted.length = 0;
    wake();
  };

  const emit = (buf: Buffer): void => {
    if (failure) return;
    try {
      onData(buf);
    } catch (err) {
      fail(err);
    }
  };

  const writeOut = (): void => {
    while (!failure && submitted.length > 0 && submitted[0].output !== null) {
      const b = submitted.shift()!;
      emit(b.output!);
    }
  };

  const pump = (): void => {
    while (!failure && ready.length > 0 && deflating < threads) {
      const b = ready.shift()!;
      deflating++;
      peakInFlight = Math.max(peakInFlight, deflating);
      submitted.push(b);
      deflateBlock(b.input, b.dictionary, level, b.last).then(
        (out) => {
          deflating--;
          b.release?.();
          b.release = null;
          if (failure) return;
          b.output = out;
          writeOut();
          pump();
          wake();
        },
        (err) => {
          deflating--;
          fail(err);
        },
      );
    }
  };

  const cut = (input: Buffer, last: boolean, release: (() => void) | null): void => {
    const b: Block = { input, dictionary, last, release, output: null };
    // the next block's dictionary, copied: the caller reuses `input` once it is released
    if (!last) dictionary = Buffer.from(input.subarray(Math.max(0, input.length - DICT_BYTES)));
    ready.push(b);
    pump();
  };

  /** Resolves once `done()` holds (checked whenever something moves); rejects on failure. */
  const until = async (done: () => boolean): Promise<void> => {
    while (!failure && !done()) await new Promise<void>((resolve) => wakers.add(resolve));
    if (failure) throw failure;
  };

  emit(gzipHeader(level));

  return {
    name: `zlib:${level}@${ZLIB_VERSION}`,
    get peakInFlight() {
      return peakInFlight;
    },
    write(chunk: Buffer, release?: (chunk: Buffer) => void) {
      if (failure) return Promise.reject(failure);
      if (ended) return Promise.reject(new Error('write after end'));
      crc = crc32(chunk, crc);
      inputBytes += chunk.length;
      if (fillBytes === 0 && chunk.length === GZIP_BLOCK_BYTES) {
        // the usual case (the layer pipeline's 1 MiB chunks): deflate the caller's buffer in place
        cut(chunk, false, release ? () => release(chunk) : null);
      } else {
        let off = 0;
        while (off < chunk.length) {
          fill ??= Buffer.allocUnsafe(GZIP_BLOCK_BYTES);
          const n = chunk.copy(fill, fillBytes, off, Math.min(chunk.length, off + GZIP_BLOCK_BYTES - fillBytes));
          fillBytes += n;
          off += n;
          if (fillBytes === GZIP_BLOCK_BYTES) {
            cut(fill, false, null);
            fill = null;
            fillBytes = 0;
          }
        }
        release?.(chunk);
      }
      // the producer goes on filling the next block while `threads` blocks are deflated
      return ready.length === 0 ? undefined : until(() => ready.length === 0);
    },
    async end() {
      if (failure) throw failure;
      if (ended) throw new Error('end called twice');
      ended = true;
      cut(fill ? fill.subarray(0, fillBytes) : Buffer.alloc(0), true, null);
      fill = null;
      await until(() => ready.length === 0 && submitted.length === 0);
      const trailer = Buffer.alloc(8);
      trailer.writeUInt32LE(crc >>> 0, 0);
      trailer.writeUInt32LE(inputBytes % 2 ** 32, 4);
      emit(trailer);
      if (failure) throw failure;
    },
    abort() {
      // blocks already on the thread pool finish there; their output is dropped
      fail(new Error('aborted'));
    },
  };
}
