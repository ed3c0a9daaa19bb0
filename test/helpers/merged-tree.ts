// What an image's root filesystem must look like, two ways that share one shape:
// - expectedMergedTree(spec, imageId): computed purely from the declarative HostSpec, applying the
//   layers base → top with OCI whiteout semantics (image-spec layer.md "Whiteouts");
// - readTree(dir): read from an unpacked rootfs (e.g. umoci's bundle/rootfs).
// mtimes are left out on purpose (unpackers do not agree on them), and so is the rootfs dir itself.
import { createHash } from 'node:crypto';
import { lstatSync, readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { getAttributeSync } from '@napi-rs/xattr';
import {
  type HostSpec, type LayerEntry, displayPath, imageChain, isUtf8, specLayerEntries,
} from './fixture-builder.js';

export interface TreeEntry {
  /** UTF-8 path relative to the rootfs, or `base64:<bytes>` when the name is not UTF-8. */
  path: string;
  type: 'file' | 'dir' | 'symlink' | 'fifo' | 'char' | 'block';
  /** Permission bits incl. setuid/setgid/sticky (symlinks: 0o777). */
  mode: number;
  uid: number;
  gid: number;
  /** Content length for files, 0 otherwise. */
  size: number;
  /** sha256 hex of file content. */
  sha256?: string;
  /** Symlink target (display form, like path). */
  linkTarget?: string;
  /** Devices: "major,minor". */
  rdev?: string;
  /** Only the xattr names asked for, value base64. */
  xattrs?: Record<string, string>;
}

export interface TreeOptions {
  /** Default: running as uid 0 (the builder skips devices, xattrs and owners otherwise). */
  asRoot?: boolean;
  /** xattr names to include and compare, e.g. ['security.capability']. Default: none. */
  xattrNames?: string[];
}

/** A node of the merged tree while layers are applied; keyed by the path's raw bytes. */
interface Node {
  name: Buffer;
  entry: TreeEntry;
}

type Tree = Map<string, Node>;
const keyOf = (b: Buffer) => b.toString('latin1');

/** Applies the image's layers base → top and returns the merged tree, sorted by path bytes. */
export function expectedMergedTree(spec: HostSpec, imageId: string, opts: TreeOptions = {}): TreeEntry[] {
  const asRoot = opts.asRoot ?? process.getuid?.() === 0;
  const tree: Tree = new Map();
  for (const layer of imageChain(spec, imageId).reverse()) {
    const { entries } = specLayerEntries(spec, layer, asRoot);
    applyLayer(tree, entries, opts.xattrNames ?? []);
  }
  return sortTree([...tree.values()]);
}

/**
 * One layer: whiteouts and opaque markers only hide what lower layers had, so they are applied
 * first; then the layer's own entries are added (a dir over a dir keeps the children, anything
 * else replaces the whole subtree).
 */
function applyLayer(tree: Tree, entries: LayerEntry[], xattrNames: string[]): void {
  for (const e of entries) {
    if (e.role === 'whiteout') removeSubtree(tree, e.affects!, true);
    if (e.role === 'opaque') removeSubtree(tree, e.affects!, false);
  }
  const byName = new Map(entries.map((e) => [keyOf(e.name), e]));
  for (const e of entries) {
    if (e.role === 'whiteout' || e.role === 'opaque') continue;
    const existing = tree.get(keyOf(e.name));
    if (!e.inTar) {
      // an implicit parent that the tar does not carry: extraction creates it only when missing
      if (!existing) tree.set(keyOf(e.name), { name: e.name, entry: treeEntryOf(e, e, xattrNames) });
      continue;
    }
    const source = e.kind === 'hardlink' ? byName.get(keyOf(e.target!)) : e;
    if (!source) throw new Error(`hard link ${displayPath(e.name)}: target not in the same layer`);
    const next = treeEntryOf(e, source, xattrNames);
    if (!(existing && existing.entry.type === 'dir' && next.type === 'dir')) removeSubtree(tree, e.name, true);
    tree.set(keyOf(e.name), { name: e.name, entry: next });
  }
}

function treeEntryOf(e: LayerEntry, source: LayerEntry, xattrNames: string[]): TreeEntry {
  const type = source.kind === 'hardlink' ? 'file' : source.kind;
  const t: TreeEntry = {
    path: displayPath(e.name), type, mode: type === 'symlink' ? 0o777 : source.mode, uid: source.uid, gid: source.gid,
    size: type === 'file' ? source.content.length : 0,
  };
  if (type === 'file') t.sha256 = sha256(source.content);
  if (type === 'symlink') t.linkTarget = displayPath(source.target!);
  if (type === 'char' || type === 'block') t.rdev = `${source.major},${source.minor}`;
  if (xattrNames.length > 0) {
    const picked = source.xattrs.filter(([k]) => xattrNames.includes(k));
    if (picked.length > 0) t.xattrs = Object.fromEntries(picked.map(([k, v]) => [k, v.toString('base64')]));
  }
  return t;
}

/** Removes `path`'s descendants, and `path` itself when `self`. */
function removeSubtree(tree: Tree, path: Buffer, self: boolean): void {
  const prefix = Buffer.concat([path, Buffer.from('/')]);
  for (const [k, n] of tree) {
    if ((self && n.name.equals(path)) || (n.name.length > prefix.length && n.name.subarray(0, prefix.length).equals(prefix))) tree.delete(k);
  }
}

function sortTree(nodes: Node[]): TreeEntry[] {
  return nodes.sort((a, b) => Buffer.compare(a.name, b.name)).map((n) => n.entry);
}

function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Reads an unpacked rootfs into the same shape (the root dir itself is not listed). */
export function readTree(dir: string, opts: TreeOptions = {}): TreeEntry[] {
  const xattrNames = opts.xattrNames ?? [];
  const nodes: Node[] = [];
  const walk = (abs: Buffer, rel: Buffer | null) => {
    for (const name of readdirSync(abs, { encoding: 'buffer' })) {
      const childAbs = Buffer.concat([abs, Buffer.from('/'), name]);
      const childRel = rel ? Buffer.concat([rel, Buffer.from('/'), name]) : name;
      const entry = readEntry(childAbs, childRel, xattrNames);
      nodes.push({ name: childRel, entry });
      if (entry.type === 'dir') walk(childAbs, childRel);
    }
  };
  walk(Buffer.from(dir), null);
  return sortTree(nodes);
}

function readEntry(abs: Buffer, rel: Buffer, xattrNames: string[]): TreeEntry {
  const st = lstatSync(abs);
  const type: TreeEntry['type'] = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFIFO() ? 'fifo'
    : st.isCharacterDevice() ? 'char' : st.isBlockDevice() ? 'block' : 'file';
  const t: TreeEntry = {
    path: displayPath(rel), type, mode: type === 'symlink' ? 0o777 : st.mode & 0o7777, uid: st.uid, gid: st.gid,
    size: type === 'file' ? st.size : 0,
  };
  if (type === 'file') t.sha256 = sha256(readFileSync(abs));
  if (type === 'symlink') t.linkTarget = displayPath(readlinkSync(abs, { encoding: 'buffer' }));
  if (type === 'char' || type === 'block') t.rdev = `${devMajor(st.rdev)},${devMinor(st.rdev)}`;
  // @napi-rs/xattr takes string paths and does not follow symlinks; a non-UTF-8 path cannot carry xattrs here
  if (xattrNames.length > 0 && type !== 'symlink' && isUtf8(abs)) {
    const found: Record<string, string> = {};
    for (const k of xattrNames) {
      const v = getAttributeSync(abs.toString('utf8'), k);
      if (v) found[k] = v.toString('base64');
    }
    if (Object.keys(found).length > 0) t.xattrs = found;
  }
  return t;
}

/** glibc's encoding of dev_t (major in bits 8–19 and 32+, minor in bits 0–7 and 20+). */
function devMajor(rdev: number): number {
  return Number(((BigInt(rdev) >> 8n) & 0xfffn) | ((BigInt(rdev) >> 32n) & ~0xfffn));
}
function devMinor(rdev: number): number {
  return Number((BigInt(rdev) & 0xffn) | ((BigInt(rdev) >> 12n) & ~0xffn));
}

/** A readable diff of two trees for assertion messages ('-' expected only, '+' actual only). */
export function diffTrees(expected: TreeEntry[], actual: TreeEntry[]): string[] {
  const fmt = (e: TreeEntry) => JSON.stringify(e);
  const exp = new Map(expected.map((e) => [e.path, fmt(e)]));
  const act = new Map(actual.map((e) => [e.path, fmt(e)]));
  const out: string[] = [];
  for (const [p, s] of exp) if (act.get(p) !== s) out.push(`- ${s}`);
  for (const [p, s] of act) if (exp.get(p) !== s) out.push(`+ ${s}`);
  return out;
}
