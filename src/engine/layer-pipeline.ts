// One pass per layer: tar bytes → sha256 (diffID) → compressor → sha256 (digest) + size → temp
// blob → commit. The tar arrives in pieces of any size (512-byte headers, file chunks); it is
// coalesced into fixed chunks before hashing and compression (the compressor's `inputChunkBytes`,
// 1 MiB by default): zlib is much faster fed large blocks, and the compressor input no longer
// depends on how the producer split its writes.
//
// The producer (replay, regeneration) runs synchronously on this thread, so a compressor that
// progresses through callbacks here (zlib's thread pool, a child's pipes) only moves when the
// event loop gets a turn: the pipeline gives it one after every chunk. A spawned compressor asks
// for smaller chunks, so its pipe (a socket of ~200 KiB) is refilled often enough that the
// child never waits for input while this thread reads and hashes.
import { createHash } from 'node:crypto';
import { BlobWriter, type SealedBlob } from '../oci/blob-store.js';
import type { TarSink } from '../tar/sink.js';
import type { Compressor } from './compression/compressor.js';
import { createCompressor, layerMediaType } from './compression/registry.js';
import type { CompressionSpec } from './types.js';

export const COALESCE_BYTES = 1024 * 1024;
/** Uncompressed layers give the event loop a turn once per this many chunks' worth of bytes (see flush). */
const IDENTITY_CHUNKS_PER_TURN = 16;
/** Uncompressed: pieces at least this big skip the chunk copy (see write). */
const DIRECT_WRITE_BYTES = 64 * 1024;
/** Spare chunks kept for reuse: fresh 1 MiB buffers cost page faults and GC on every chunk. */
const MAX_SPARE_CHUNKS = 16;

export interface LayerDigests {
  diffID: string;
  digest: string;
  size: number;
  uncompressedSize: number;
  mediaType: string;
  compressor: string;
  reused: boolean;
  /** finish({ deferCommit: true }): the blob still to be committed (commitSealedBlob) */
  sealed?: SealedBlob;
}

export class LayerPipeline implements TarSink {
  private readonly diffHash = createHash('sha256');
  private readonly blob: BlobWriter;
  private readonly compressor: Compressor;
  private readonly mediaType: string;
  /** bytes per chunk handed to the compressor */
  private readonly chunkBytes: number;
  private chunk: Buffer;
  private readonly spare: Buffer[] = [];
  private readonly release = (chunk: Buffer): void => {
    if (chunk.length === this.chunkBytes && this.spare.length < MAX_SPARE_CHUNKS) this.spare.push(chunk);
  };
  /** 'none': the blob is the tar, so its digest is the diffID; no second hash */
  private readonly identity: boolean;
  private fill = 0;
  private bytesSinceTurn = 0;
  private tarBytes = 0;
  private failure: unknown = null;
  private closed = false;

  /** `outDir` null: hash only, nothing is written. `threads`: the compressor's parallelism within this layer (same bytes for any value). */
  constructor(outDir: string | null, spec: CompressionSpec, threads = 1) {
    this.mediaType = layerMediaType(spec);
    this.identity = spec.algorithm === 'none';
    this.blob = BlobWriter.open(outDir, { hash: !this.identity, earlySync: true });
    try {
      const fd = this.blob.externalFd;
      const fifoPath = this.blob.siblingTempPath('fifo');
      const outputFile = fd !== null && fifoPath !== null ? { fd, fifoPath } : undefined;
      this.compressor = createCompressor(spec, (out) => this.blob.write(out), { threads, ...(outputFile ? { outputFile } : {}) });
      // the blob's bytes come through this thread (uncompressed, zlib): around the page cache
      // when going through it turns out dear (see direct-io.ts)
      if (!this.compressor.writesOutputFile) this.blob.preferDirectIO();
    } catch (err) {
      this.blob.abort();
      throw err;
    }
    this.chunkBytes = this.compressor.inputChunkBytes ?? COALESCE_BYTES;
    this.chunk = Buffer.allocUnsafe(this.chunkBytes);
  }

