// The one small interface every layer compressor implements (gzip in-process with zlib, gzip
// through igzip, zstd through its CLI, none). Compressors are fed the tar (the layer pipeline
// hands them fixed 1 MiB chunks) and deliver output through `onData`, in order.

export interface Compressor {
  /**
   * What made the bytes, as `engine:level@version` (e.g. 'zlib:6@1.3.1', 'igzip:3@2.30.0',
   * 'zstd-cli:3@1.5.4', 'none'): the same text always means the same output for the same input.
   */
  readonly name: string;
  /**
   * The input chunk size this compressor works best with (default 1 MiB). Never changes the
   * output: compressors that cut their input into blocks do it themselves, by a fixed size.
   */
  readonly inputChunkBytes?: number;
  /** the output went straight into CompressorOptions.outputFile; onData was never called */
  readonly writesOutputFile?: boolean;
  /**
   * Take `chunk` until `release(chunk)` is called (then the caller may reuse its memory).
   * Returns a promise only when the caller should wait (backpressure).
   */
  write(chunk: Buffer, release?: (chunk: Buffer) => void): Promise<void> | undefined;
  /** Flush; resolves once every output byte went to onData, rejects on any compressor failure. */
  end(): Promise<void>;
  /** Stop and release everything (child process, zlib handles). Never throws. */
  abort(): void;
}

export type OnCompressedData = (chunk: Buffer) => void;

export interface CompressorOptions {
  /**
   * How many compression jobs of this layer may run at once (the --jobs budget, >= 1). Engines
   * that can split one stream (zlib in blocks, zstd's workers) use it; the output never depends
   * on it.
   */
  threads: number;
  /**
   * The blob's temp file, for engines that run as a child process: it writes its output there
   * itself (file-child.ts) instead of handing it back through onData. The caller then reads the
   * file back to hash it (BlobWriter.adoptWrittenBytes) when `writesOutputFile` is set.
   */
  outputFile?: { fd: number; fifoPath: string };
}
