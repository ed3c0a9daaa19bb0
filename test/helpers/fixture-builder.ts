// Builds Docker 1.x legacy roots (graph/ + aufs/) from a declarative, JSON-serialisable HostSpec.
//
// THE RULE: every layer's original tar is written by GNU tar from a staging directory populated
// with node:fs, its tar-data.json.gz by Debian's `tar-split disasm`, and aufs/diff/<id> is that tar
// extracted by GNU tar (then given aufs's own files). The code under test never writes fixtures, so
// the correct diffID of every layer is sha256 of its original tar, known without our code.
//
// Sections: spec types · small helpers · layer entries (shared with merged-tree.ts) · staging ·
// GNU tar / tar-split · v1 json · aufs · containers · damage · timestamps · buildLegacyRoot.
import { createHash } from 'node:crypto';
import {
  chmodSync, existsSync, lchownSync, linkSync, lstatSync, lutimesSync, mkdirSync,
  readFileSync, readdirSync, rmSync, statSync, symlinkSync, truncateSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { setAttributeSync } from '@napi-rs/xattr';
import { run } from './env.js';

// ───────────────────────────── spec types ─────────────────────────────

/** Bytes in JSON: a UTF-8 string, or raw bytes as base64 (non-UTF-8 names, binary xattrs). */
export type Bytes = string | { base64: string };
/** File content: Bytes, or a string repeated `times` times (bigger files without bloating specs). */
export type Content = Bytes | { repeat: string; times: number };
/** Modes: a number, or an octal string such as "4755" (JSON has no octal literals). */
export type Mode = number | string;

interface EntryMeta {
  /** Path inside the layer, relative, no leading "/". */
  path: Bytes;
  mode?: Mode;
  uid?: number;
  gid?: number;
  /** Unix seconds; defaults to the layer's mtime. */
  mtime?: number;
  /** Extended attributes (pax layers only; skipped when not root). */
  xattrs?: Record<string, Bytes>;
}

export type EntrySpec =
  | (EntryMeta & { type: 'file'; content?: Content })
  | (EntryMeta & { type: 'dir' })
  | (EntryMeta & { type: 'symlink'; target: Bytes })
  /** A second name for `target` (a path in the same layer, as written in the tar). */
  | { type: 'hardlink'; path: Bytes; target: Bytes }
  /** Deletes `path` from lower layers: writes `<dir>/.wh.<base>` (an empty 0444 file by default). */
  | (EntryMeta & { type: 'whiteout' })
  /** Makes directory `path` opaque: writes `<path>/.wh..wh..opq`. */
  | (EntryMeta & { type: 'opaque' })
  | (EntryMeta & { type: 'fifo' })
  /** Device nodes need root; skipped (and reported) otherwise. */
  | (EntryMeta & { type: 'char' | 'block'; major: number; minor: number });

export type TarFormat = 'gnu' | 'pax' | 'ustar';

/** Fields from which graph/<id>/json is written the way a given Docker version wrote it. */
export interface V1JsonSpec {
  /**
   * `marshal` = json.Marshal, no newline (≤1.3 local images, 1.8.3–1.9.1);
   * `encode` = json.NewEncoder().Encode, trailing "\n" (1.4–1.8.2). Default: from dockerVersion.
   */
  writer?: 'marshal' | 'encode';
  /** Default: the layer id; null omits the key (1.8.3–1.9.1 v2 pulls). */
  id?: string | null;
  /** Default: the layer's structural parent; null omits it. */
  parent?: string | null;
  comment?: string;
  created: string;
  /** Container id; default: derived from the layer id when containerCmd is given. */
  container?: string | null;
  /** Shortcut for container_config.Cmd. */
  containerCmd?: string[] | string | null;
  /** Overrides on top of the default container_config (= config with Cmd replaced by containerCmd). */
  containerConfig?: Record<string, unknown>;
  dockerVersion?: string;
  author?: string;
  /** Overrides on top of the version's runconfig.Config defaults; absent/null = no "config" key. */
  config?: Record<string, unknown> | null;
  architecture?: string;
  os?: string;
  /** Default: the computed layersize; null omits "Size". */
  size?: number | null;
  /** Docker 1.4.x wrote a "checksum" key (tarsum) into the json. */
  checksum?: string;
  /** Extra keys appended verbatim (raw registry JSON of 0.x–1.3 pulls could hold anything). */
  extra?: Record<string, unknown>;
}

export interface LayerSpec {
  id: string;
  /** Structural parent: drives aufs/layers and the default json parent. */
  parent?: string;
  note?: string;
  format: TarFormat;
  /** GNU tar -b: 1 gives no record padding (like Go's writer); 20 is GNU tar's default (10240-byte records). */
  blockingFactor?: number;
  /** Default mtime of the layer's entries (unix seconds). */
  mtime?: number;
  /** Put implicit parent directories into the tar (default true). */
  parentDirs?: boolean;
  entries: EntrySpec[];
  /** Fields to write graph/<id>/json from, or its raw bytes. */
  json: V1JsonSpec | { raw: Bytes };
  /** Write graph/<id>/tar-data.json.gz (default true; false = a layer registered before Docker 1.8). */
  tarData?: boolean;
  /** graph/<id>/layersize: 'auto' (aufs DiffSize of the diff dir, the default), a number, or 'omit'. */
  layersize?: number | 'auto' | 'omit';
  /** graph/<id>/checksum content (no newline). */
  checksum?: string;
  /** graph/<id>/parent content (1.8.3+). */
  parentFile?: string;
  /** Give aufs/diff/<id> aufs's own `.wh..wh.aufs`, `.wh..wh.plnk/`, `.wh..wh.orph/` (default true). */
  aufsMeta?: boolean;
  /** Replace whiteouts and opaque markers in aufs/diff/<id> by hard links to `.wh..wh.aufs`, as aufs does. */
  linkWhiteouts?: boolean;
}

export interface ContainerSpec {
  /** 64 hex; aufs layers `<id>-init` and `<id>`. */
  id: string;
  image: string;
  /** Container name without the leading "/". */
  name: string;
  created: string;
  path?: string;
  args?: string[];
  /** Files the container wrote (its read-write layer). */
  entries?: EntrySpec[];
  linkWhiteouts?: boolean;
  mtime?: number;
}

export type DamageSpec =
  /** graph/<layer> removed (a child then has a missing parent). */
  | { kind: 'remove-graph-dir'; layer: string }
  /** graph/<layer>/json rewritten with another parent (make cycles with it). */
  | { kind: 'json-parent'; layer: string; parent: string }
  | { kind: 'remove-diff-dir'; layer: string }
  /** graph/<layer>/json replaced by bytes that are not valid JSON. */
  | { kind: 'corrupt-json'; layer: string; raw?: Bytes }
  /** tar-data.json.gz cut to `keep` bytes (default: half). */
  | { kind: 'truncate-tar-data'; layer: string; keep?: number }
  /** A file in aufs/diff/<layer> rewritten after disasm (same size by default → crc mismatch). */
  | { kind: 'modify-diff-file'; layer: string; path: Bytes; content?: Content }
  | { kind: 'truncate-diff-file'; layer: string; path: Bytes; size?: number }
  /** A directory in graph/ whose name is not 64 lowercase hex (optionally holding a copy of a layer's json). */
  | { kind: 'stray-graph-dir'; name: string; jsonFrom?: string }
  /** aufs/layers/<layer> written with these ancestors instead of the json chain's. */
  | { kind: 'layers-file'; layer: string; ancestors: string[] }
  | { kind: 'extra-dir'; path: string }
  | { kind: 'extra-file'; path: string; content: Content };

export interface HostSpec {
  name: string;
  description?: string;
  /** Unix seconds stamped on every file/dir the builder itself makes (reproducible archives). */
  mtime?: number;
  /** Default mtime of layer entries. */
  layerMtime?: number;
  /** In parent order: a layer's parent comes before it. */
  layers: LayerSpec[];
  /** repositories-aufs: name → tag (or `sha256:…` digest) → image id. */
  repositories?: Record<string, Record<string, string>>;
  containers?: ContainerSpec[];
  /** Leftover staging dirs under graph/_tmp/ (graph/_tmp/ itself always exists). */
  graphTmp?: string[];
  damage?: DamageSpec[];
}

export interface BuildOptions {
  /** Default: running as uid 0. false = skip devices, xattrs and ownership (rootless). */
  asRoot?: boolean;
  /** Where the original tars go; default `<rootDir>/../<spec.name>-tars`. */
  tarsDir?: string;
}

/** One entry as GNU tar wrote it (what `tar -tvf` must list). */
export interface TarEntry {
  name: Buffer;
  type: 'file' | 'dir' | 'symlink' | 'hardlink' | 'fifo' | 'char' | 'block';
  /** Permission bits incl. setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Unix seconds (of the inode, for hard links). */
  mtime: number;
  /** Symlink target, or the name a hard link points to. */
  linkTarget?: Buffer;
  major?: number;
  minor?: number;
}

export interface BuiltLayer {
  id: string;
  /** `sha256:<hex>` of the original tar: the correct diffID. */
  diffID: string;
  tarPath: string;
  tarSize: number;
  format: TarFormat;
  tarData: boolean;
  /** Ancestors nearest first (structural chain). */
  ancestors: string[];
  tarEntries: TarEntry[];
  layersize: number | null;
  /** Damage kinds applied to this layer. */
  damaged: string[];
}

export interface BuiltHost {
  root: string;
  tarsDir: string;
  asRoot: boolean;
  layers: Record<string, BuiltLayer>;
  /** `name:tag` or `name@sha256:…` → image id, as written to repositories-aufs. */
  tags: Record<string, string>;
  containers: string[];
  /** What could not be built as specified (non-root). */
  skipped: string[];
}

// ───────────────────────────── small helpers ─────────────────────────────

export const HEX64 = /^[0-9a-f]{64}$/;
const DEFAULT_LAYER_MTIME = 1420070400; // 2015-01-01T00:00:00Z
const DEFAULT_HOST_MTIME = 1450000000; // 2015-12-13: when the host stopped
/** Docker 1.x root-level names that aufs itself keeps in every branch. */
export const AUFS_META = ['.wh..wh.aufs', '.wh..wh.orph', '.wh..wh.plnk'];
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export function toBytes(b: Bytes): Buffer {
  return typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b.base64, 'base64');
}

