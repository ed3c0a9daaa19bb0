// overlayfs's own whiteout format in an upper/diff dir, converted to OCI whiteouts the way
// Docker's archive package does for overlay/overlay2 (`overlayWhiteoutConverter.ConvertWrite`,
// legacy-formats.md §5 "overlay2"):
// - a character device 0:0 named `x` means "x is deleted below": written as `.wh.x`, an empty
//   regular file, mode 0600, with the device node's owner and mtime;
// - a directory with xattr `trusted.overlay.opaque=y` hides everything below it: its header is
//   followed by `<dir>/.wh..wh..opq`, mode = the dir's permission bits, owner of the dir, mtime 0.
// Rootless overlay (userxattr) uses `user.overlay.opaque`; accepted too.
// Reading trusted.* xattrs needs CAP_SYS_ADMIN: without it opaque dirs cannot be seen (the
// layer is then replayed from tar-split when possible, which does not need xattrs).
import type { BigIntStats } from 'node:fs';
import { getAttributeSync } from '@napi-rs/xattr';
import type { TarEntry } from '../entry-header.js';

const OPAQUE_XATTRS = ['trusted.overlay.opaque', 'user.overlay.opaque'];
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
  for (const name of OPAQUE_XATTRS) {
    try {
      const v = getAttributeSync(path, name);
      if (v && Buffer.from(v).toString('latin1') === 'y') return true;
    } catch {
      // ENODATA (not set), ENOTSUP, EPERM: not opaque as far as we can tell
    }
  }
  return false;
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
