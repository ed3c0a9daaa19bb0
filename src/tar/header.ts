// One 512-byte tar header block: encode (ustar) and parse (ustar, GNU, old GNU, v7).
// Pure functions on Buffers; no policy about which fields need PAX (see entry-header.ts).
import { decodeNumeric, encodeNumeric } from './large-numbers.js';

export const BLOCK_SIZE = 512;
export const ZERO_BLOCK: Buffer = Buffer.alloc(BLOCK_SIZE);

/** Byte offsets and lengths of the ustar fields. */
export const FIELD = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const;

/** Tar typeflags used here (one ASCII byte each). */
export const TYPE = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
  paxHeader: 'x',
  paxGlobal: 'g',
  gnuLongName: 'L',
  gnuLongLink: 'K',
  gnuSparse: 'S',
} as const;

/** Header fields as the encoder takes them. Numbers must be integers; text fields are raw bytes. */
export interface UstarFields {
  name: Buffer;
  prefix?: Buffer;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  typeflag: string;
  linkname?: Buffer;
  uname?: Buffer;
  gname?: Buffer;
  devmajor?: number;
  devminor?: number;
}

function putBytes(block: Buffer, field: readonly [number, number], value: Buffer | undefined, what: string): void {
  if (!value) return;
  if (value.length > field[1]) throw new RangeError(`${what} is ${value.length} bytes, the field holds ${field[1]}`);
  value.copy(block, field[0]);
}

function putNumber(block: Buffer, field: readonly [number, number], value: number): void {
  encodeNumeric(value, field[1]).copy(block, field[0]);
}

/**
 * Encode a POSIX ustar header (magic "ustar\0", version "00"). Numbers too large (or negative)
 * for octal are written in GNU base-256; callers add PAX records for readers that want them.
 * Throws RangeError when a text field does not fit.
 */
export function encodeUstarHeader(f: UstarFields): Buffer {
  const block = Buffer.alloc(BLOCK_SIZE);
  putBytes(block, FIELD.name, f.name, 'name');
  putNumber(block, FIELD.mode, f.mode);
  putNumber(block, FIELD.uid, f.uid);
  putNumber(block, FIELD.gid, f.gid);
  putNumber(block, FIELD.size, f.size);
  putNumber(block, FIELD.mtime, f.mtime);
  if (f.typeflag.length !== 1) throw new RangeError(`typeflag must be one byte: ${JSON.stringify(f.typeflag)}`);
  block.write(f.typeflag, FIELD.typeflag[0], 'latin1');
  putBytes(block, FIELD.linkname, f.linkname, 'linkname');
  block.write('ustar\0', FIELD.magic[0], 'latin1');
  block.write('00', FIELD.version[0], 'latin1');
  putBytes(block, FIELD.uname, f.uname, 'uname');
  putBytes(block, FIELD.gname, f.gname, 'gname');
  putNumber(block, FIELD.devmajor, f.devmajor ?? 0);
  putNumber(block, FIELD.devminor, f.devminor ?? 0);
  putBytes(block, FIELD.prefix, f.prefix, 'prefix');
  writeChecksum(block);
  return block;
}

/**
 * The block's checksums, its checksum field counted as spaces: the unsigned sum (what writers
 * store) and the signed one (old writers; GNU tar and Go accept both), and whether the block is
 * all zeros (the end-of-archive marker). One pass: the signed sum follows from the count of
 * bytes above 127.
 */
export function computeChecksum(block: Uint8Array): { unsigned: number; signed: number; zero: boolean } {
  let outside = 0;
  let high = 0;
  let field = 0;
  for (let i = 0; i < 148; i++) {
    const b = block[i];
    outside += b;
    high += b >> 7;
  }
  for (let i = 148; i < 156; i++) field |= block[i];
  for (let i = 156; i < BLOCK_SIZE; i++) {
    const b = block[i];
    outside += b;
    high += b >> 7;
  }
  const unsigned = outside + 8 * 0x20;
  return { unsigned, signed: unsigned - 256 * high, zero: outside === 0 && field === 0 };
}

function writeChecksum(block: Buffer): void {
  const sum = computeChecksum(block).unsigned;
  // 6 octal digits, NUL, space: the form GNU tar and Go write
  block.write(sum.toString(8).padStart(6, '0') + '\0 ', FIELD.chksum[0], 'latin1');
}