export function contentBytes(c: Content | undefined): Buffer {
  if (c === undefined) return Buffer.alloc(0);
  if (typeof c === 'object' && 'repeat' in c) return Buffer.from(c.repeat.repeat(c.times), 'utf8');
  return toBytes(c);
}

export function parseMode(m: Mode | undefined, dflt: number): number {
  if (m === undefined) return dflt;
  return typeof m === 'number' ? m : parseInt(m, 8);
}

export function sha256hex(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

const utf8Strict = new TextDecoder('utf-8', { fatal: true });
export function isUtf8(b: Buffer): boolean {
  try { utf8Strict.decode(b); return true; } catch { return false; }
}

/** A path for humans and for comparisons: UTF-8 as is, otherwise `base64:<bytes>`. */
export function displayPath(b: Buffer): string {
  return isUtf8(b) ? b.toString('utf8') : `base64:${b.toString('base64')}`;
}

/** Byte-wise, component by component: a directory's children come right after it (GNU tar --sort=name order). */
export function compareTarOrder(a: Buffer, b: Buffer): number {
  const ac = splitPath(a);
  const bc = splitPath(b);
  for (let i = 0; i < Math.min(ac.length, bc.length); i++) {
    const c = Buffer.compare(ac[i], bc[i]);
    if (c !== 0) return c;
  }
  return ac.length - bc.length;
}

export function splitPath(p: Buffer): Buffer[] {
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= p.length; i++) {
    if (i === p.length || p[i] === 0x2f) {
      if (i > start) parts.push(p.subarray(start, i));
      start = i + 1;
    }
  }
  return parts;
}

function joinPath(parts: Buffer[]): Buffer {
  return Buffer.concat(parts.flatMap((p, i) => (i === 0 ? [p] : [Buffer.from('/'), p])));
}

/** Buffer path under a directory (names can be non-UTF-8, so paths stay bytes). */
export function under(dir: string, rel: Buffer): Buffer {
  return Buffer.concat([Buffer.from(dir.endsWith('/') ? dir : dir + '/'), rel]);
}

function normalizeRel(b: Bytes, what: string): Buffer {
  const parts = splitPath(toBytes(b));
  if (parts.length === 0) throw new Error(`${what}: empty path`);
  for (const p of parts) {
    if (p.equals(Buffer.from('.')) || p.equals(Buffer.from('..'))) throw new Error(`${what}: '.' or '..' in ${displayPath(toBytes(b))}`);
  }
  return joinPath(parts);
}

function versionLess(v: string | undefined, than: string): boolean {
  const nums = (s: string) => (s.match(/^(\d+)\.(\d+)(?:\.(\d+))?/) ?? []).slice(1).map((x) => Number(x ?? 0));
  const a = nums(v ?? '0.0.0');
  const b = nums(than);
  for (let i = 0; i < 3; i++) if ((a[i] ?? 0) !== (b[i] ?? 0)) return (a[i] ?? 0) < (b[i] ?? 0);
  return false;
}

/** Deterministic 64-hex id derived from a label (container ids, stray names). */
export function derivedId(label: string): string {
  return sha256hex(label);
}

// ─────────────────── layer entries (shared with merged-tree.ts) ───────────────────

