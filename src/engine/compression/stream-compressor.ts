// Adapts a duplex byte stream (a zlib transform, a child's stdin/stdout) to the Compressor
// interface: backpressure via 'drain', every error remembered and surfaced on the next call.
import type { Readable, Writable } from 'node:stream';
import { L2OError } from '../../errors.js';
import type { Compressor, OnCompressedData } from './compressor.js';

export interface StreamCompressorParts {
  name: string;
  input: Writable;
  output: Readable;
  onData: OnCompressedData;
  /** extra completion condition (e.g. the child exited with 0); resolves/rejects after output ended */
  finished?: () => Promise<void>;
  /** how to stop everything */
  kill: () => void;
  /** turn a raw stream error into the error to report */
  mapError?: (err: unknown) => Error;
  /**
   * Input bytes queued before the producer has to wait (default 8 MiB). Well above one chunk, so
   * the producer (tar + hashing on this thread) keeps working while the compressor (zlib's thread
   * pool, or a child process) works through the queue, instead of taking turns chunk by chunk.
   */
  maxQueued?: number;
  /** passed on as Compressor.inputChunkBytes */
  inputChunkBytes?: number;
}

export const DEFAULT_MAX_QUEUED = 8 * 1024 * 1024;

export function streamCompressor(p: StreamCompressorParts): Compressor {
  let failure: Error | null = null;
  const waiters = new Set<(err: Error) => void>();
  const fail = (err: unknown): void => {
    if (failure) return;
    // coded errors (e.g. an OutputError from the blob sink) keep their class and code
    failure = err instanceof L2OError ? err : p.mapError ? p.mapError(err) : err instanceof Error ? err : new Error(String(err));
    for (const w of waiters) w(failure);
    waiters.clear();
  };
  p.input.on('error', fail);
  p.output.on('error', fail);
  p.output.on('data', (chunk: Buffer) => {
    if (failure) return;
    try {
      p.onData(chunk);
    } catch (err) {
      // the sink failed (e.g. ENOSPC): stop compressing, report at the next write/end
      fail(err);
      p.kill();
    }
  });
  const outputEnded = new Promise<void>((resolve, reject) => {
    p.output.once('end', resolve);
    waiters.add(reject);
  });
  outputEnded.catch(() => {}); // observed through end()

  /** one shared wait for 'drain', however many writes are waiting on it */
  let drained: Promise<void> | null = null;
  const waitForDrain = (): Promise<void> => {
    if (failure) return Promise.reject(failure);
    drained ??= new Promise<void>((resolve, reject) => {
      const onErr = (err: Error): void => {
        p.input.off('drain', onDrain);
        drained = null;
        reject(err);
      };
      const onDrain = (): void => {
        waiters.delete(onErr);
        drained = null;
        resolve();
      };
      waiters.add(onErr);
      p.input.once('drain', onDrain);
    });
    return drained;
  };

  return {
    name: p.name,
    ...(p.inputChunkBytes !== undefined ? { inputChunkBytes: p.inputChunkBytes } : {}),
    write(chunk: Buffer, release?: (chunk: Buffer) => void) {
      if (failure) return Promise.reject(failure);
      // the write callback runs once the chunk was consumed (zlib processed it, the pipe took it)
      p.input.write(chunk, release ? () => release(chunk) : undefined);
      return p.input.writableLength < (p.maxQueued ?? DEFAULT_MAX_QUEUED) ? undefined : waitForDrain();
    },
    async end() {
      if (failure) throw failure;
      p.input.end();
      await outputEnded;
      if (p.finished) await p.finished();
      if (failure) throw failure;
    },
    abort() {
      if (!failure) fail(new Error('aborted'));
      p.kill();
    },
  };
}
