// Content-addressed blobs in an OCI layout: OUT/blobs/sha256/<hex>.
// Nothing half-written is ever visible under a digest name: bytes go to a temp file in the same
// directory (`.tmp-…`, never digest-shaped), which is fsynced, renamed over the final name and
// followed by an fsync of the directory. An export's layer blobs take a split path: the worker
// seals the blob (finish with deferCommit), the main thread fsyncs and renames it
// (commitSealedBlob), and the directory is fsynced once before an index names the blobs
// (syncBlobsDir). A blob already present is re-hashed, not rewritten; a present but wrong one is
// replaced. Sync fs: layer blobs are written from worker threads, and the main thread only writes
// small JSON blobs here (its commits of layer blobs wait in the thread pool).
import { createHash, randomBytes, type Hash } from 'node:crypto';
import {
  closeSync,
  constants as fsc,
  fdatasync,
  fstatSync,
  fsync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  readdirSync,
  renameSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { OutputError } from '../errors.js';
import { DIGEST_RE } from '../ids.js';
import { processAlive } from '../process-info.js';
import { stopRequested } from '../engine/stop-flag.js';
import { DIRECT_ALIGN, DirectFileWriter, SlowWriteDetector, TIMED_WRITE_BYTES, directIoMode } from './direct-io.js';

export interface BlobInfo {
  /** sha256:<hex> */
  digest: string;
  size: number;
  /** the blob was already there with the right content; nothing was written */
  reused: boolean;
  /** finish({ deferCommit: true }): what commitSealedBlob() still has to do (absent when reused or hash-only) */
  sealed?: SealedBlob;
}

/**
 * A layer blob whose bytes are all in its temp file and checked against its digest, but not yet
 * synced nor renamed: finish({ deferCommit: true }) hands this to whoever commits it (the export's
 * main thread, so a worker does not sit through the device flush). Plain data, so it can cross
 * from a worker thread: descriptors are the process's, not the thread's.
 */
export interface SealedBlob {
  /**
   * The temp file's descriptor, still open: Linux reports a writeback error to the descriptors
   * open when it happened, so the commit's fsync must be on this one, not on a new open.
   */
  fd: number;
  tempPath: string;
  finalPath: string;
}

/** Prefix of every temp file; removeStaleTemps() only ever deletes names starting with it. */
export const TEMP_PREFIX = '.tmp-';
const TEMP_RE = /^\.tmp-(\d+)-(\d+)-[0-9a-f]+(?:\.fifo)?$/;
const READ_CHUNK = 1024 * 1024;

export function blobsDir(outDir: string): string {
  return join(outDir, 'blobs', 'sha256');
}

/** Path of a blob; refuses anything that is not `sha256:<64 lowercase hex>`. */
export function blobPath(outDir: string, digest: string): string {
  if (!DIGEST_RE.test(digest)) throw new OutputError('E_DIGEST_INVALID', `not a sha256 digest: ${JSON.stringify(digest)}`);
  return join(blobsDir(outDir), digest.slice('sha256:'.length));
}

function outputError(what: string, file: string, err: unknown): OutputError {
  const code = (err as NodeJS.ErrnoException)?.code;
  return new OutputError(code === 'ENOSPC' ? 'E_NO_SPACE' : 'E_OUTPUT_WRITE', `${what} ${file}: ${code ?? (err as Error)?.message ?? err}`, file, err);
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Create blobs/sha256 (and fsync the parents it had to create, so the dirs survive a crash too). */
export function ensureBlobsDir(outDir: string): string {
  const dir = blobsDir(outDir);
  let created: string | undefined;
  try {
    created = mkdirSync(dir, { recursive: true });
    if (created !== undefined) {
      for (const d of [outDir, join(outDir, 'blobs')]) fsyncDir(d);
    }
  } catch (err) {
    throw outputError('cannot create', dir, err);
  }
  return dir;
}

/** sha256 of a file, read through one buffer, without following a symlink; null when it is not a readable regular file. */
function hashFile(path: string): { digest: string; size: number } | null {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK);
  } catch {
    return null;
  }
  try {
    if (!fstatSync(fd).isFile()) return null;
    const hash = createHash('sha256');
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    let size = 0;
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      hash.update(buf.subarray(0, n));
      size += n;
    }
    return { digest: `sha256:${hash.digest('hex')}`, size };
  } catch {
    return null;
  } finally {
    closeSync(fd);
  }
}