/** One physical entry of a layer: what the staging dir holds and what the tar carries. */
export interface LayerEntry {
  /** Physical path (for whiteouts `<dir>/.wh.<base>`), no leading or trailing slash. */
  name: Buffer;
  kind: TarEntry['type'];
  /** How OCI/aufs semantics read it: whiteouts and opaque markers are recognised by name. */
  role: 'plain' | 'whiteout' | 'opaque' | 'implicit-dir';
  /** In the tar (implicit parent dirs are not when the layer says parentDirs: false). */
  inTar: boolean;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  content: Buffer;
  /** Symlink target, or (hardlink) the physical name of the linked entry. */
  target?: Buffer;
  major?: number;
  minor?: number;
  xattrs: Array<[string, Buffer]>;
  /** For whiteouts: the path deleted from lower layers; for opaque markers: the opaque dir. */
  affects?: Buffer;
}

export interface EntryEnv {
  asRoot: boolean;
  defaultMtime: number;
}

/** Role of a physical name: `.wh.` files are whiteouts (whatever their tar type), `.wh..wh..opq` opaque markers. */
export function roleOfName(name: Buffer): { role: 'plain' | 'whiteout' | 'opaque'; affects?: Buffer } {
  const parts = splitPath(name);
  const base = parts[parts.length - 1].toString('latin1');
  const dir = parts.slice(0, -1);
  if (base === OPAQUE_MARKER) return { role: 'opaque', affects: joinPath(dir) };
  if (base.startsWith(WHITEOUT_PREFIX) && !base.startsWith('.wh..wh.')) {
    const deleted = parts[parts.length - 1].subarray(WHITEOUT_PREFIX.length);
    return { role: 'whiteout', affects: joinPath([...dir, deleted]) };
  }
  return { role: 'plain' };
}

/**
 * A layer's physical entries in tar order, implicit parent dirs included, plus what was skipped
 * because we are not root. Spec layers go through specLayerEntries (which supplies lowerDir);
 * container layers, which have no tar, call this directly.
 */
export function layerEntries(entries: EntrySpec[], env: EntryEnv, parentDirs = true, lowerDir: LowerDirLookup = () => undefined): { entries: LayerEntry[]; skipped: string[] } {
  const skipped: string[] = [];
  const byName = new Map<string, LayerEntry>();
  for (const spec of entries) {
    const e = physicalEntry(spec, env);
    if (!env.asRoot && (e.kind === 'char' || e.kind === 'block')) {
      skipped.push(`device ${displayPath(e.name)}`);
      continue;
    }
    if (!env.asRoot && e.xattrs.length > 0) {
      skipped.push(`xattrs of ${displayPath(e.name)}`);
      e.xattrs = [];
    }
    if (!env.asRoot && (e.uid !== 0 || e.gid !== 0)) {
      skipped.push(`owner ${e.uid}:${e.gid} of ${displayPath(e.name)}`);
      e.uid = 0;
      e.gid = 0;
    }
    const key = e.name.toString('latin1');
    if (byName.has(key)) throw new Error(`duplicate entry ${displayPath(e.name)}`);
    byName.set(key, e);
  }
  addImplicitParents(byName, env, parentDirs, lowerDir);
  const list = [...byName.values()].sort((a, b) => compareTarOrder(a.name, b.name));
  return { entries: list, skipped };
}

function physicalEntry(spec: EntrySpec, env: EntryEnv): LayerEntry {
  const what = `entry ${JSON.stringify(spec.path)}`;
  const path = normalizeRel(spec.path, what);
  if (spec.type === 'hardlink') {
    const r = roleOfName(path);
    return {
      name: path, kind: 'hardlink', role: r.role, affects: r.affects, inTar: true, mode: 0, uid: 0, gid: 0,
      mtime: env.defaultMtime, content: Buffer.alloc(0), target: normalizeRel(spec.target, what), xattrs: [],
    };
  }
  const meta = {
    uid: spec.uid ?? 0,
    gid: spec.gid ?? 0,
    mtime: spec.mtime ?? env.defaultMtime,
    xattrs: Object.entries(spec.xattrs ?? {}).map(([k, v]): [string, Buffer] => [k, toBytes(v)]).sort((a, b) => (a[0] < b[0] ? -1 : 1)),
    content: Buffer.alloc(0),
    inTar: true,
  };
  switch (spec.type) {
    case 'file': {
      const r = roleOfName(path);
      return { ...meta, name: path, kind: 'file', role: r.role, affects: r.affects, mode: parseMode(spec.mode, 0o644), content: contentBytes(spec.content) };
    }
    case 'dir':
      return { ...meta, name: path, kind: 'dir', role: 'plain', mode: parseMode(spec.mode, 0o755) };
    case 'symlink':
      return { ...meta, name: path, kind: 'symlink', role: 'plain', mode: 0o777, target: toBytes(spec.target) };
    case 'fifo':
      return { ...meta, name: path, kind: 'fifo', role: 'plain', mode: parseMode(spec.mode, 0o644) };
    case 'char':
    case 'block':
      return { ...meta, name: path, kind: spec.type, role: 'plain', mode: parseMode(spec.mode, 0o660), major: spec.major, minor: spec.minor };
    case 'whiteout': {
      const parts = splitPath(path);
      const name = joinPath([...parts.slice(0, -1), Buffer.concat([Buffer.from(WHITEOUT_PREFIX), parts[parts.length - 1]])]);
      // aufs creates whiteouts with WH_MASK 0444 (sfjro/aufs-standalone fs/aufs/whout.c)
      return { ...meta, name, kind: 'file', role: 'whiteout', affects: path, mode: parseMode(spec.mode, 0o444) };
    }
    case 'opaque':
      return { ...meta, name: joinPath([...splitPath(path), Buffer.from(OPAQUE_MARKER)]), kind: 'file', role: 'opaque', affects: path, mode: parseMode(spec.mode, 0o444) };
  }
}

/** Finds a directory in the lower layers, so an implicit parent can carry its real mode and owner. */
export type LowerDirLookup = (dir: Buffer) => LayerEntry | undefined;

/**
 * Implicit parents stand for directories the layer modified: like the parent-dir entries in
 * Docker-made tars they keep the lower layer's mode and owner (0755 root for new ones) and get
 * the layer's mtime.
 */
function addImplicitParents(byName: Map<string, LayerEntry>, env: EntryEnv, inTar: boolean, lowerDir: LowerDirLookup): void {
  for (const e of [...byName.values()]) {
    const parts = splitPath(e.name);
    for (let i = 1; i < parts.length; i++) {
      const dir = joinPath(parts.slice(0, i));
      const key = dir.toString('latin1');
      const existing = byName.get(key);
      if (existing) {
        if (existing.kind !== 'dir') throw new Error(`${displayPath(dir)} is a parent of ${displayPath(e.name)} but not a dir`);
        continue;
      }
      const lower = lowerDir(dir);
      byName.set(key, {
        name: dir, kind: 'dir', role: 'implicit-dir', inTar, mode: lower?.mode ?? 0o755, uid: lower?.uid ?? 0, gid: lower?.gid ?? 0,
        mtime: env.defaultMtime, content: Buffer.alloc(0), xattrs: [],
      });
    }
  }
}

