// A push-driven tar header scanner for validation: it never copies file data, only walks the
// headers (ustar, GNU and PAX extensions) and reports each entry. It follows Go's archive/tar
// (what Docker and containerd use) on what is corrupt: a bad header checksum, a bad numeric
// field, a zero block followed by a non-zero block, an archive that ends inside an entry.
// A stream that ends cleanly at a header boundary without the two zero blocks is accepted.

export interface TarEntry {
  /** entry name, raw bytes as a latin1 string (PAX / GNU long names applied) */
  name: string;
  linkname: string;
  /** typeflag character, '\0' normalised to '0' */
  type: string;
  size: number;
  mode: number;
  /** byte offset of the entry's header in the uncompressed stream */
  offset: number;
  /** GNU or PAX sparse file */
  sparse: boolean;
}

const BLOCK = 512;
/** PAX and GNU long-name payloads larger than this are treated as corrupt (Go uses 1 MiB). */
const MAX_SPECIAL = 1 << 20;
/** types whose size field does not announce data (Go's isHeaderOnlyType) */
const HEADER_ONLY = new Set(['1', '2', '3', '4', '5', '6']);

type Mode = 'header' | 'skip' | 'collect' | 'sparse-ext' | 'eof' | 'failed';

export class TarScanner {
  entries = 0;
  /** set when the stream is corrupt; scanning stops there */
  error: string | undefined;
  /** true once the end-of-archive marker (two zero blocks) has been read */
  sawEof = false;
  /**
   * The stream ended right after the last entry's data, inside its padding. Go's archive/tar
   * (Docker, containerd, umoci) reads this as a clean end; GNU tar reports "Unexpected EOF".
   * umoci 0.4.7 `insert` writes such layers.
   */
  unpaddedEnd = false;

  private mode: Mode = 'header';
  private pos = 0;
  private readonly hdr = Buffer.alloc(BLOCK);
  private hdrFill = 0;
  private skipLeft = 0;
  /** bytes of the current skip that are padding, not entry data */
  private padLeft = 0;
  private zeroBlocks = 0;
  private collectType = '';
  private collectLeft = 0;
  private collectPad = 0;
  private collected: Buffer[] = [];
  private pax = new Map<string, string>();
  private longName: string | undefined;
  private longLink: string | undefined;
  private pendingSparse: { entry: TarEntry; dataLen: number } | undefined;

  constructor(private readonly onEntry: (e: TarEntry) => void) {}