/**
 * Whether OUT has `digest` with exactly that content (re-hashed; `size` checked first when given).
 * Sync: for layer-sized blobs on the main thread prefer doing it in a worker.
 */
export function hasVerifiedBlob(outDir: string, digest: string, size?: number): boolean {
  const path = blobPath(outDir, digest);
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st || !st.isFile()) return false;
  if (size !== undefined && st.size !== size) return false;
  const got = hashFile(path);
  return got !== null && got.digest === digest && (size === undefined || got.size === size);
}

let tempCounter = 0;
function tempName(): string {
  return `${TEMP_PREFIX}${process.pid}-${threadId}-${++tempCounter}${randomBytes(4).toString('hex')}`;
}

/**
 * Streaming writer for one blob of unknown digest: write() chunks, then finish() to commit it
 * under its digest, or abort() to drop it. With `outDir` null it only hashes and counts.
 */
export interface BlobWriterOptions {
  /**
   * false: do not hash here; finish(expectedDigest) must then be given the digest, computed by
   * the caller over exactly the bytes written (a layer written uncompressed: the diffID).
   */
  hash?: boolean;
  /**
   * Start writeback early: after every EARLY_SYNC_BYTES written, an fdatasync runs on libuv's
   * thread pool while the caller goes on producing, so the commit's fsync has little left to
   * flush. The kernel would otherwise write nothing back before the commit (its background
   * threshold is a share of RAM), and a worker would sit idle through each layer's whole flush.
   * The caller must `await settle()` before finish().
   */
  earlySync?: boolean;
}

/** Bytes written between two early syncs. */
export const EARLY_SYNC_BYTES = 32 * 1024 * 1024;

function writeAllSync(fd: number, chunk: Uint8Array, start: number, end: number): void {
  let off = start;
  while (off < end) off += writeSync(fd, chunk, off, end - off);
}

export class BlobWriter {
  private readonly hash: Hash | null;
  private readonly dir: string | null;
  private tempPath: string | null;
  private fd: number | null;
  private bytes = 0;
  private done = false;
  private readonly earlySync: boolean;
  private unsynced = 0;
  /** the early sync in flight */
  private syncing: Promise<void> | null = null;
  /**
   * An early sync's error. Linux reports a writeback error once per open file, so one seen by an
   * early sync would not be seen again by the commit's fsync: it is kept and fails the commit.
   */
  private syncError: NodeJS.ErrnoException | null = null;
  /** set by useDirectIO(), or on the way by preferDirectIO(): the bytes go around the page cache (see direct-io.ts) */
  private direct: DirectFileWriter | null = null;
  /** preferDirectIO() in auto mode: buffered writes are timed and judged here until they are slow */
  private slowWrites: SlowWriteDetector | null = null;
  /** they were slow: the next 4 KiB boundary switches to O_DIRECT */
  private switchPending = false;

  private constructor(outDir: string | null, opts: BlobWriterOptions) {
    this.hash = opts.hash === false ? null : createHash('sha256');
    this.earlySync = opts.earlySync === true;
    if (outDir === null) {
      this.dir = null;
      this.tempPath = null;
      this.fd = null;
      return;
    }
    // interrupted (SIGINT/SIGTERM): the handler is removing this process's temp files; make none
    if (stopRequested()) throw new OutputError('E_INTERRUPTED', 'interrupted: no new blob is started');
    this.dir = ensureBlobsDir(outDir);
    this.tempPath = join(this.dir, tempName());
    try {
      this.fd = openSync(this.tempPath, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o644);
    } catch (err) {
      throw outputError('cannot create', this.tempPath, err);
    }
  }

  static open(outDir: string | null, opts: BlobWriterOptions = {}): BlobWriter {
    return new BlobWriter(outDir, opts);
  }

  get size(): number {
    return this.bytes;
  }

  /**
   * Write this blob through O_DIRECT (see direct-io.ts), for blobs of layer size that this
   * thread writes itself; call before the first write. False when it cannot be used here (hash
   * only, turned off, a filesystem without O_DIRECT): writes then go the ordinary way.
   */
  useDirectIO(): boolean {
    if (this.direct !== null) return true;
    if (this.done || this.fd === null || this.tempPath === null || this.bytes > 0) return false;
    this.direct = DirectFileWriter.open(this.tempPath, this.fd);
    return this.direct !== null;
  }

