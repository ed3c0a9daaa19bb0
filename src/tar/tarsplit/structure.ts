// Follows the tar structure of a replay as it is produced, to refuse tar-split data that would
// reassemble to something other than the original tar without any error from tar-split itself:
// sparse entries (tar-split stores the expanded data, the tar held only the chunks), GNU long
// names written by tar-split v0.9.4 (their blocks were overwritten), headers that do not match
// the file entries (sizes, order), corrupt header blocks, and a stream that ends mid-entry.
import { BLOCK_SIZE, TYPE, checkHeaderBlock, headerName, paddingFor } from '../header.js';
import { parsePaxRecords } from '../pax.js';
import { displayName } from '../sink.js';
import { TarSplitUnusableError } from './unusable.js';

/** Bytes accepted after the end-of-archive blocks (GNU record padding is at most a few KiB; tar -b 2048 gives 1 MiB). */
export const MAX_TRAILING_BYTES = 16 * 1024 * 1024;
/** Largest extended header (PAX, GNU long name) collected for inspection. */
export const MAX_META_BYTES = 32 * 1024 * 1024;

type State =
  | 'header' // collecting a header block
  | 'meta' // collecting the payload of an x/g/L/K header from segment bytes
  | 'awaitFile' // a header was read; its file entry must come next
  | 'padding' // skipping padding after a payload
  | 'end'; // after the end-of-archive blocks

export class TarStructureCheck {
  private state: State = 'header';
  private readonly block = Buffer.alloc(BLOCK_SIZE);
  private blockFill = 0;
  private zeroBlocks = 0;
  private remaining = 0;
  private metaType = '';
  private metaParts: Buffer[] = [];
  private metaLen = 0;
  private expectedSize = 0n;
  /** the pending header is a PAX global header: its payload may come either way (see onHeader) */
  private expectingGlobal = false;
  /** a 'g' payload came from the segment: its (size 0) file entry may still follow */
  private globalEntryPending = false;
  private pendingPaxSize: bigint | null = null;
  private trailing = 0;
  /** a GNU long name/link ('L'/'K') header was seen */
  sawLongNames = false;
  /** entries (file headers) seen */
  headers = 0;