  write(data: Buffer): Promise<void> | undefined {
    if (this.failure) return Promise.reject(this.failure);
    // Uncompressed, nothing depends on chunk boundaries: a large piece (a file body read in
    // 1 MiB reads) is hashed and written as it is, without the copy into a chunk.
    if (this.identity && data.length >= DIRECT_WRITE_BYTES) return this.writeDirect(data);
    let waits: Promise<void>[] | null = null;
    let off = 0;
    while (off < data.length) {
      const n = Math.min(this.chunkBytes - this.fill, data.length - off);
      data.copy(this.chunk, this.fill, off, off + n);
      this.fill += n;
      off += n;
      if (this.fill === this.chunkBytes) {
        const wait = this.flush();
        if (wait) (waits ??= []).push(wait);
      }
    }
    if (!waits) return undefined;
    return waits.length === 1 ? waits[0] : Promise.all(waits).then(() => undefined);
  }

  private writeDirect(data: Buffer): Promise<void> | undefined {
    let wait: Promise<void> | undefined;
    if (this.fill > 0) wait = this.flush(); // what came before goes first
    this.diffHash.update(data);
    this.tarBytes += data.length;
    // no release callback: `data` is the producer's buffer and must never become a spare chunk
    const direct = this.compressor.write(data);
    if (direct) return wait ? Promise.all([wait, direct]).then(() => undefined) : direct;
    if (wait) return wait;
    return this.turnEvery(data.length);
  }

  /** In identity mode, a turn of the event loop once per IDENTITY_CHUNKS_PER_TURN chunks' worth of bytes. */
  private turnEvery(bytes: number): Promise<void> | undefined {
    this.bytesSinceTurn += bytes;
    if (this.bytesSinceTurn < IDENTITY_CHUNKS_PER_TURN * this.chunkBytes) return undefined;
    this.bytesSinceTurn = 0;
    return new Promise<void>((resolve) => setImmediate(resolve));
  }

  private flush(): Promise<void> | undefined {
    const full = this.fill === this.chunk.length ? this.chunk : this.chunk.subarray(0, this.fill);
    this.diffHash.update(full);
    this.tarBytes += full.length;
    // the compressor keeps the buffer until it releases it: continue in a spare one
    this.chunk = this.spare.pop() ?? Buffer.allocUnsafe(this.chunkBytes);
    this.fill = 0;
    const wait = this.compressor.write(full, this.release);
    // a compressor child writing the temp file itself: early syncs on the input's schedule
    if (this.compressor.writesOutputFile) this.blob.noteExternalProgress(full.length);
    if (wait) {
      wait.catch((err) => (this.failure ??= err));
      return wait;
    }
    // Give the event loop a turn once per chunk: zlib (thread pool) and a compressor child
    // only progress through callbacks on this thread, and producers run sync code otherwise.
    // Uncompressed, once every few chunks is enough: only the blob's early sync needs it.
    if (this.identity) return this.turnEvery(full.length);
    return new Promise<void>((resolve) => setImmediate(resolve));
  }

  /**
   * How much a producer should hand over per write: the compressor's chunk size. Producers that
   * read files in pieces of this size give the event loop a turn per piece (see the top).
   */
  get preferredWriteBytes(): number {
    return this.chunkBytes;
  }

  /**
   * Flush, wait for the compressor, commit the blob. `deferCommit`: the blob comes back sealed
   * instead, its fsync and rename left to the caller (see BlobWriter.finish, commitSealedBlob).
   */
  async finish(opts: { deferCommit?: boolean } = {}): Promise<LayerDigests> {
    if (this.closed) throw new Error('LayerPipeline.finish called twice');
    this.closed = true;
    try {
      if (this.failure) throw this.failure;
      if (this.fill > 0) {
        const wait = this.flush();
        if (wait) await wait;
      }
      await this.compressor.end();
      if (this.failure) throw this.failure;
      if (this.compressor.writesOutputFile) {
        // the child's last bytes go to disk in the thread pool while they are read back and hashed here
        this.blob.syncExternalWrites();
        this.blob.adoptWrittenBytes(this.chunk);
      }
      await this.blob.settle();
      const diffID = `sha256:${this.diffHash.digest('hex')}`;
      const blob = this.blob.finish(this.identity ? diffID : undefined, opts);
      return {
        diffID,
        digest: blob.digest,
        size: blob.size,
        uncompressedSize: this.tarBytes,
        mediaType: this.mediaType,
        compressor: this.compressor.name,
        reused: blob.reused,
        ...(blob.sealed ? { sealed: blob.sealed } : {}),
      };
    } catch (err) {
      this.abort();
      throw err;
    }
  }

  /** Throw everything away (temp file, compressor). Never throws. */
  abort(): void {
    this.closed = true;
    this.compressor.abort();
    this.blob.abort();
  }
}