  /**
   * For blobs of layer size that this thread writes itself; call before the first write. With
   * LEGACY2OCI_DIRECT_IO=1, O_DIRECT from the first byte (useDirectIO); by default the writes
   * start buffered and are timed, and the rest of the blob goes through O_DIRECT once they cost
   * more than the device would (direct-io.ts explains when that happens); =0: buffered.
   */
  preferDirectIO(): void {
    const mode = directIoMode();
    if (mode === 'always') this.useDirectIO();
    else if (mode === 'auto' && !this.done && this.fd !== null && this.bytes === 0) this.slowWrites = new SlowWriteDetector();
  }

  /** Whether the blob's bytes are going through O_DIRECT now. */
  get writingDirect(): boolean {
    return this.direct !== null;
  }

  /**
   * Where a child process may write the blob's bytes itself (its stdout): the temp file's fd,
   * or null when nothing is written (hash only) or the blob is written through O_DIRECT here.
   * Call adoptWrittenBytes() once it is done.
   */
  get externalFd(): number | null {
    return this.done || this.direct !== null ? null : this.fd;
  }

  /** A temp path beside the blob's temp file (same cleanup rules), e.g. for a FIFO. */
  siblingTempPath(suffix: string): string | null {
    return this.tempPath === null ? null : `${this.tempPath}.${suffix}`;
  }

  /**
   * The temp file was filled through externalFd by someone else: hash and count what it holds
   * (read back from the page cache), as if it had come through write().
   */
  adoptWrittenBytes(readBuffer: Buffer = Buffer.allocUnsafe(1024 * 1024)): void {
    if (this.done || this.fd === null || this.tempPath === null) throw new OutputError('E_BLOB_CLOSED', 'nothing to adopt');
    let rfd: number;
    try {
      rfd = openSync(this.tempPath, fsc.O_RDONLY | fsc.O_NOFOLLOW);
    } catch (err) {
      throw outputError('cannot read back', this.tempPath, err);
    }
    try {
      this.bytes = 0;
      for (;;) {
        const n = readSync(rfd, readBuffer, 0, readBuffer.length, null);
        if (n === 0) break;
        this.hash?.update(readBuffer.subarray(0, n));
        this.bytes += n;
      }
    } catch (err) {
      throw outputError('cannot read back', this.tempPath, err);
    } finally {
      closeSync(rfd);
    }
  }

  write(chunk: Uint8Array): void {
    if (this.done) throw new OutputError('E_BLOB_CLOSED', 'write after finish/abort');
    this.hash?.update(chunk);
    this.bytes += chunk.length;
    if (this.fd === null) return;
    if (this.direct !== null) {
      this.direct.write(chunk);
      return;
    }
    const at = this.bytes - chunk.length;
    let off = 0;
    try {
      if (this.switchPending) {
        off = this.switchToDirect(chunk, at);
        if (this.direct !== null) return;
      }
      const judge = chunk.length - off >= TIMED_WRITE_BYTES ? this.slowWrites : null;
      const started = judge ? performance.now() : 0;
      writeAllSync(this.fd, chunk, off, chunk.length);
      if (judge?.note((performance.now() - started) * 1000, chunk.length - off)) {
        this.slowWrites = null;
        this.switchPending = true;
      }
    } catch (err) {
      throw outputError('cannot write', this.tempPath!, err);
    }
    if (this.earlySync) {
      this.unsynced += chunk.length;
      if (this.unsynced >= EARLY_SYNC_BYTES && this.syncing === null) this.startEarlySync(this.fd);
    }
  }

  /**
   * Move on to O_DIRECT within `chunk` (which starts at file offset `at`): the bytes up to the
   * next DIRECT_ALIGN boundary are written buffered here, the rest goes to the direct writer.
   * Returns how much of the chunk was written; when the boundary lies beyond the chunk, nothing
   * is written and the switch waits for a later chunk. Without O_DIRECT the blob stays buffered.
   */
  private switchToDirect(chunk: Uint8Array, at: number): number {
    const toBoundary = (DIRECT_ALIGN - (at % DIRECT_ALIGN)) % DIRECT_ALIGN;
    if (toBoundary >= chunk.length) return 0;
    writeAllSync(this.fd!, chunk, 0, toBoundary);
    this.switchPending = false;
    this.direct = DirectFileWriter.open(this.tempPath!, this.fd!, at + toBoundary);
    this.direct?.write(chunk.subarray(toBoundary));
    return toBoundary;
  }