/**
 * What GNU tar writes for these entries: of several names of one inode, the first in archive order
 * carries the content and the later ones become hard links to it.
 */
export function expectedTarEntries(entries: LayerEntry[]): TarEntry[] {
  const byKey = new Map(entries.map((e) => [e.name.toString('latin1'), e]));
  const firstNameOfInode = new Map<string, Buffer>(); // key of the link target → first name archived
  const out: TarEntry[] = [];
  for (const e of entries) {
    if (!e.inTar) continue;
    const inodeKey = e.kind === 'hardlink' ? e.target!.toString('latin1') : e.name.toString('latin1');
    const owner = byKey.get(inodeKey);
    if (!owner) throw new Error(`hard link ${displayPath(e.name)} to ${displayPath(e.target!)}, which is not in the layer`);
    const first = firstNameOfInode.get(inodeKey);
    if (first) {
      out.push({ name: e.name, type: 'hardlink', mode: owner.mode, uid: owner.uid, gid: owner.gid, size: 0, mtime: owner.mtime, linkTarget: first });
      continue;
    }
    firstNameOfInode.set(inodeKey, e.name);
    out.push(tarEntryOf(e.name, owner));
  }
  return out;
}

function tarEntryOf(name: Buffer, e: LayerEntry): TarEntry {
  const t: TarEntry = { name, type: e.kind, mode: e.mode, uid: e.uid, gid: e.gid, size: e.kind === 'file' ? e.content.length : 0, mtime: e.mtime };
  if (e.kind === 'symlink') t.linkTarget = e.target;
  if (e.kind === 'char' || e.kind === 'block') { t.major = e.major; t.minor = e.minor; }
  return t;
}

// ───────────────────────────── staging (node:fs) ─────────────────────────────

/**
 * Creates the entries under `dir` with node:fs (and mknod/mkfifo). Three passes: create everything,
 * then owner → mode → xattrs (chown clears setuid bits and capabilities, so it goes first), then
 * mtimes (creating children changes a directory's mtime).
 */
export function populateTree(dir: string, entries: LayerEntry[], asRoot: boolean): void {
  for (const e of entries) if (e.kind !== 'hardlink') createNode(dir, e);
  for (const e of entries) if (e.kind === 'hardlink') linkSync(under(dir, e.target!), under(dir, e.name));
  for (const e of entries) if (e.kind !== 'hardlink') applyMeta(dir, e, asRoot);
  // a hard link shares its target's inode, so only the target's mtime counts
  for (const e of entries) if (e.kind !== 'hardlink') lutimesSync(under(dir, e.name), e.mtime, e.mtime);
}

function createNode(dir: string, e: LayerEntry): void {
  const p = under(dir, e.name);
  switch (e.kind) {
    case 'dir': mkdirSync(p); break;
    case 'file': writeFileSync(p, e.content); break;
    case 'symlink': symlinkSync(e.target!, p); break;
    case 'fifo': run('mkfifo', [requireUtf8(e.name)], { cwd: dir }); break;
    case 'char':
    case 'block':
      run('mknod', [requireUtf8(e.name), e.kind === 'char' ? 'c' : 'b', String(e.major), String(e.minor)], { cwd: dir });
      break;
    case 'hardlink': break;
  }
}

function applyMeta(dir: string, e: LayerEntry, asRoot: boolean): void {
  const p = under(dir, e.name);
  if (asRoot) lchownSync(p, e.uid, e.gid);
  if (e.kind !== 'symlink') chmodSync(p, e.mode);
  for (const [k, v] of e.xattrs) setAttributeSync(requireUtf8(under(dir, e.name)), k, v);
}

function requireUtf8(b: Buffer): string {
  if (!isUtf8(b)) throw new Error(`${displayPath(b)}: this kind of entry needs a UTF-8 name (the tool takes string paths)`);
  return b.toString('utf8');
}

// ───────────────────────────── GNU tar / tar-split ─────────────────────────────

interface TarJob {
  stageDir: string;
  names: Buffer[];
  format: TarFormat;
  blockingFactor: number;
  withXattrs: boolean;
  asRoot: boolean;
  tarPath: string;
}

/** GNU tar writes the layer tar: names given explicitly in our sorted order, numeric owners, no atime/ctime. */
function writeLayerTar(job: TarJob): void {
  const listPath = `${job.tarPath}.list`;
  writeFileSync(listPath, Buffer.concat(job.names.flatMap((n) => [n, Buffer.from([0])])));
  const args = [
    '--create', `--file=${job.tarPath}`, `--format=${job.format}`, `--blocking-factor=${job.blockingFactor}`,
    '--numeric-owner', `--directory=${job.stageDir}`,
    '--no-recursion', '--null', '--verbatim-files-from', `--files-from=${listPath}`,
  ];
  // GNU tar's pax writer would add atime/ctime records; dropping them (and keeping the PID out of
  // the extended-header names) makes the tars reproducible.
  if (job.format === 'pax') args.push('--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime');
  // --xattrs forces pax extended headers even in gnu/ustar, so only pax layers may carry xattrs.
  if (job.withXattrs) args.push('--xattrs', '--xattrs-include=*');
  if (!job.asRoot) args.push('--owner=0', '--group=0');
  run('tar', args, { env: { ...process.env, LC_ALL: 'C' } });
  rmSync(listPath);
}

/** GNU tar extracts the layer into aufs/diff/<id>, keeping owners, modes, hard links and xattrs. */
function extractLayerTar(tarPath: string, diffDir: string, asRoot: boolean, withXattrs: boolean): void {
  const args = ['--extract', `--file=${tarPath}`, `--directory=${diffDir}`, '--numeric-owner', '--preserve-permissions'];
  args.push(asRoot ? '--same-owner' : '--no-same-owner');
  if (withXattrs && asRoot) args.push('--xattrs', '--xattrs-include=*');
  run('tar', args, { env: { ...process.env, LC_ALL: 'C' } });
}

/** Debian's tar-split records the tar's non-payload bytes plus a crc64 per file. */
function disassemble(tarPath: string, outPath: string): void {
  run('tar-split', ['disasm', '--no-stdout', '--output', outPath, tarPath]);
  chmodSync(outPath, 0o600);
}

// ───────────────────────────── v1 json ─────────────────────────────

/** Go's encoding/json string quoting: HTML-safe escapes, \u2028/\u2029, \u00XX for other controls. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0)!;
    if (ch === '"') out += '\\"';
    else if (ch === '\\') out += '\\\\';
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (c < 0x20 || ch === '<' || ch === '>' || ch === '&' || c === 0x2028 || c === 0x2029) out += `\\u${c.toString(16).padStart(4, '0')}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += '\ufffd'; // a lone surrogate: Go writes U+FFFD for invalid UTF-8
    else out += ch;
  }
  return out + '"';
}

/** Keys whose Go type is a map: encoding/json writes them sorted. Struct keys keep declaration order. */
const GO_MAP_KEYS = new Set(['ExposedPorts', 'Volumes', 'Labels', 'Repositories']);