  push(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      switch (this.mode) {
        case 'eof':
        case 'failed':
          this.pos += n - i;
          return;
        case 'skip': {
          const k = Math.min(this.skipLeft, n - i);
          this.skipLeft -= k;
          i += k;
          this.pos += k;
          if (this.skipLeft === 0) this.mode = 'header';
          break;
        }
        case 'collect': {
          const k = Math.min(this.collectLeft, n - i);
          this.collected.push(Buffer.from(chunk.subarray(i, i + k)));
          this.collectLeft -= k;
          i += k;
          this.pos += k;
          if (this.collectLeft === 0) this.finishCollect();
          break;
        }
        default: {
          // header or sparse-ext: assemble one 512-byte block
          let block: Buffer;
          if (this.hdrFill === 0 && n - i >= BLOCK) {
            block = chunk.subarray(i, i + BLOCK);
            i += BLOCK;
          } else {
            const k = Math.min(BLOCK - this.hdrFill, n - i);
            chunk.copy(this.hdr, this.hdrFill, i, i + k);
            this.hdrFill += k;
            i += k;
            if (this.hdrFill < BLOCK) {
              this.pos += k;
              continue;
            }
            this.pos += k - BLOCK; // pos is advanced by a whole block below
            block = this.hdr;
            this.hdrFill = 0;
          }
          const at = this.pos;
          this.pos += BLOCK;
          if (this.mode === 'sparse-ext') this.sparseExt(block);
          else this.header(block, at);
        }
      }
    }
  }

  /** Call at the end of the stream. */
  end(): void {
    if (this.mode === 'eof' || this.mode === 'failed') return;
    if (this.mode === 'header' && this.hdrFill === 0) {
      if (this.pax.size > 0 || this.longName !== undefined || this.longLink !== undefined) {
        this.fail(`archive ends after an extended header with no entry (offset ${this.pos})`);
      }
      return;
    }
    if (this.mode === 'skip' && this.skipLeft <= this.padLeft) {
      this.unpaddedEnd = true;
      return;
    }
    this.fail(`archive is truncated: it ends inside ${this.mode === 'header' ? 'a header' : 'an entry'} (offset ${this.pos})`);
  }

  private fail(message: string): void {
    this.error = message;
    this.mode = 'failed';
  }

  private header(b: Buffer, at: number): void {
    if (isZero(b)) {
      this.zeroBlocks++;
      if (this.zeroBlocks === 2) {
        this.sawEof = true;
        this.mode = 'eof';
      }
      return;
    }
    if (this.zeroBlocks === 1) return this.fail(`a zero block is followed by a non-zero block at offset ${at}`);
    const stored = parseNumeric(b, 148, 8);
    if (stored === undefined) return this.fail(`invalid header checksum field at offset ${at}`);
    const [unsigned, signed] = checksums(b);
    if (stored !== unsigned && stored !== signed) {
      return this.fail(`header checksum mismatch at offset ${at} (stored ${stored}, computed ${unsigned})`);
    }
    const size = parseNumeric(b, 124, 12);
    const mode = parseNumeric(b, 100, 8);
    if (size === undefined || mode === undefined) return this.fail(`invalid numeric field in the header at offset ${at}`);
    const type = b[156] === 0 ? '0' : String.fromCharCode(b[156]);
    const magic = b.toString('latin1', 257, 265);
    let name = cstr(b, 0, 100);
    if (magic === 'ustar\u000000') {
      const prefix = cstr(b, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    if (type === 'x' || type === 'g' || type === 'L' || type === 'K') {
      if (size > MAX_SPECIAL) return this.fail(`extended header of ${size} bytes at offset ${at} is too large`);
      return this.startCollect(type, size);
    }
    const pax = this.pax;
    const paxSize = pax.get('size');
    let realSize = size;
    if (paxSize !== undefined) {
      if (!/^\d+$/.test(paxSize)) return this.fail(`invalid PAX size ${JSON.stringify(paxSize)} at offset ${at}`);
      realSize = Number(paxSize);
    }
    const sparseName = pax.get('GNU.sparse.name');
    const entry: TarEntry = {
      name: sparseName ?? pax.get('path') ?? this.longName ?? name,
      linkname: pax.get('linkpath') ?? this.longLink ?? cstr(b, 157, 100),
      type,
      size: realSize,
      mode,
      offset: at,
      sparse: type === 'S' || sparseName !== undefined || pax.has('GNU.sparse.major'),
    };
    this.pax = new Map();
    this.longName = undefined;
    this.longLink = undefined;
    this.entries++;
    const dataLen = HEADER_ONLY.has(type) ? 0 : realSize;
    if (type === 'S' && b[482] !== 0) {
      this.pendingSparse = { entry, dataLen };
      this.mode = 'sparse-ext';
      return;
    }
    this.onEntry(entry);
    this.skipData(dataLen);
  }

  private sparseExt(b: Buffer): void {
    if (b[504] !== 0) return; // another extension block follows
    const p = this.pendingSparse!;
    this.pendingSparse = undefined;
    this.mode = 'header';
    this.onEntry(p.entry);
    this.skipData(p.dataLen);
  }

  private skipData(len: number): void {
    this.skipLeft = roundUp(len);
    this.padLeft = this.skipLeft - len;
    this.mode = this.skipLeft > 0 ? 'skip' : 'header';
  }

  private startCollect(type: string, size: number): void {
    this.collectType = type;
    this.collectLeft = size;
    this.collectPad = roundUp(size) - size;
    this.collected = [];
    this.mode = 'collect';
    if (size === 0) this.finishCollect();
  }

  private finishCollect(): void {
    const data = Buffer.concat(this.collected);
    this.collected = [];
    switch (this.collectType) {
      case 'x': {
        const records = parsePax(data);
        if (!records) return this.fail(`malformed PAX extended header before offset ${this.pos}`);
        for (const [k, v] of records) {
          if (v === '') this.pax.delete(k);
          else this.pax.set(k, v);
        }
        break;
      }
      case 'g':
        if (!parsePax(data)) return this.fail(`malformed PAX global header before offset ${this.pos}`);
        break;
      case 'L':
        this.longName = cstr(data, 0, data.length);
        break;
      case 'K':
        this.longLink = cstr(data, 0, data.length);
        break;
    }
    this.skipLeft = this.collectPad;
    this.padLeft = 0; // an extended header must be followed by its entry
    this.mode = this.skipLeft > 0 ? 'skip' : 'header';
  }
}

function roundUp(n: number): number {
  return Math.ceil(n / BLOCK) * BLOCK;
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < BLOCK; i += 8) if (b.readBigUInt64LE(i) !== 0n) return false;
  return true;
}

function checksums(b: Buffer): [number, number] {
  let u = 0;
  let s = 0;
  for (let i = 0; i < BLOCK; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : b[i];
    u += v;
    s += v > 127 ? v - 256 : v;
  }
  return [u, s];
}

/** NUL-terminated string field, raw bytes kept as latin1 */
export function cstr(b: Buffer, off: number, len: number): string {
  let end = off;
  const max = Math.min(off + len, b.length);
  while (end < max && b[end] !== 0) end++;
  return b.toString('latin1', off, end);
}

/** Octal (NUL/space padded) or GNU base-256 numeric field; undefined when invalid. */
export function parseNumeric(b: Buffer, off: number, len: number): number | undefined {
  if (b[off] & 0x80) {
    if (b[off] === 0xff) return undefined; // negative
    let v = b[off] & 0x7f;
    for (let i = off + 1; i < off + len; i++) v = v * 256 + b[i];
    return Number.isSafeInteger(v) ? v : undefined;
  }
  const s = b.toString('latin1', off, off + len).replace(/[\0 ]+$/, '').replace(/^[ \0]+/, '');
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) return undefined;
  return parseInt(s, 8);
}

/** PAX records `"%d %s=%s\n"`; values kept as raw bytes (latin1). undefined when malformed. */
export function parsePax(data: Buffer): Map<string, string> | undefined {
  const out = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    if (data[pos] === 0) break; // NUL padding
    const sp = data.indexOf(0x20, pos);
    if (sp < 0) return undefined;
    const lenStr = data.toString('latin1', pos, sp);
    if (!/^\d+$/.test(lenStr)) return undefined;
    const len = Number(lenStr);
    const end = pos + len;
    if (len <= sp - pos + 1 || end > data.length || data[end - 1] !== 0x0a) return undefined;
    const rec = data.subarray(sp + 1, end - 1);
    const eq = rec.indexOf(0x3d);
    if (eq <= 0) return undefined;
    out.set(rec.toString('latin1', 0, eq), rec.toString('latin1', eq + 1));
    pos = end;
  }
  return out;
}