  /**
   * Someone else (a compressor child, through externalFd) is filling the temp file, and
   * `inputBytes` more of its input went in. Early syncs follow the same schedule as for bytes
   * written here, counted in input bytes (the output is no bigger, give or take a header): the
   * kernel writes the child's output back while the layer goes on, and the commit's fsync does
   * not leave a worker idle through the whole blob's flush. The caller awaits settle() before
   * adoptWrittenBytes() and finish(), as for its own writes.
   */
  noteExternalProgress(inputBytes: number): void {
    if (!this.earlySync || this.fd === null || this.done) return;
    this.unsynced += inputBytes;
    if (this.unsynced >= EARLY_SYNC_BYTES && this.syncing === null) this.startEarlySync(this.fd);
  }

  /**
   * The child is done: start writing back what it wrote since the last early sync (unless a sync
   * is still running), so that flush overlaps with adoptWrittenBytes()'s read-back and hash.
   */
  syncExternalWrites(): void {
    if (!this.earlySync || this.fd === null || this.done || this.syncing !== null || this.unsynced === 0) return;
    this.startEarlySync(this.fd);
  }

  private startEarlySync(fd: number): void {
    this.unsynced = 0;
    this.syncing = new Promise<void>((resolve) => {
      fdatasync(fd, (err) => {
        if (err) this.syncError ??= err;
        this.syncing = null;
        resolve();
      });
    });
  }

  /** Wait for the early sync or the O_DIRECT writes in flight, if any (before finish()). */
  async settle(): Promise<void> {
    while (this.syncing) await this.syncing;
    if (this.direct !== null) await this.direct.settle();
  }

  /**
   * Commit: verify against `expectedDigest` when given (with `hash: false` it is taken as the digest), fsync, rename to blobs/sha256/<hex>,
   * fsync the dir. An existing blob with the right content is kept (reused) and the temp dropped.
   * `deferCommit`: stop before the fsync and return the temp file as `sealed` (its descriptor and
   * path now belong to the caller, who commits it with commitSealedBlob).
   */
  finish(expectedDigest?: string, opts: { deferCommit?: boolean } = {}): BlobInfo {
    if (this.done) throw new OutputError('E_BLOB_CLOSED', 'finish after finish/abort');
    if (this.hash === null && (expectedDigest === undefined || !DIGEST_RE.test(expectedDigest))) {
      this.abort();
      throw new OutputError('E_BLOB_DIGEST_MISSING', 'a blob written without hashing needs its digest at finish');
    }
    const digest = this.hash ? `sha256:${this.hash.digest('hex')}` : expectedDigest!;
    if (expectedDigest !== undefined && expectedDigest !== digest) {
      this.abort();
      throw new OutputError('E_BLOB_DIGEST_MISMATCH', `blob digest ${digest} does not match the expected ${expectedDigest}`);
    }
    if (this.syncing !== null || this.direct?.busy) {
      this.abort();
      throw new OutputError('E_BLOB_SYNC_PENDING', 'finish called while an early sync or O_DIRECT writes are running (await settle() first)');
    }
    this.done = true;
    if (this.fd === null || this.dir === null || this.tempPath === null) return { digest, size: this.bytes, reused: false };
    const finalPath = join(this.dir, digest.slice('sha256:'.length));
    try {
      if (this.syncError) throw this.syncError;
      // the rest of an O_DIRECT blob; the fsync below on the ordinary descriptor covers it all
      this.direct?.finish();
      this.direct = null;
      const existing = lstatSync(finalPath, { throwIfNoEntry: false });
      if (existing?.isFile() && existing.size === this.bytes) {
        const got = hashFile(finalPath);
        if (got && got.digest === digest) {
          this.cleanup();
          return { digest, size: this.bytes, reused: true };
        }
      }
      if (opts.deferCommit) {
        // the descriptor and the temp file now belong to the SealedBlob
        const sealed: SealedBlob = { fd: this.fd, tempPath: this.tempPath, finalPath };
        this.fd = null;
        this.tempPath = null;
        return { digest, size: this.bytes, reused: false, sealed };
      }
      fsyncSync(this.fd);
      closeSync(this.fd);
      this.fd = null;
      renameSync(this.tempPath, finalPath);
      fsyncDir(this.dir);
    } catch (err) {
      this.cleanup();
      throw outputError('cannot commit blob', finalPath, err);
    }
    return { digest, size: this.bytes, reused: false };
  }

  /** Drop the temp file. Never throws. */
  abort(): void {
    this.done = true;
    this.cleanup();
  }