  /** Raw segment bytes, in stream order. */
  segment(bytes: Buffer): void {
    let pos = 0;
    while (pos < bytes.length) {
      switch (this.state) {
        case 'header': {
          const n = Math.min(BLOCK_SIZE - this.blockFill, bytes.length - pos);
          bytes.copy(this.block, this.blockFill, pos, pos + n);
          this.blockFill += n;
          pos += n;
          if (this.blockFill === BLOCK_SIZE) {
            this.blockFill = 0;
            this.onBlock();
          }
          break;
        }
        case 'meta': {
          const n = Math.min(this.remaining, bytes.length - pos);
          if (this.metaLen + n <= MAX_META_BYTES) this.metaParts.push(Buffer.from(bytes.subarray(pos, pos + n)));
          this.metaLen += n;
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) this.onMetaDone();
          break;
        }
        case 'awaitFile': {
          if (this.expectingGlobal) {
            // a global header whose payload is in the segment: treat it as an extended header
            this.expectingGlobal = false;
            this.globalEntryPending = true;
            this.startMeta(TYPE.paxGlobal, Number(this.expectedSize));
            break;
          }
          // the block still holds that header: nothing is copied into it while a file entry is awaited
          throw new TarSplitUnusableError(`tar bytes where the data of ${displayName(headerName(this.block))} should come from a file entry`);
        }
        case 'padding': {
          const n = Math.min(this.remaining, bytes.length - pos);
          this.remaining -= n;
          pos += n;
          if (this.remaining === 0) this.state = 'header';
          break;
        }
        case 'end': {
          this.trailing += bytes.length - pos;
          pos = bytes.length;
          if (this.trailing > MAX_TRAILING_BYTES) throw new TarSplitUnusableError(`more than ${MAX_TRAILING_BYTES} bytes after the end of the archive`);
          break;
        }
      }
    }
  }

  /** A file entry of `size` payload bytes is about to be replayed. */
  file(name: Buffer, size: number): void {
    if (this.globalEntryPending && size === 0 && this.state !== 'awaitFile' && this.state !== 'meta') {
      // newer tar-split forks consume a 'g' header's payload in Next() and then emit its entry with size 0
      this.globalEntryPending = false;
      return;
    }
    this.globalEntryPending = false;
    if (this.state !== 'awaitFile') {
      throw new TarSplitUnusableError(`file entry ${displayName(name)} has no tar header before it`);
    }
    if (BigInt(size) !== this.expectedSize) {
      throw new TarSplitUnusableError(`size mismatch for ${displayName(name)}: the header says ${this.expectedSize}, the entry ${size}`);
    }
    this.expectingGlobal = false;
    this.remaining = paddingFor(size);
    this.state = this.remaining > 0 ? 'padding' : 'header';
  }

  /** The metadata ended: the tar must be between entries. */
  end(): void {
    if (this.state === 'end') return;
    if (this.state === 'header' && this.blockFill === 0) return; // no end blocks (Go accepts that), or a single one
    throw new TarSplitUnusableError('the metadata ends in the middle of a tar entry');
  }

  private onBlock(): void {
    let hdr;
    try {
      hdr = checkHeaderBlock(this.block);
    } catch (err) {
      throw new TarSplitUnusableError(`corrupt tar header after entry ${this.headers} (${(err as Error).message})`);
    }
    if (hdr === null) {
      // Go's reader: a zero block must be followed by another zero block (or the end of the stream)
      this.zeroBlocks++;
      if (this.zeroBlocks === 2) this.state = 'end';
      return;
    }
    if (this.zeroBlocks > 0) throw new TarSplitUnusableError('a header follows a single zero block');
    const t = hdr.typeflag;
    if (t === TYPE.gnuSparse) throw new TarSplitUnusableError(`sparse entry (GNU 'S') ${displayName(headerName(this.block))}`);
    if (t === TYPE.paxHeader || t === TYPE.gnuLongName || t === TYPE.gnuLongLink) {
      if (t !== TYPE.paxHeader) this.sawLongNames = true;
      if (hdr.size > BigInt(MAX_META_BYTES)) throw new TarSplitUnusableError(`extended header of ${hdr.size} bytes`);
      this.startMeta(t, Number(hdr.size));
      return;
    }
    const size = this.pendingPaxSize ?? hdr.size;
    this.pendingPaxSize = null;
    this.headers++;
    this.expectedSize = size;
    // Go 1.4's reader (tar-split's fork in Docker 1.8-1.9) did not know 'g' and returned it as
    // a file; newer forks consume it. Accept its payload from a file entry or from the segment.
    this.expectingGlobal = t === TYPE.paxGlobal && size > 0n;
    this.state = 'awaitFile';
  }

  private startMeta(type: string, size: number): void {
    this.metaType = type;
    this.metaParts = [];
    this.metaLen = 0;
    this.remaining = size;
    this.state = 'meta';
    if (size === 0) this.onMetaDone();
  }

  private onMetaDone(): void {
    if (this.metaType === TYPE.paxHeader || this.metaType === TYPE.paxGlobal) {
      let records: Map<string, Buffer>;
      try {
        records = parsePaxRecords(Buffer.concat(this.metaParts));
      } catch (err) {
        throw new TarSplitUnusableError(`corrupt PAX header (${(err as Error).message})`);
      }
      for (const key of records.keys()) {
        if (key.startsWith('GNU.sparse.')) throw new TarSplitUnusableError(`sparse entry (PAX ${key})`);
      }
      const size = records.get('size');
      if (size !== undefined && this.metaType === TYPE.paxHeader) {
        const text = size.toString('latin1');
        if (!/^[0-9]+$/.test(text)) throw new TarSplitUnusableError(`invalid PAX size ${JSON.stringify(text)}`);
        this.pendingPaxSize = BigInt(text);
      }
    }
    this.metaParts = [];
    this.remaining = paddingFor(this.metaLen);
    this.state = this.remaining > 0 ? 'padding' : 'header';
  }
}