/** What a reader needs from a header block. Names are raw bytes. */
export interface ParsedHeader {
  typeflag: string;
  /** name with the ustar prefix applied (not PAX / GNU long names: the caller resolves those) */
  name: Buffer;
  linkname: Buffer;
  size: bigint;
  mode: bigint;
  uid: bigint;
  gid: bigint;
  mtime: bigint;
  devmajor: bigint;
  devminor: bigint;
  uname: Buffer;
  gname: Buffer;
  format: 'ustar' | 'gnu' | 'v7';
}

function cString(block: Buffer, field: readonly [number, number]): Buffer {
  const raw = block.subarray(field[0], field[0] + field[1]);
  const nul = raw.indexOf(0);
  return Buffer.from(nul === -1 ? raw : raw.subarray(0, nul));
}

function numberField(block: Buffer, field: readonly [number, number]): bigint {
  return decodeNumeric(block.subarray(field[0], field[0] + field[1]));
}

/** For fields nobody here depends on: junk written by odd tar writers reads as 0 instead of failing. */
function lenientNumberField(block: Buffer, field: readonly [number, number]): bigint {
  try {
    return numberField(block, field);
  } catch {
    return 0n;
  }
}

/** The fields every reader checks before trusting a header block. */
export interface HeaderCore {
  typeflag: string;
  size: bigint;
}

/**
 * Check one header block and read only its type and size: null for an all-zero block (end of
 * archive); a RangeError for a block whose checksum does not match (signed and unsigned sums
 * are both accepted, like GNU tar and Go) or whose size field is junk. This is parseHeader
 * without the names and the lenient fields, for readers that only follow the structure (a
 * replay checks 50,000 headers on a layer of small files).
 */
export function checkHeaderBlock(block: Buffer): HeaderCore | null {
  if (block.length !== BLOCK_SIZE) throw new RangeError(`header block is ${block.length} bytes`);
  const { unsigned, signed, zero } = computeChecksum(block);
  if (zero) return null;
  const stored = decodeNumeric(block.subarray(FIELD.chksum[0], FIELD.chksum[0] + FIELD.chksum[1]));
  if (stored !== BigInt(unsigned) && stored !== BigInt(signed)) {
    throw new RangeError(`header checksum mismatch (stored ${stored}, computed ${unsigned})`);
  }
  const t = block[FIELD.typeflag[0]];
  return { typeflag: t === 0 ? '\0' : String.fromCharCode(t), size: numberField(block, FIELD.size) };
}

function formatOf(block: Buffer): ParsedHeader['format'] {
  const magic = block.toString('latin1', FIELD.magic[0], FIELD.magic[0] + 8);
  return magic === 'ustar  \0' ? 'gnu' : magic.startsWith('ustar\0') ? 'ustar' : 'v7';
}

/** The name a header block holds, with the ustar prefix applied (PAX and GNU long names are not looked at). */
export function headerName(block: Buffer, format: ParsedHeader['format'] = formatOf(block)): Buffer {
  const name = cString(block, FIELD.name);
  if (format !== 'ustar') return name;
  const prefix = cString(block, FIELD.prefix);
  return prefix.length > 0 ? Buffer.concat([prefix, Buffer.from('/'), name]) : name;
}

/**
 * Parse one header block. Returns null for an all-zero block (end of archive); throws a
 * RangeError for a block whose checksum does not match or whose size field is junk (see
 * checkHeaderBlock). Other numeric fields are lenient.
 */
export function parseHeader(block: Buffer): ParsedHeader | null {
  const core = checkHeaderBlock(block);
  if (core === null) return null;
  const format = formatOf(block);
  const hasDev = format !== 'v7';
  return {
    typeflag: core.typeflag,
    name: headerName(block, format),
    linkname: cString(block, FIELD.linkname),
    size: core.size,
    mode: lenientNumberField(block, FIELD.mode),
    uid: lenientNumberField(block, FIELD.uid),
    gid: lenientNumberField(block, FIELD.gid),
    mtime: lenientNumberField(block, FIELD.mtime),
    devmajor: hasDev ? lenientNumberField(block, FIELD.devmajor) : 0n,
    devminor: hasDev ? lenientNumberField(block, FIELD.devminor) : 0n,
    uname: hasDev ? cString(block, FIELD.uname) : Buffer.alloc(0),
    gname: hasDev ? cString(block, FIELD.gname) : Buffer.alloc(0),
    format,
  };
}

/** Bytes of padding after a payload of `size` bytes. */
export function paddingFor(size: number | bigint): number {
  const rem = Number(BigInt(size) % BigInt(BLOCK_SIZE));
  return rem === 0 ? 0 : BLOCK_SIZE - rem;
}