  private cleanup(): void {
    this.direct?.abort();
    this.direct = null;
    if (this.fd !== null) {
      const fd = this.fd;
      this.fd = null;
      const close = (): void => {
        try {
          closeSync(fd);
        } catch {
          /* already closed */
        }
      };
      // An early fdatasync still queued in the thread pool names this fd number: closed now, the
      // number could go to another blob's temp file (any thread's), and the stray sync would take
      // that file's writeback error, which its own commit fsync would then never see.
      if (this.syncing !== null) void this.syncing.then(close);
      else close();
    }
    if (this.tempPath !== null) {
      try {
        unlinkSync(this.tempPath);
      } catch {
        /* gone already (renamed or removed) */
      }
    }
  }
}

/**
 * Commit a sealed blob (see SealedBlob): fsync its temp file through the thread pool, close it,
 * rename it to its digest. The blobs directory is not synced here: the rename is made durable by
 * syncBlobsDir() before any index names the blob (updateIndex does), so one directory sync covers
 * every blob of an export instead of one per blob. A crash before that leaves either the temp
 * file or the blob under its digest, its bytes synced either way, and no index naming it.
 * `replaced`: a blob of that digest was already in place (see below).
 * On failure the temp file is removed and the error is an OutputError naming the blob.
 */
export async function commitSealedBlob(sealed: SealedBlob): Promise<{ replaced: boolean }> {
  try {
    await new Promise<void>((resolve, reject) => fsync(sealed.fd, (err) => (err ? reject(err) : resolve())));
    // Another layer of the same export with the same bytes may have been committed since this
    // one was sealed (identical empty layers are common): the rename then replaces it with the
    // same verified bytes, and the caller counts this layer as reused rather than written.
    const replaced = lstatSync(sealed.finalPath, { throwIfNoEntry: false })?.isFile() === true;
    renameSync(sealed.tempPath, sealed.finalPath);
    return { replaced };
  } catch (err) {
    try {
      unlinkSync(sealed.tempPath);
    } catch {
      /* gone already */
    }
    throw outputError('cannot commit blob', sealed.finalPath, err);
  } finally {
    try {
      closeSync(sealed.fd);
    } catch {
      /* closed already */
    }
  }
}

/** Make the renames of committed blobs durable: fsync OUT/blobs/sha256 (when it exists). */
export async function syncBlobsDir(outDir: string): Promise<void> {
  let fd: number;
  try {
    fd = openSync(blobsDir(outDir), fsc.O_RDONLY | fsc.O_DIRECTORY);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw outputError('cannot sync', blobsDir(outDir), err);
  }
  try {
    await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
  } catch (err) {
    throw outputError('cannot sync', blobsDir(outDir), err);
  } finally {
    closeSync(fd);
  }
}

/** Store a small blob (config, manifest JSON) and return its descriptor facts. `outDir` null: hash only. */
export function putBlob(outDir: string | null, bytes: Uint8Array | string): BlobInfo {
  const data = typeof bytes === 'string' ? Buffer.from(bytes, 'utf8') : bytes;
  const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
  if (outDir !== null && hasVerifiedBlob(outDir, digest, data.length)) return { digest, size: data.length, reused: true };
  const w = BlobWriter.open(outDir);
  try {
    w.write(data);
    return w.finish(digest);
  } catch (err) {
    w.abort();
    throw err;
  }
}

/**
 * Remove temp files left by interrupted runs from blobs/ and blobs/sha256/: those whose writer
 * process is gone, and (with `olderThanMs`) any older than that. Returns the removed paths.
 * Temps of live processes, this one included, are kept unless old enough.
 */
export function removeStaleTemps(outDir: string, opts: { olderThanMs?: number; now?: number } = {}): string[] {
  const removed: string[] = [];
  const now = opts.now ?? Date.now();
  for (const dir of [join(outDir, 'blobs'), blobsDir(outDir)]) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    for (const name of names) {
      if (!name.startsWith(TEMP_PREFIX)) continue;
      const path = join(dir, name);
      const st = lstatSync(path, { throwIfNoEntry: false });
      if (!st || !(st.isFile() || st.isFIFO())) continue; // FIFOs: see engine/compression/file-child.ts
      const m = TEMP_RE.exec(name);
      const pid = m ? Number(m[1]) : NaN;
      const old = opts.olderThanMs !== undefined && now - st.mtimeMs > opts.olderThanMs;
      const orphan = !Number.isInteger(pid) || (pid !== process.pid && !processAlive(pid));
      if (!old && !orphan) continue;
      try {
        unlinkSync(path);
        removed.push(path);
      } catch (err) {
        throw outputError('cannot remove stale temp file', path, err);
      }
    }
  }
  return removed;
}
