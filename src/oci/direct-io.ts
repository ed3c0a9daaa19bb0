// Writing a layer blob around the page cache (O_DIRECT), behind a second descriptor of the
// blob's temp file.
//
// Buffered writes cost page-cache pages: allocated, copied into, written back, and (after the
// blob is committed) kept in memory for nobody. On this project's VMs, where every guest page
// first touched costs a trip to the host, writing 1 GB buffered and syncing it took 2.1 s of
// CPU; through O_DIRECT it takes 0.2 s, and migrating hundreds of GB no longer floods the page
// cache. O_DIRECT wants the memory address, the file offset and the length aligned to the
// device's logical block: the bytes are staged in 1 MiB slots of WebAssembly memory (page
// aligned, which a Buffer's memory is not) and each full slot is written by libuv's thread
// pool while the producer goes on. The last partial block goes through the ordinary
// descriptor, and the commit's fsync on that descriptor covers everything (data, size, the
// device's cache).
//
// When: page-cache writes are not always dear. Pages the guest touches for the first time cost
// ~2.5 ms per MiB here; pages freed and taken again ~0.12 ms, where the device takes a 1 MiB
// direct write in ~1 ms. So by default (LEGACY2OCI_DIRECT_IO=auto) a layer blob starts out
// buffered, BlobWriter times its writes, and it moves on through O_DIRECT from the next 4 KiB
// boundary once they cost more than slowWriteUsPerMiB() (SlowWriteDetector, used by
// BlobWriter.preferDirectIO).
// LEGACY2OCI_DIRECT_IO=1 writes such blobs through O_DIRECT from the first byte, =0 never.
//
// Filesystems without O_DIRECT (tmpfs before Linux 6.6, some FUSE) refuse the open: the blob is
// then written the ordinary way.
import { closeSync, constants as fsc, openSync, write as fsWrite, writeSync } from 'node:fs';
import { pageAlignedMemory } from '../wasm/one-function-module.js';

/** Alignment of offsets and lengths: 4096 covers every logical block size in use. */
export const DIRECT_ALIGN = 4096;
export const SLOT_BYTES = 1024 * 1024;
/** Slots per thread: up to SLOTS - 1 MiB in flight while the next one fills. */
const SLOTS = 8;

/** This thread's staging memory and its free slots (undefined: not made yet; null: unavailable). */
let staging: Buffer | null | undefined;
const freeSlots: number[] = [];

function stagingMemory(): Buffer | null {
  if (staging !== undefined) return staging;
  try {
    staging = Buffer.from(pageAlignedMemory(SLOTS * SLOT_BYTES));
    for (let i = SLOTS - 1; i >= 0; i--) freeSlots.push(i);
  } catch {
    staging = null; // no WebAssembly (--jitless): ordinary writes
  }
  return staging;
}

export type DirectIoMode = 'off' | 'always' | 'auto';

/** LEGACY2OCI_DIRECT_IO: 0 = never, 1 = always, anything else = auto (see the top). */
export function directIoMode(): DirectIoMode {
  if (fsc.O_DIRECT === undefined) return 'off';
  const v = process.env.LEGACY2OCI_DIRECT_IO;
  return v === '0' ? 'off' : v === '1' ? 'always' : 'auto';
}

/**
 * Buffered writes slower than this (µs per MiB, averaged over a window of a blob's writes) move
 * the rest of the blob to O_DIRECT: about what the device takes for a 1 MiB direct write.
 * LEGACY2OCI_DIRECT_IO_SLOW_US overrides it (the tests force the switch with 0).
 */
function slowWriteUsPerMiB(): number {
  const v = Number(process.env.LEGACY2OCI_DIRECT_IO_SLOW_US);
  return process.env.LEGACY2OCI_DIRECT_IO_SLOW_US !== undefined && Number.isFinite(v) && v >= 0 ? v : 1000;
}

/** Buffered writes at least this big are timed … */
export const TIMED_WRITE_BYTES = 64 * 1024;
/**
 * … and judged per window of this many bytes of them; it takes SLOW_WINDOWS slow windows in a
 * row to switch. Measured on the bench host with cheap pages: windows of 4 MiB cost a median
 * of ~200 µs per MiB, but one in ten cost more than 600 and a few spiked past 1,000; with the
 * pages first touched, every window costs ~2,500.
 */
const COST_WINDOW_BYTES = 8 * 1024 * 1024;
const SLOW_WINDOWS = 2;

/** The auto mode's judge: fed the cost of a blob's buffered writes, it says when to switch. */
export class SlowWriteDetector {
  private windowUs = 0;
  private windowBytes = 0;
  /** slow windows in a row */
  private slowWindows = 0;

  /** A buffered write of `bytes` took `us`; true once the blob should move to O_DIRECT. */
  note(us: number, bytes: number): boolean {
    this.windowUs += us;
    this.windowBytes += bytes;
    if (this.windowBytes < COST_WINDOW_BYTES) return false;
    const usPerMiB = (this.windowUs / this.windowBytes) * 1024 * 1024;
    this.windowUs = 0;
    this.windowBytes = 0;
    this.slowWindows = usPerMiB > slowWriteUsPerMiB() ? this.slowWindows + 1 : 0;
    return this.slowWindows >= SLOW_WINDOWS;
  }
}

/**
 * Appends bytes to a file through an O_DIRECT descriptor. write() copies into a slot and
 * hands full slots to the thread pool; settle() waits for them; finish() writes the rest and
 * closes the O_DIRECT descriptor (the caller then fsyncs its own). Errors of background writes
 * are kept and thrown by finish().
 */
