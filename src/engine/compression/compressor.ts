// The one small interface every layer compressor implements (gzip in-process, zstd via its CLI,
// none). Compressors are fed the tar in fixed 1 MiB chunks and deliver output through `onData`.

export interface Compressor {
  /** e.g. 'zlib-6', 'zstd-cli-3', 'none': recorded in the layer result */
  readonly name: string;
  /**
   * Take `chunk` until `release(chunk)` is called (then the caller may reuse its memory).
   * Returns a promise only when the caller should wait (backpressure).
   */
  write(chunk: Buffer, release?: (chunk: Buffer) => void): Promise<void> | undefined;
  /** Flush; resolves once every output byte went to onData, rejects on any compressor failure. */
  end(): Promise<void>;
  /** Stop and release everything (child process, zlib handle). Never throws. */
  abort(): void;
}

export type OnCompressedData = (chunk: Buffer) => void;