/** Compact JSON the way Go's json.Marshal writes it (object key order as given, maps sorted). */
export function goMarshal(v: unknown, sortKeys = false): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number' || typeof v === 'boolean') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => goMarshal(x)).join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>);
  if (sortKeys) entries.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  return `{${entries.map(([k, x]) => `${goQuote(k)}:${goMarshal(x, sortKeys || GO_MAP_KEYS.has(k))}`).join(',')}}`;
}

/** runconfig.Config keys with zero values, in struct order, by the Docker version that wrote them. */
function runconfigDefaults(dockerVersion: string | undefined): Record<string, unknown> {
  const early = {
    Hostname: '', Domainname: '', User: '', Memory: 0, MemorySwap: 0, CpuShares: 0, Cpuset: '',
    AttachStdin: false, AttachStdout: false, AttachStderr: false, PortSpecs: null, ExposedPorts: null,
    Tty: false, OpenStdin: false, StdinOnce: false, Env: null, Cmd: null, Image: '', Volumes: null,
    WorkingDir: '', Entrypoint: null, NetworkDisabled: false,
  };
  if (versionLess(dockerVersion, '1.3.0')) return { ...early, OnBuild: null }; // as pulled 1.2.0 images show
  if (versionLess(dockerVersion, '1.4.0')) return { ...early, OnBuild: null, SecurityOpt: null };
  if (versionLess(dockerVersion, '1.7.0')) return { ...early, MacAddress: '', OnBuild: null, Labels: null };
  // 1.7–1.9 (moby v1.9.1 runconfig.Config); ExposedPorts/PublishService/NetworkDisabled/MacAddress/StopSignal are omitempty
  return {
    Hostname: '', Domainname: '', User: '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
    ExposedPorts: undefined, PublishService: undefined, Tty: false, OpenStdin: false, StdinOnce: false,
    Env: null, Cmd: null, Image: '', Volumes: null, WorkingDir: '', Entrypoint: null,
    NetworkDisabled: undefined, MacAddress: undefined, OnBuild: null, Labels: null, StopSignal: undefined,
  };
}

/** Fills a runconfig.Config: version defaults, then the spec's overrides; omitempty keys that stay empty vanish. */
function fullRunconfig(dockerVersion: string | undefined, overrides: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...runconfigDefaults(dockerVersion), ...overrides };
  for (const [k, v] of Object.entries(out)) {
    if (v === undefined || (v === '' && ['PublishService', 'MacAddress', 'StopSignal'].includes(k) && !versionLess(dockerVersion, '1.7.0'))) delete out[k];
  }
  return out;
}

/** The bytes of graph/<id>/json. */
export function v1JsonBytes(layer: LayerSpec, layersize: number | null, parentOverride?: string): Buffer {
  if ('raw' in layer.json) return toBytes(layer.json.raw);
  const j = layer.json;
  const v = j.dockerVersion;
  const writer = j.writer ?? (versionLess(v, '1.4.0') || !versionLess(v, '1.8.3') ? 'marshal' : 'encode');
  const parent = parentOverride ?? (j.parent === undefined ? layer.parent : j.parent ?? undefined);
  const container = j.container === undefined ? (j.containerCmd !== undefined ? derivedId(`container:${layer.id}`) : undefined) : j.container ?? undefined;
  const hostname = container ? container.slice(0, 12) : '';
  // A build step's container_config is the resulting config with Cmd replaced by the step's command.
  const containerConfig = fullRunconfig(v, {
    ...(j.config ?? {}), Hostname: hostname, Image: parent ?? '', Cmd: null,
    ...(j.containerCmd !== undefined ? { Cmd: j.containerCmd } : {}),
    ...(j.containerConfig ?? {}),
  });
  const img: Record<string, unknown> = {};
  const idValue = j.id === undefined ? layer.id : j.id;
  if (idValue !== null) img.id = idValue;
  if (parent) img.parent = parent;
  if (j.comment) img.comment = j.comment;
  img.created = j.created;
  if (container) img.container = container;
  img.container_config = containerConfig;
  if (v) img.docker_version = v;
  if (j.author) img.author = j.author;
  if (j.config) img.config = fullRunconfig(v, { Hostname: hostname, Image: parent ?? '', ...j.config });
  if (j.architecture) img.architecture = j.architecture;
  if (j.os) img.os = j.os;
  const size = j.size === undefined ? layersize ?? 0 : j.size;
  // Size has no omitempty until 1.8.3 (moby v1.8.3 image/image.go)
  if (size !== null && (size !== 0 || versionLess(v, '1.8.3'))) img.Size = size;
  if (j.checksum !== undefined) img.checksum = j.checksum;
  Object.assign(img, j.extra ?? {});
  return Buffer.from(goMarshal(img) + (writer === 'encode' ? '\n' : ''), 'utf8');
}

// ───────────────────────────── aufs ─────────────────────────────

/** aufs's own files at a branch root: the whiteout base and the pseudo-link / orphan dirs (mode 0700). */
function addAufsMeta(diffDir: string): void {
  const base = join(diffDir, '.wh..wh.aufs');
  writeFileSync(base, '');
  chmodSync(base, 0o444);
  for (const d of ['.wh..wh.plnk', '.wh..wh.orph']) {
    mkdirSync(join(diffDir, d));
    chmodSync(join(diffDir, d), 0o700);
  }
}

/** aufs hard-links every whiteout and opaque marker to `.wh..wh.aufs` (whout.c link_or_create_wh). */
function linkWhiteoutsToBase(diffDir: string, entries: LayerEntry[]): void {
  const base = join(diffDir, '.wh..wh.aufs');
  for (const e of entries) {
    if (e.role !== 'whiteout' && e.role !== 'opaque') continue;
    const p = under(diffDir, e.name);
    unlinkSync(p);
    linkSync(base, p);
  }
}

/** Directory mtimes inside a diff, so aufs-ifying (which adds and relinks names) leaves them as the tar had them. */
function snapshotDirTimes(root: string): Array<[Buffer, number]> {
  const out: Array<[Buffer, number]> = [];
  const walk = (p: Buffer) => {
    for (const name of readdirSync(p, { encoding: 'buffer' })) {
      const child = Buffer.concat([p, Buffer.from('/'), name]);
      const st = lstatSync(child);
      if (st.isDirectory()) { out.push([child, st.mtimeMs / 1000]); walk(child); }
    }
  };
  walk(Buffer.from(root));
  return out;
}

function restoreDirTimes(times: Array<[Buffer, number]>): void {
  for (const [p, t] of times) if (existsSync(p)) lutimesSync(p, t, t);
}

