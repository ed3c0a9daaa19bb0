// From one file-system entry to the header bytes that precede its data: an optional PAX 'x'
// entry and the ustar block. This is the one place that decides which fields need PAX.
// Output depends only on the entry, never on time or pid, so regenerated layers are reproducible.
import { BLOCK_SIZE, TYPE, encodeUstarHeader, paddingFor } from './header.js';
import { encodeOctal, fitsBase256 } from './large-numbers.js';
import { encodePaxRecords, type PaxRecord } from './pax.js';

export type EntryType = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';

export interface TarEntry {
  /** path inside the layer, raw bytes, no leading './' or '/'; directories end with '/' */
  name: Buffer;
  type: EntryType;
  /** permission bits plus setuid/setgid/sticky (07777); file-type bits are not written */
  mode: number;
  uid: number;
  gid: number;
  /** payload bytes that follow (regular files only; 0 otherwise) */
  size: number;
  /** whole seconds since the epoch; may be negative or beyond the octal range */
  mtime: number;
  /** symlink target or hard-link target, raw bytes */
  linkname?: Buffer;
  devmajor?: number;
  devminor?: number;
  /** xattr name → raw value; written as SCHILY.xattr.<name> records */
  xattrs?: ReadonlyArray<readonly [string, Buffer]>;
}

/** Fixed name of every PAX header entry: no pid, no per-file part (GNU uses %p, Go 1.5 the pid). */
export const PAX_HEADER_NAME = Buffer.from('././@PaxHeader', 'latin1');

const TYPEFLAG: Record<EntryType, string> = {
  file: TYPE.file,
  dir: TYPE.dir,
  symlink: TYPE.symlink,
  hardlink: TYPE.hardlink,
  char: TYPE.char,
  block: TYPE.block,
  fifo: TYPE.fifo,
};

function isAscii(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) if (b[i] >= 0x80 || b[i] === 0) return false;
  return true;
}

/**
 * Fit an ASCII name into ustar name (100) + prefix (155) split at a '/', or return null.
 * Non-ASCII names always go to PAX (like Go's writer): ustar text is meant to be portable.
 */
export function splitUstarName(name: Buffer): { name: Buffer; prefix: Buffer } | null {
  if (!isAscii(name)) return null;
  if (name.length <= 100) return { name, prefix: Buffer.alloc(0) };
  if (name.length > 256) return null;
  // the last '/' that leaves a prefix of <= 155 bytes and a non-empty name of <= 100 bytes
  for (let i = Math.min(155, name.length - 2); i > 0; i--) {
    if (name[i] !== 0x2f) continue;
    const rest = name.length - i - 1;
    if (rest > 100) return null;
    if (rest === 0) continue;
    return { prefix: name.subarray(0, i), name: name.subarray(i + 1) };
  }
  return null;
}

const MAX_ID = 0o7777777; // 8-byte octal field: 2^21-1

/** Header bytes (PAX entry if needed + ustar block) for `e`. Throws RangeError on impossible values. */
export function encodeEntryHeader(e: TarEntry): Buffer {
  for (const [what, v] of [['size', e.size], ['uid', e.uid], ['gid', e.gid], ['mtime', e.mtime], ['mode', e.mode]] as const) {
    if (!Number.isSafeInteger(v)) throw new RangeError(`${what} must be an integer: ${v}`);
  }
  if (e.size < 0 || e.uid < 0 || e.gid < 0) throw new RangeError('size, uid and gid must be >= 0');
  if (e.type !== 'file' && e.size !== 0) throw new RangeError(`${e.type} entries carry no data`);
  const pax: PaxRecord[] = [];

  const split = splitUstarName(e.name);
  let name: Buffer;
  let prefix: Buffer;
  if (split) {
    ({ name, prefix } = split);
  } else {
    pax.push(['path', e.name]);
    // readers without PAX support get a truncated name rather than nothing
    name = e.name.subarray(0, 100);
    prefix = Buffer.alloc(0);
  }

  let linkname = e.linkname ?? Buffer.alloc(0);
  if (linkname.length > 100 || !isAscii(linkname)) {
    pax.push(['linkpath', linkname]);
    linkname = linkname.subarray(0, 100);
  }

  // Octal when it fits; otherwise base-256 in the field (GNU, Go) and a PAX record (POSIX).
  if (encodeOctal(e.size, 12) === null) pax.push(['size', Buffer.from(String(e.size))]);
  if (e.uid > MAX_ID) pax.push(['uid', Buffer.from(String(e.uid))]);
  if (e.gid > MAX_ID) pax.push(['gid', Buffer.from(String(e.gid))]);
  let mtime = e.mtime;
  if (encodeOctal(mtime, 12) === null) {
    pax.push(['mtime', Buffer.from(String(mtime))]);
    if (!fitsBase256(mtime, 12)) mtime = 0;
  }

  for (const [key, value] of e.xattrs ?? []) pax.push([`SCHILY.xattr.${key}`, value]);

  const ustar = encodeUstarHeader({
    name,
    prefix,
    mode: e.mode & 0o7777,
    uid: e.uid,
    gid: e.gid,
    size: e.size,
    mtime,
    typeflag: TYPEFLAG[e.type],
    linkname,
    devmajor: e.devmajor ?? 0,
    devminor: e.devminor ?? 0,
  });
  if (pax.length === 0) return ustar;

  const records = encodePaxRecords(pax);
  const paxHeader = encodeUstarHeader({
    name: PAX_HEADER_NAME,
    mode: 0o644,
    uid: 0,
    gid: 0,
    size: records.length,
    mtime: 0,
    typeflag: TYPE.paxHeader,
  });
  return Buffer.concat([paxHeader, records, Buffer.alloc(paddingFor(records.length)), ustar]);
}

/** The two zero blocks that end an archive. */
export function endOfArchive(): Buffer {
  return Buffer.alloc(2 * BLOCK_SIZE);
}
