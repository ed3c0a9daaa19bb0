// overlayfs's own whiteout format in an upper/diff dir, converted to OCI whiteouts the way
// Docker's archive package does for overlay/overlay2 (`overlayWhiteoutConverter.ConvertWrite`,
// legacy-formats.md §5 "overlay2"):
// - a character device 0:0 named `x` means "x is deleted below": written as `.wh.x`, an empty
//   regular file, mode 0600, with the device node's owner and mtime;
// - a directory with xattr `trusted.overlay.opaque=y` hides everything below it: its header is
//   followed by `<dir>/.wh..wh..opq`, mode = the dir's permission bits, owner of the dir, mtime 0.
// Only `trusted.overlay.opaque` counts: Docker's overlay drivers never used the rootless
// `user.overlay.opaque`, and a pulled layer may carry that user xattr as plain content.
// Reading trusted.* xattrs needs CAP_SYS_ADMIN: without it every read says "not set", so
// regenerating an overlay layer without it would silently lose its opaque dirs: it is refused
// (assertCanReadOpaque). Replay from tar-split needs no xattrs.
import type { BigIntStats } from 'node:fs';
import { readFileSync } from 'node:fs';
import { getAttributeSync } from '@napi-rs/xattr';
import { LayerError } from '../../errors.js';
import type { TarEntry } from '../entry-header.js';

const OPAQUE_XATTR = 'trusted.overlay.opaque';
/** CAP_SYS_ADMIN's bit in /proc/self/status CapEff */
const CAP_SYS_ADMIN = 21n;
const WH = Buffer.from('.wh.', 'latin1');
const OPQ = Buffer.from('/.wh..wh..opq', 'latin1');

export function isOverlayWhiteout(st: BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

/** `dirRel` is the parent's relative path with its trailing '/' (empty at the layer root). */
export function overlayWhiteoutEntry(dirRel: Buffer, name: Buffer, st: BigIntStats): TarEntry {
  return { type: 'file', name: Buffer.concat([dirRel, WH, name]), mode: 0o600, uid: Number(st.uid), gid: Number(st.gid), size: 0, mtime: wholeSecondsOf(st) };
}

export function isOverlayOpaque(abs: Buffer): boolean {
  const path = abs.toString('utf8');
  if (!Buffer.from(path, 'utf8').equals(abs)) return false; // the xattr library takes UTF-8 paths only
  try {
    const v = getAttributeSync(path, OPAQUE_XATTR);
    return v !== null && v !== undefined && Buffer.from(v).toString('latin1') === 'y';
  } catch {
    return false; // ENODATA (not set), ENOTSUP
  }
}

let opaqueReadable: boolean | null = null;

/** Throws unless this process can read trusted.* xattrs (CAP_SYS_ADMIN), checked once. */
export function assertCanReadOpaque(diffDir: string): void {
  if (opaqueReadable === null) {
    try {
      const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'latin1'));
      opaqueReadable = m ? ((BigInt(`0x${m[1]}`) >> CAP_SYS_ADMIN) & 1n) === 1n : process.getuid?.() === 0;
    } catch {
      opaqueReadable = process.getuid?.() === 0;
    }
  }
  if (!opaqueReadable) {
    throw new LayerError('E_LAYER_READ', `${diffDir}: an overlay layer without usable tar-split data can only be rebuilt with CAP_SYS_ADMIN (its opaque directories are marked with trusted.* xattrs, invisible otherwise): run as root`, diffDir);
  }
}

/** `rel`: the directory's relative path without a trailing '/'. */
export function overlayOpaqueEntry(rel: Buffer, st: BigIntStats): TarEntry {
  return { type: 'file', name: Buffer.concat([rel, OPQ]), mode: Number(st.mode & 0o777n), uid: Number(st.uid), gid: Number(st.gid), size: 0, mtime: 0 };
}

function wholeSecondsOf(st: BigIntStats): number {
  const ns = st.mtimeNs;
  const NS = 1_000_000_000n;
  return Number(ns >= 0n ? ns / NS : -((-ns + NS - 1n) / NS));
}