/** aufs DiffSize (moby v1.9.1 pkg/directory): sizes of non-directories, each inode once. */
function aufsDiffSize(diffDir: string): number {
  const seen = new Set<string>();
  let total = 0;
  const walk = (p: Buffer) => {
    for (const name of readdirSync(p, { encoding: 'buffer' })) {
      const child = Buffer.concat([p, Buffer.from('/'), name]);
      const st = lstatSync(child, { bigint: true });
      if (st.isDirectory()) { walk(child); continue; }
      const ino = `${st.dev}:${st.ino}`;
      if (st.size === 0n || seen.has(ino)) continue;
      seen.add(ino);
      total += Number(st.size);
    }
  };
  walk(Buffer.from(diffDir));
  return total;
}

/** aufs/layers/<id>: ancestors nearest first, every line ending "\n" (fmt.Fprintln); empty for a base. */
function layersFileText(ancestors: string[]): string {
  return ancestors.map((a) => `${a}\n`).join('');
}

// ───────────────────────────── the build ─────────────────────────────

interface BuildCtx {
  spec: HostSpec;
  root: string;
  tarsDir: string;
  asRoot: boolean;
  ancestors: Map<string, string[]>;
  /** Paths (relative to root) inside diff dirs whose mtimes came from tars: not re-stamped. */
  keepTimesUnder: string[];
  skipped: string[];
}

function mkdirMode(p: string, mode: number): void {
  mkdirSync(p, { recursive: true });
  chmodSync(p, mode);
}

function writeFileMode(p: string | Buffer, data: Buffer | string, mode: number): void {
  writeFileSync(p, data);
  chmodSync(p, mode);
}

function validateSpec(spec: HostSpec): void {
  const seen = new Set<string>();
  for (const l of spec.layers) {
    if (!HEX64.test(l.id)) throw new Error(`layer id ${l.id} is not 64 lowercase hex`);
    if (seen.has(l.id)) throw new Error(`layer ${l.id} listed twice`);
    if (l.parent && !seen.has(l.parent)) throw new Error(`layer ${l.id}: parent ${l.parent} must come earlier in the list`);
    if (!['gnu', 'pax', 'ustar'].includes(l.format)) throw new Error(`layer ${l.id}: unknown format ${l.format}`);
    const hasXattrs = l.entries.some((e) => e.type !== 'hardlink' && e.xattrs && Object.keys(e.xattrs).length > 0);
    if (hasXattrs && l.format !== 'pax') throw new Error(`layer ${l.id}: xattrs need the pax format`);
    if (l.linkWhiteouts && l.aufsMeta === false) throw new Error(`layer ${l.id}: linkWhiteouts needs aufsMeta`);
    seen.add(l.id);
  }
}

function ancestorsOf(spec: HostSpec): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const l of spec.layers) map.set(l.id, l.parent ? [l.parent, ...map.get(l.parent)!] : []);
  return map;
}

function buildLayer(ctx: BuildCtx, layer: LayerSpec): BuiltLayer {
  const { entries, skipped } = specLayerEntries(ctx.spec, layer, ctx.asRoot);
  ctx.skipped.push(...skipped.map((s) => `layer ${layer.id.slice(0, 12)}: ${s}`));
  const withXattrs = ctx.asRoot && entries.some((e) => e.xattrs.length > 0);

  // 1. stage with node:fs, 2. GNU tar writes the original tar (kept outside the root)
  const tarPath = join(ctx.tarsDir, `${layer.id}.tar`);
  const stageDir = join(ctx.tarsDir, `stage-${layer.id}`);
  mkdirMode(stageDir, 0o755);
  populateTree(stageDir, entries, ctx.asRoot);
  writeLayerTar({
    stageDir, tarPath, withXattrs, asRoot: ctx.asRoot, format: layer.format, blockingFactor: layer.blockingFactor ?? 1,
    names: entries.filter((e) => e.inTar).map((e) => e.name),
  });
  rmSync(stageDir, { recursive: true, force: true });
  const tarBytes = readFileSync(tarPath);

  // 3. graph/<id>/tar-data.json.gz by tar-split
  const graphDir = join(ctx.root, 'graph', layer.id);
  mkdirMode(graphDir, 0o700);
  const tarData = layer.tarData ?? true;
  if (tarData) disassemble(tarPath, join(graphDir, 'tar-data.json.gz'));

  // 4. aufs/diff/<id> = the tar extracted by GNU tar, then aufs's own files
  const diffDir = join(ctx.root, 'aufs', 'diff', layer.id);
  mkdirMode(diffDir, 0o755);
  extractLayerTar(tarPath, diffDir, ctx.asRoot, withXattrs);
  aufsify(diffDir, entries, layer.aufsMeta ?? true, layer.linkWhiteouts ?? false);
  ctx.keepTimesUnder.push(join('aufs', 'diff', layer.id));

  // 5. the rest of graph/<id> and aufs/{layers,mnt}/<id>
  const layersize = layer.layersize === 'omit' ? null : typeof layer.layersize === 'number' ? layer.layersize : aufsDiffSize(diffDir);
  writeFileMode(join(graphDir, 'json'), v1JsonBytes(layer, layersize), 0o600);
  if (layersize !== null) writeFileMode(join(graphDir, 'layersize'), String(layersize), 0o600);
  if (layer.checksum !== undefined) writeFileMode(join(graphDir, 'checksum'), layer.checksum, 0o600);
  if (layer.parentFile !== undefined) writeFileMode(join(graphDir, 'parent'), layer.parentFile, 0o600);
  const ancestors = ctx.ancestors.get(layer.id)!;
  writeFileMode(join(ctx.root, 'aufs', 'layers', layer.id), layersFileText(ancestors), 0o644);
  mkdirMode(join(ctx.root, 'aufs', 'mnt', layer.id), 0o755);

  return {
    id: layer.id, diffID: `sha256:${sha256hex(tarBytes)}`, tarPath, tarSize: tarBytes.length, format: layer.format,
    tarData, ancestors, tarEntries: expectedTarEntries(entries), layersize, damaged: [],
  };
}

/** Adds aufs's branch-root files and relinks whiteouts, keeping the tar's directory mtimes. */
function aufsify(diffDir: string, entries: LayerEntry[], meta: boolean, linkWhiteouts: boolean): void {
  const times = snapshotDirTimes(diffDir);
  if (meta) addAufsMeta(diffDir);
  if (linkWhiteouts) linkWhiteoutsToBase(diffDir, entries);
  restoreDirTimes(times);
}

function writeRepositories(ctx: BuildCtx): Record<string, string> {
  const repos = ctx.spec.repositories ?? {};
  const tags: Record<string, string> = {};
  for (const [name, refs] of Object.entries(repos)) {
    for (const [ref, id] of Object.entries(refs)) tags[ref.startsWith('sha256:') ? `${name}@${ref}` : `${name}:${ref}`] = id;
  }
  // json.Marshal(TagStore): map keys sorted, no trailing newline (moby v1.9.1 graph/tags.go)
  writeFileMode(join(ctx.root, 'repositories-aufs'), goMarshal({ Repositories: repos }), 0o600);
  return tags;
}

