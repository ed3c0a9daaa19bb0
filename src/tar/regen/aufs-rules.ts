// Which names in an aufs diff dir become layer entries, and how (legacy-formats.md §2.1).
// aufs keeps its own bookkeeping next to the files: .wh..wh.aufs (whiteout base), .wh..wh.plnk/
// (pseudo-links), .wh..wh.orph/ (orphans) at the branch root, and .wh..wh.<name>.<hex> dirs left
// over from interrupted rmdirs anywhere. Whiteouts (.wh.<name>) and opaque markers (.wh..wh..opq)
// are the OCI whiteout format already, but aufs hard-links them all to .wh..wh.aufs.

export const WHITEOUT_PREFIX = '.wh.';
export const AUFS_META_PREFIX = '.wh..wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export type AufsNameKind =
  /** an ordinary file, dir, link, ... */
  | 'plain'
  /** `.wh.<name>`: always written as an empty regular file, never as a hard link */
  | 'whiteout'
  /** `.wh..wh..opq`: same treatment as a whiteout */
  | 'opaque'
  /** root-level `.wh..wh.*` other than the opaque marker: excluded with its subtree (Docker 1.9+ rule) */
  | 'aufs-internal'
  /** `.wh..wh.*` below the root other than the opaque marker (aufs rmdir leftovers): excluded, with a warning */
  | 'aufs-leftover';

function startsWith(name: Buffer, prefix: string): boolean {
  return name.length >= prefix.length && name.toString('latin1', 0, prefix.length) === prefix;
}

export function classifyAufsName(name: Buffer, atLayerRoot: boolean): AufsNameKind {
  if (!startsWith(name, WHITEOUT_PREFIX)) return 'plain';
  if (name.length === OPAQUE_MARKER.length && name.toString('latin1') === OPAQUE_MARKER) return 'opaque';
  if (startsWith(name, AUFS_META_PREFIX)) return atLayerRoot ? 'aufs-internal' : 'aufs-leftover';
  return 'whiteout';
}