export class DirectFileWriter {
  private readonly fd: number;
  /** the caller's ordinary descriptor of the same file: the tail, and the rest of a short write */
  private readonly ordinaryFd: number;
  private readonly memory: Buffer;
  /** the slot being filled, -1 when none is held */
  private slot = -1;
  private fill = 0;
  /** file offset where the slot being filled starts */
  private offset = 0;
  private inFlight = 0;
  private idle: Array<() => void> = [];
  private error: NodeJS.ErrnoException | null = null;
  private closed = false;
  private fdClosed = false;

  private constructor(fd: number, ordinaryFd: number, memory: Buffer, slot: number, offset: number) {
    this.fd = fd;
    this.ordinaryFd = ordinaryFd;
    this.memory = memory;
    this.slot = slot;
    this.offset = offset;
  }

  /**
   * A writer that appends to `path` (an existing file the caller holds open as `ordinaryFd`,
   * `startOffset` bytes long, a multiple of DIRECT_ALIGN), or null when O_DIRECT cannot be used
   * here: turned off, no aligned memory, no free slot, or a filesystem that refuses it.
   */
  static open(path: string, ordinaryFd: number, startOffset = 0): DirectFileWriter | null {
    if (directIoMode() === 'off' || startOffset % DIRECT_ALIGN !== 0) return null;
    const memory = stagingMemory();
    if (memory === null || freeSlots.length === 0) return null;
    let fd: number;
    try {
      fd = openSync(path, fsc.O_WRONLY | fsc.O_DIRECT | fsc.O_NOFOLLOW);
    } catch {
      return null; // EINVAL where the filesystem has no O_DIRECT
    }
    return new DirectFileWriter(fd, ordinaryFd, memory, freeSlots.pop()!, startOffset);
  }

  write(chunk: Uint8Array): void {
    if (this.closed) throw new Error('DirectFileWriter: write after finish/abort');
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(SLOT_BYTES - this.fill, chunk.length - off);
      this.memory.set(chunk.subarray(off, off + n), this.slot * SLOT_BYTES + this.fill);
      this.fill += n;
      off += n;
      if (this.fill === SLOT_BYTES) this.flushSlot();
    }
  }

  /** Hand the full slot to the thread pool and continue in a free one; with none free, write it here. */
  private flushSlot(): void {
    const slot = this.slot;
    const position = this.offset;
    this.offset += SLOT_BYTES;
    this.fill = 0;
    const next = freeSlots.pop();
    if (next === undefined) {
      // every other slot is still being written: this one is written now and filled again
      this.writeNow(slot * SLOT_BYTES, SLOT_BYTES, position);
      return;
    }
    this.slot = next;
    this.inFlight++;
    fsWrite(this.fd, this.memory, slot * SLOT_BYTES, SLOT_BYTES, position, (err, written) => {
      if (err) this.error ??= err;
      // after an abort the blob is dropped, and the caller may have closed its ordinary fd: that
      // number may name another file by now, so the rest of a short write is not sent there
      else if (written < SLOT_BYTES && !this.closed) this.writeOrdinary(slot * SLOT_BYTES + written, SLOT_BYTES - written, position + written);
      freeSlots.push(slot);
      if (--this.inFlight === 0) this.wake();
    });
  }

  private writeNow(start: number, length: number, position: number): void {
    try {
      const written = writeSync(this.fd, this.memory, start, length, position);
      if (written < length) this.writeOrdinary(start + written, length - written, position + written);
    } catch (err) {
      this.error ??= err as NodeJS.ErrnoException;
    }
  }

  /**
   * Bytes the O_DIRECT descriptor did not take (a short write: the disk filling up) or cannot
   * take (the unaligned tail), through the ordinary descriptor: they land, or the real error
   * (ENOSPC) is what is kept.
   */
  private writeOrdinary(start: number, length: number, position: number): void {
    try {
      let done = 0;
      while (done < length) done += writeSync(this.ordinaryFd, this.memory, start + done, length - done, position + done);
    } catch (err) {
      this.error ??= err as NodeJS.ErrnoException;
    }
  }

  private wake(): void {
    const waiting = this.idle;
    this.idle = [];
    for (const resolve of waiting) resolve();
    // an abort while writes were in flight left the descriptor open for them
    if (this.closed) this.closeFd();
  }

  /** Slots of this writer are being written. */
  get busy(): boolean {
    return this.inFlight > 0;
  }

  /** Wait until no slot of this writer is being written. */
  settle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idle.push(resolve));
  }

  /**
   * After settle(): write what is left (whole blocks here, the last partial block through the
   * ordinary descriptor), release the slot and close the O_DIRECT descriptor. Throws the first
   * write error.
   */
  finish(): void {
    if (this.inFlight > 0) throw new Error('DirectFileWriter: finish before settle');
    if (!this.closed && this.fill > 0) {
      const base = this.slot * SLOT_BYTES;
      const aligned = this.fill - (this.fill % DIRECT_ALIGN);
      if (aligned > 0) this.writeNow(base, aligned, this.offset);
      if (this.fill > aligned) this.writeOrdinary(base + aligned, this.fill - aligned, this.offset + aligned);
    }
    this.abort();
    if (this.error) throw this.error;
  }

  /** Stop: the slot goes back, and the descriptor is closed once no write uses it. Never throws. */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.slot >= 0) freeSlots.push(this.slot);
    this.slot = -1;
    // a queued pool write still names this fd number: closing it now could let a new file take
    // the number and receive the bytes
    if (this.inFlight === 0) this.closeFd();
  }

  private closeFd(): void {
    if (this.fdClosed) return;
    this.fdClosed = true;
    try {
      closeSync(this.fd);
    } catch {
      /* already closed */
    }
  }
}