// ───────────────────────────── containers ─────────────────────────────

/** setupInitLayer placeholders (moby v1.9.1 daemon/daemon_unix.go). */
const INIT_LAYER_ENTRIES: EntrySpec[] = [
  { type: 'dir', path: 'dev/pts' }, { type: 'dir', path: 'dev/shm' }, { type: 'dir', path: 'proc' }, { type: 'dir', path: 'sys' },
  { type: 'file', path: '.dockerinit', mode: '755' }, { type: 'file', path: '.dockerenv', mode: '755' },
  { type: 'file', path: 'etc/resolv.conf', mode: '755' }, { type: 'file', path: 'etc/hosts', mode: '755' },
  { type: 'file', path: 'etc/hostname', mode: '755' }, { type: 'file', path: 'dev/console', mode: '755' },
  { type: 'symlink', path: 'etc/mtab', target: '/proc/mounts' },
];

/** A container's `<cid>-init` and `<cid>` aufs layers (written directly: they never were tars) and its config. */
function buildContainer(ctx: BuildCtx, c: ContainerSpec): void {
  const imageAncestors = ctx.ancestors.get(c.image);
  if (!imageAncestors) throw new Error(`container ${c.id}: image ${c.image} is not a layer of this spec`);
  const env: EntryEnv = { asRoot: ctx.asRoot, defaultMtime: c.mtime ?? ctx.spec.mtime ?? DEFAULT_HOST_MTIME };
  const initId = `${c.id}-init`;
  writeContainerLayer(ctx, initId, [c.image, ...imageAncestors], INIT_LAYER_ENTRIES, env, false);
  writeContainerLayer(ctx, c.id, [initId, c.image, ...imageAncestors], c.entries ?? [], env, c.linkWhiteouts ?? false);

  const dir = join(ctx.root, 'containers', c.id);
  mkdirMode(dir, 0o700);
  const cfg = containerConfigJson(c);
  writeFileMode(join(dir, 'config.json'), goMarshal(cfg), 0o600);
  writeFileMode(join(dir, 'hostconfig.json'), goMarshal({ Binds: null, ContainerIDFile: '', LxcConf: [], Memory: 0, MemorySwap: 0, CpuShares: 0, Privileged: false, PortBindings: {}, Links: null, PublishAllPorts: false, Dns: null, DnsSearch: null, ExtraHosts: null, VolumesFrom: null, NetworkMode: 'default', RestartPolicy: { Name: 'no', MaximumRetryCount: 0 }, LogConfig: { Type: 'json-file', Config: {} } }), 0o644);
  writeFileMode(join(dir, 'hostname'), `${c.id.slice(0, 12)}\n`, 0o644);
  writeFileMode(join(dir, 'hosts'), `172.17.0.2\t${c.id.slice(0, 12)}\n127.0.0.1\tlocalhost\n`, 0o644);
  writeFileMode(join(dir, 'resolv.conf'), 'nameserver 8.8.8.8\nnameserver 8.8.4.4\n', 0o644);
  writeFileMode(join(dir, `${c.id}-json.log`), '', 0o600);
}

function writeContainerLayer(ctx: BuildCtx, id: string, ancestors: string[], specs: EntrySpec[], env: EntryEnv, link: boolean): void {
  const { entries, skipped } = layerEntries(specs, env);
  ctx.skipped.push(...skipped.map((s) => `container layer ${id.slice(0, 12)}: ${s}`));
  const diffDir = join(ctx.root, 'aufs', 'diff', id);
  mkdirMode(diffDir, 0o755);
  populateTree(diffDir, entries, ctx.asRoot);
  aufsify(diffDir, entries, true, link);
  ctx.keepTimesUnder.push(join('aufs', 'diff', id));
  writeFileMode(join(ctx.root, 'aufs', 'layers', id), layersFileText(ancestors), 0o644);
  mkdirMode(join(ctx.root, 'aufs', 'mnt', id), 0o755);
}

/** containers/<cid>/config.json shaped like Docker 1.9.1's CommonContainer. */
function containerConfigJson(c: ContainerSpec): Record<string, unknown> {
  const p = `/var/lib/docker/containers/${c.id}`;
  return {
    State: { Running: false, Paused: false, Restarting: false, OOMKilled: false, Dead: false, Pid: 0, ExitCode: 0, Error: '', StartedAt: c.created, FinishedAt: c.created },
    ID: c.id, Created: c.created, Path: c.path ?? 'sh', Args: c.args ?? [],
    Config: fullRunconfig('1.9.1', { Hostname: c.id.slice(0, 12), Cmd: [c.path ?? 'sh', ...(c.args ?? [])], Image: c.image }),
    Image: c.image,
    NetworkSettings: { Bridge: '', SandboxID: '', HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0, Networks: null, Ports: null, SandboxKey: '', SecondaryIPAddresses: null, SecondaryIPv6Addresses: null, IsAnonymousEndpoint: false },
    ResolvConfPath: `${p}/resolv.conf`, HostnamePath: `${p}/hostname`, HostsPath: `${p}/hosts`, LogPath: `${p}/${c.id}-json.log`,
    Name: `/${c.name}`, Driver: 'aufs', ExecDriver: 'native-0.2', MountLabel: '', ProcessLabel: '', RestartCount: 0,
    HasBeenStartedBefore: false, HasBeenManuallyStopped: false, MountPoints: {}, AppArmorProfile: '',
  };
}

// ───────────────────────────── damage ─────────────────────────────

function applyDamage(ctx: BuildCtx, d: DamageSpec, layers: Record<string, BuiltLayer>, specs: Map<string, LayerSpec>): void {
  const graph = (id: string) => join(ctx.root, 'graph', id);
  const mark = (id: string) => layers[id]?.damaged.push(d.kind);
  switch (d.kind) {
    case 'remove-graph-dir':
      rmSync(graph(d.layer), { recursive: true, force: true });
      break;
    case 'json-parent': {
      const l = specs.get(d.layer)!;
      writeFileMode(join(graph(d.layer), 'json'), v1JsonBytes(l, layers[d.layer].layersize, d.parent), 0o600);
      break;
    }
    case 'remove-diff-dir':
      rmSync(join(ctx.root, 'aufs', 'diff', d.layer), { recursive: true, force: true });
      break;
    case 'corrupt-json':
      writeFileMode(join(graph(d.layer), 'json'), d.raw ? toBytes(d.raw) : `{"id":"${d.layer}","created":"2015-`, 0o600);
      break;
    case 'truncate-tar-data': {
      const p = join(graph(d.layer), 'tar-data.json.gz');
      truncateSync(p, d.keep ?? Math.max(20, Math.floor(statSync(p).size / 2)));
      break;
    }
    case 'modify-diff-file': {
      const p = under(join(ctx.root, 'aufs', 'diff', d.layer), normalizeRel(d.path, 'modify-diff-file'));
      const old = readFileSync(p);
      // default: same size, bit 5 of every byte flipped (letters change case) → the crc64 no longer matches
      const next = d.content !== undefined ? contentBytes(d.content) : Buffer.from(old.map((b) => b ^ 0x20));
      const st = lstatSync(p);
      writeFileSync(p, next);
      lutimesSync(p, st.mtimeMs / 1000, st.mtimeMs / 1000);
      break;
    }
    case 'truncate-diff-file': {
      const p = under(join(ctx.root, 'aufs', 'diff', d.layer), normalizeRel(d.path, 'truncate-diff-file'));
      const st = lstatSync(p);
      truncateSync(p, d.size ?? Math.floor(st.size / 2));
      lutimesSync(p, st.mtimeMs / 1000, st.mtimeMs / 1000);
      break;
    }
    case 'stray-graph-dir':
      mkdirMode(graph(d.name), 0o700);
      if (d.jsonFrom) writeFileMode(join(graph(d.name), 'json'), readFileSync(join(graph(d.jsonFrom), 'json')), 0o600);
      return;
    case 'layers-file':
      writeFileMode(join(ctx.root, 'aufs', 'layers', d.layer), layersFileText(d.ancestors), 0o644);
      break;
    case 'extra-dir':
      mkdirMode(join(ctx.root, d.path), 0o755);
      return;
    case 'extra-file':
      mkdirSync(dirname(join(ctx.root, d.path)), { recursive: true });
      writeFileMode(join(ctx.root, d.path), contentBytes(d.content), 0o644);
      return;
  }
  mark(d.layer);
}

// ───────────────────────────── timestamps ─────────────────────────────

/**
 * Everything the builder made gets the host's fixed mtime, so a tar of the root is reproducible.
 * Layer contents keep the mtimes their tars gave them; only the diff dir itself and aufs's files are stamped.
 */
function stampTimes(ctx: BuildCtx, t: number): void {
  const keep = new Set(ctx.keepTimesUnder.map((p) => join(ctx.root, p)));
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      if (keep.has(dir) && !AUFS_META.includes(name)) continue; // layer content: mtimes from the tar
      const p = join(dir, name);
      if (lstatSync(p).isDirectory()) walk(p);
      lutimesSync(p, t, t);
    }
  };
  walk(ctx.root);
  lutimesSync(ctx.root, t, t);
}

// ───────────────────────────── entry point ─────────────────────────────

/**
 * Builds a legacy Docker root at `rootDir` (created; must not exist or be empty). The original layer
 * tars stay outside the root, in `<rootDir>/../<spec.name>-tars/` unless options.tarsDir says otherwise.
 */
export function buildLegacyRoot(spec: HostSpec, rootDir: string, options: BuildOptions = {}): BuiltHost {
  validateSpec(spec);
  const root = resolve(rootDir);
  if (existsSync(root) && readdirSync(root).length > 0) throw new Error(`${root} is not empty`);
  const tarsDir = resolve(options.tarsDir ?? join(dirname(root), `${spec.name}-tars`));
  const isRoot = process.getuid?.() === 0;
  const asRoot = options.asRoot ?? isRoot;
  if (asRoot && !isRoot) throw new Error('asRoot: true needs uid 0');
  const ctx: BuildCtx = { spec, root, tarsDir, asRoot, ancestors: ancestorsOf(spec), keepTimesUnder: [], skipped: [] };

  mkdirMode(root, 0o710);
  for (const d of ['graph', 'graph/_tmp', 'containers']) mkdirMode(join(root, d), 0o700);
  for (const d of ['aufs', 'aufs/diff', 'aufs/layers', 'aufs/mnt']) mkdirMode(join(root, d), 0o755);
  mkdirMode(tarsDir, 0o755);

  const layers: Record<string, BuiltLayer> = {};
  for (const l of spec.layers) layers[l.id] = buildLayer(ctx, l);
  const tags = writeRepositories(ctx);
  for (const c of spec.containers ?? []) buildContainer(ctx, c);
  for (const t of spec.graphTmp ?? []) mkdirMode(join(root, 'graph', '_tmp', t), 0o700);
  const specs = new Map(spec.layers.map((l) => [l.id, l]));
  for (const d of spec.damage ?? []) applyDamage(ctx, d, layers, specs);
  stampTimes(ctx, spec.mtime ?? DEFAULT_HOST_MTIME);

  return { root, tarsDir, asRoot, layers, tags, containers: (spec.containers ?? []).map((c) => c.id), skipped: ctx.skipped };
}

/** Reads a spec from fixtures/hosts/*.json or fixtures/demo/*.json. */
export function loadHostSpec(path: string): HostSpec {
  return JSON.parse(readFileSync(path, 'utf8')) as HostSpec;
}

/** The structural chain of an image, top first (the image itself, then its ancestors). */
export function imageChain(spec: HostSpec, imageId: string): LayerSpec[] {
  const byId = new Map(spec.layers.map((l) => [l.id, l]));
  const chain: LayerSpec[] = [];
  for (let id: string | undefined = imageId; id; id = byId.get(id)?.parent) {
    const l = byId.get(id);
    if (!l) throw new Error(`layer ${id} is not in spec ${spec.name}`);
    if (chain.includes(l)) throw new Error(`cycle at ${id}`);
    chain.push(l);
  }
  return chain;
}

/** Default entry mtime of a layer (what layerEntries needs besides the entries). */
export function layerEnv(spec: HostSpec, layer: LayerSpec, asRoot: boolean): EntryEnv {
  return { asRoot, defaultMtime: layer.mtime ?? spec.layerMtime ?? DEFAULT_LAYER_MTIME };
}

const entriesCache = new WeakMap<HostSpec, Map<string, { entries: LayerEntry[]; skipped: string[] }>>();

/**
 * A spec layer's physical entries, implicit parent dirs taking their mode and owner from the
 * nearest lower layer that has the directory. The one way builder, merged-tree and tests read a layer.
 */
export function specLayerEntries(spec: HostSpec, layer: LayerSpec, asRoot: boolean): { entries: LayerEntry[]; skipped: string[] } {
  let cache = entriesCache.get(spec);
  if (!cache) entriesCache.set(spec, (cache = new Map()));
  const key = `${layer.id}:${asRoot}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const byId = new Map(spec.layers.map((l) => [l.id, l]));
  const lowerDir: LowerDirLookup = (dir) => {
    for (let id = layer.parent; id; id = byId.get(id)?.parent) {
      const found = specLayerEntries(spec, byId.get(id)!, asRoot).entries.find((e) => e.kind === 'dir' && e.name.equals(dir));
      if (found) return found;
    }
    return undefined;
  };
  const result = layerEntries(layer.entries, layerEnv(spec, layer, asRoot), layer.parentDirs ?? true, lowerDir);
  cache.set(key, result);
  return result;
}
