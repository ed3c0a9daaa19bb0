// Reader for the pre-1.10 "graph" store with the aufs driver (legacy-formats.md §1–2.1, §8).
// Reads only; synchronous fs because it touches many tiny files and nothing else runs meanwhile.

import { closeSync, fstatSync, lstatSync, openSync, readSync, readdirSync, realpathSync, constants as fsc } from 'node:fs';
import { join, sep } from 'node:path';
import { ID_RE, INIT_LAYER_RE } from '../ids.js';
import type { LegacyLayer, Problem, TagRecord, ContainerLayers } from './types.js';
import { MAX_JSON_BYTES, parseJsonObject, readV1Fields, parentIdHex } from './v1-json.js';
import { normalizeRepository, isValidTag } from './refs.js';
import { locateDriverLayer } from './drivers.js';

const SMALL_FILE_LIMIT = 64 * 1024;

type ReadResult = { ok: true; bytes: Buffer } | { ok: false; problem: Problem | null };

function errnoCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? 'EIO';
}

/** One thread's buffer for small files whose size is not known before reading (see readSmallFile). */
let scratch: Buffer | null = null;
const SCRATCH_BYTES = 64 * 1024;

/**
 * Read a small regular file without following a symlink and without opening anything else: the
 * type is checked with lstat before the open (a device node named `json` or `cache-id` in a
 * crafted root must never be opened: a tape rewinds, a watchdog arms), the open adds O_NOFOLLOW,
 * O_NONBLOCK and O_NOCTTY. Missing files give `{ok:false, problem:null}`; anything else a problem.
 *
 * `known`: the kind a directory listing gave (d_type) instead of the lstat. The file's size is
 * then found by reading into a scratch buffer (a regular file reads short only at its end); a
 * full buffer falls back to fstat and the sized read. aufs/layers/<id> is read so, from the one
 * listing of aufs/layers: on a root of 20,000 layers 20,000 lstat calls fewer, at ~6 µs each
 * through Node's fs binding the dearest call `ls` makes. The listing is older than an lstat
 * would be (made before the layers are read, as ConfinedFileOpener's are for the diff dirs):
 * the roots read are offline copies, and a file swapped for a FIFO or device meanwhile still
 * meets O_NOFOLLOW, O_NONBLOCK and O_NOCTTY.
 */
export function readSmallFile(path: string, limit: number, what: string, known?: EntryKind | 'absent'): ReadResult {
  return readSmall(path, limit, what, known, true);
}

type TextResult = { ok: true; text: string } | { ok: false; problem: Problem | null };

/**
 * readSmallFile for a file wanted as text (latin1: ids, sizes, checksums): read into this
 * thread's scratch buffer, no Buffer made per file (on a root of 20,000 layers, 60,000 fewer).
 */
export function readSmallText(path: string, limit: number, what: string, known?: EntryKind | 'absent'): TextResult {
  const r = readSmall(path, limit, what, known, false);
  return r.ok ? { ok: true, text: r.bytes.toString('latin1') } : r;
}

/** keep: false gives a view into the scratch buffer, valid until the next read */
function readSmall(path: string, limit: number, what: string, known: EntryKind | 'absent' | undefined, keep: boolean): ReadResult {
  const denied = (): ReadResult => ({ ok: false, problem: { code: 'E_PERMISSION', severity: 'error', message: `${path}: permission denied reading ${what}`, file: path } });
  const symlink = (): ReadResult => ({ ok: false, problem: { code: 'E_NOT_REGULAR', severity: 'error', message: `${path}: ${what} is a symlink`, file: path } });
  const notRegular = (): ReadResult => ({ ok: false, problem: { code: 'E_NOT_REGULAR', severity: 'error', message: `${path}: ${what} is not a regular file`, file: path } });
  const tooLarge = (size: number): ReadResult => ({ ok: false, problem: { code: 'E_FILE_TOO_LARGE', severity: 'error', message: `${path}: ${what} is ${size} bytes (limit ${limit})`, file: path } });
  /** from lstat; null: not known before reading (a listing gave the kind) */
  let size: number | null = null;
  if (known !== undefined) {
    if (known === 'absent') return { ok: false, problem: null };
    if (known === 'symlink') return symlink();
    if (known !== 'file') return notRegular();
  } else {
    let st;
    try {
      st = lstatSync(path, { throwIfNoEntry: false });
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOTDIR') return { ok: false, problem: null };
      if (code === 'EACCES' || code === 'EPERM') return denied();
      return { ok: false, problem: { code: 'E_UNREADABLE', severity: 'error', message: `${path}: cannot stat ${what} (${code})`, file: path } };
    }
    if (!st) return { ok: false, problem: null };
    if (st.isSymbolicLink()) return symlink();
    if (!st.isFile()) return notRegular();
    if (st.size > limit) return tooLarge(st.size);
    size = st.size;
  }
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') return { ok: false, problem: null };
    if (code === 'ELOOP') return symlink();
    if (code === 'EACCES' || code === 'EPERM') return denied();
    return { ok: false, problem: { code: 'E_UNREADABLE', severity: 'error', message: `${path}: cannot open ${what} (${code})`, file: path } };
  }
  try {
    scratch ??= Buffer.allocUnsafeSlow(SCRATCH_BYTES);
    if (size === null) {
      const n = readSync(fd, scratch, 0, SCRATCH_BYTES, 0);
      if (n < SCRATCH_BYTES) {
        if (n > limit) return tooLarge(n);
        if (!keep) return { ok: true, bytes: scratch.subarray(0, n) };
        // a Buffer of its own, as the sized read gives: records outlive the scratch and are sent
        // between threads, where a view into a shared pool would take the whole pool along
        const bytes = Buffer.allocUnsafeSlow(n);
        scratch.copy(bytes, 0, 0, n);
        return { ok: true, bytes };
      }
      const st = fstatSync(fd);
      if (!st.isFile()) return notRegular();
      if (st.size > limit) return tooLarge(st.size);
      size = st.size;
    }
    // the size bounds the read; a file that grew since is read only that far
    const buf = !keep && size <= SCRATCH_BYTES ? scratch.subarray(0, size) : Buffer.alloc(size);
    let off = 0;
    while (off < buf.length) {
      const n = readSync(fd, buf, off, buf.length - off, off);
      if (n === 0) break;
      off += n;
    }
    return { ok: true, bytes: buf.subarray(0, off) };
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'EACCES' || code === 'EPERM') return denied();
    // a directory swapped in after the listing said "file"
    if (code === 'EISDIR' && known !== undefined) return notRegular();
    return { ok: false, problem: { code: 'E_UNREADABLE', severity: 'error', message: `${path}: cannot read ${what} (${code})`, file: path } };
  } finally {
    closeSync(fd);
  }
}

function listDir(path: string, problems: Problem[], what: string): string[] {
  try {
    return readdirSync(path).sort();
  } catch (err) {
    const code = errnoCode(err);
    if (code !== 'ENOENT') {
      problems.push({ code: code === 'EACCES' ? 'E_PERMISSION' : 'E_UNREADABLE', severity: 'error', message: `${path}: cannot list ${what} (${code})`, file: path });
    }
    return [];
  }
}

function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

/** What a directory listing says an entry is (d_type: no stat per entry). */
export type EntryKind = 'file' | 'dir' | 'symlink' | 'other';

/**
 * The kinds of a directory's entries from one listing, or null when it cannot be listed (the
 * per-entry reads then find out and report why). On a root of 20,000 layers this saves two
 * lstat calls per layer, a tenth of what `ls` spends in the kernel.
 */
export function listKinds(dir: string): Map<string, EntryKind> | null {
  try {
    const kinds = new Map<string, EntryKind>();
    for (const e of readdirSync(dir, { withFileTypes: true })) kinds.set(e.name, e.isFile() ? 'file' : e.isDirectory() ? 'dir' : e.isSymbolicLink() ? 'symlink' : 'other');
    return kinds;
  } catch {
    return null;
  }
}

/** Listings of graph/ and the driver's layer dir, when available (see listKinds). */
export interface LayerHints {
  graph: Map<string, EntryKind> | null;
  diff: Map<string, EntryKind> | null;
  /** aufs/layers/ (absent: not listed) */
  layers?: Map<string, EntryKind> | null;
}

/** aufs/diff/<id>: a directory, or (pre-0.7 migration) a symlink to one inside the root. */
function locateDiffDir(root: string, realRoot: string, id: string, problems: Problem[], kind?: EntryKind): string | null {
  const p = join(root, 'aufs', 'diff', id);
  if (kind === 'dir') return p;
  let st;
  try {
    st = lstatSync(p);
  } catch (err) {
    const code = errnoCode(err);
    problems.push(code === 'ENOENT'
      ? { code: 'E_DIFF_MISSING', severity: 'error', message: `${p}: layer diff directory is missing`, file: p }
      : { code: 'E_UNREADABLE', severity: 'error', message: `${p}: cannot stat diff directory (${code})`, file: p });
    return null;
  }
  if (st.isDirectory()) return p;
  if (st.isSymbolicLink()) {
    // legacy-formats.md §8 item 29: follow it only at the top, and only to a directory inside the root.
    try {
      const target = realpathSync(p);
      if (!isInside(realRoot, target)) {
        problems.push({ code: 'E_DIFF_OUTSIDE_ROOT', severity: 'error', message: `${p}: diff directory is a symlink leading outside the root (${target})`, file: p });
        return null;
      }
      if (!lstatSync(target).isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
      return target;
    } catch (err) {
      problems.push({ code: 'E_DIFF_MISSING', severity: 'error', message: `${p}: diff directory symlink is dangling or loops (${errnoCode(err)})`, file: p });
      return null;
    }
  }
  problems.push({ code: 'E_DIFF_MISSING', severity: 'error', message: `${p}: layer diff is not a directory`, file: p });
  return null;
}

/** aufs/layers text as Docker wrote it: one id (or `<id>-init`) and a newline per ancestor. */
const AUFS_LAYERS_RE = /^(?:[a-f0-9]{64}(?:-init)?\n)*$/;

/**
 * aufs/layers/<id>: ancestors nearest first, one per line; an empty file for a base layer. The
 * text is kept, one line and one newline per ancestor (see aufsAncestorIds): on a root of
 * 20,000 layers ~225,000 id strings fewer to make, keep and copy between threads. Blank lines
 * and a missing last newline are tolerated and normalised away.
 */
export function readAufsAncestors(root: string, name: string, problems: Problem[], listing?: Map<string, EntryKind> | null): string | null {
  const p = join(root, 'aufs', 'layers', name);
  const r = readSmallText(p, 4 * 1024 * 1024, 'aufs layers file', listing ? listing.get(name) ?? 'absent' : undefined);
  if (!r.ok) {
    problems.push(r.problem ?? { code: 'E_AUFS_LAYERS_MISSING', severity: 'error', message: `${p}: missing (Docker did not list this image either)`, file: p });
    return null;
  }
  const text = r.text;
  if (AUFS_LAYERS_RE.test(text)) return text;
  const lines = text.split('\n').filter((l) => l !== '');
  const bad = lines.find((l) => !ID_RE.test(l) && !INIT_LAYER_RE.test(l));
  if (bad !== undefined) {
    problems.push({ code: 'E_BAD_ID', severity: 'error', message: `${p}: invalid layer id ${JSON.stringify(bad.slice(0, 80))}`, file: p });
    return null;
  }
  return lines.map((l) => `${l}\n`).join('');
}

/** The ids of an aufs/layers text kept by readAufsAncestors, nearest first. */
export function aufsAncestorIds(text: string): string[] {
  return text === '' ? [] : text.slice(0, -1).split('\n');
}

/**
 * graph/<id> must be a directory of the root. Docker never made it a symlink; one that leads out
 * of the root (a crafted or mis-copied root) is not followed: nothing under it is read.
 */
function graphDirProblem(dir: string, realRoot: string): Problem | null {
  let st;
  try {
    st = lstatSync(dir);
  } catch {
    return null; // vanished or unreadable: the reads below report it
  }
  if (!st.isSymbolicLink()) return null;
  let target: string;
  try {
    target = realpathSync(dir);
  } catch (err) {
    return { code: 'E_NOT_REGULAR', severity: 'error', message: `${dir}: image directory is a dangling or looping symlink (${errnoCode(err)})`, file: dir };
  }
  if (!isInside(realRoot, target)) {
    return { code: 'E_OUTSIDE_ROOT', severity: 'error', message: `${dir}: image directory is a symlink leading outside the root (${target}); not read`, file: dir };
  }
  return null;
}

/** Read one graph/<id> entry into a record. Never throws for bad content: problems are recorded. */
export function readLayer(root: string, realRoot: string, id: string, driver = 'aufs', hints?: LayerHints): LegacyLayer {
  const problems: Problem[] = [];
  const dir = join(root, 'graph', id);
  // dir is normalised (join) and id is 64 hex: appending a name gives what join would, cheaper
  // (path.join was ~4 % of a profile of `ls` on 20,000 layers)
  const layer: LegacyLayer = {
    id, json: null, parent: null, parentSource: null, created: null, dockerVersion: null,
    layerSize: null, checksum: null, diffDir: null, tarDataPath: null, tarDataSize: 0, aufsAncestors: null, problems,
  };
  // a plain directory in the listing cannot lead outside the root: no lstat needed
  const outside = hints?.graph?.get(id) === 'dir' ? null : graphDirProblem(dir, realRoot);
  if (outside) {
    problems.push(outside);
    return layer;
  }
  // (The files inside are lstat'ed one by one: listing graph/<id> instead costs more, ~23 µs
  // per directory through Node's readdir against ~6 µs per lstat, measured on 20,000 layers.)

  const jsonPath = `${dir}/json`;
  const jr = readSmallFile(jsonPath, MAX_JSON_BYTES, 'image json');
  let jsonParent: string | null = null;
  let jsonParentId: string | null = null;
  if (!jr.ok) {
    problems.push(jr.problem ?? { code: 'E_JSON_MISSING', severity: 'error', message: `${jsonPath}: image json is missing`, file: jsonPath });
  } else {
    layer.json = jr.bytes;
    try {
      const obj = parseJsonObject(jr.bytes);
      const f = readV1Fields(obj);
      layer.created = f.created;
      layer.dockerVersion = f.dockerVersion;
      jsonParent = f.parent;
      jsonParentId = f.parentId;
      if (f.id !== null && f.id !== '' && f.id !== id) {
        problems.push({ code: 'W_ID_MISMATCH', severity: 'warning', message: `${jsonPath}: json id ${f.id.slice(0, 80)} differs from the directory name (the directory name is used, as Docker 1.10 did)`, file: jsonPath });
      }
    } catch (err) {
      problems.push({ code: 'E_JSON_INVALID', severity: 'error', message: `${jsonPath}: invalid JSON (${(err as Error).message})`, file: jsonPath });
    }
  }

  // Parent precedence (§1.11): graph/<id>/parent file, then json parent, then parent_id.
  const parentFile = `${dir}/parent`;
  const pr = readSmallText(parentFile, 1024, 'parent file');
  const parentFromFile = pr.ok ? pr.text.trim() : '';
  if (!pr.ok && pr.problem) problems.push(pr.problem);
  let parent: string | null = null;
  if (parentFromFile !== '') {
    parent = parentFromFile;
    layer.parentSource = 'parent-file';
  } else if (jsonParent) {
    parent = jsonParent;
    layer.parentSource = 'json-parent';
  } else if (jsonParentId) {
    parent = parentIdHex(jsonParentId);
    layer.parentSource = 'json-parent_id';
    if (parent === null) problems.push({ code: 'E_BAD_ID', severity: 'error', message: `${jsonPath}: invalid parent_id ${JSON.stringify(jsonParentId.slice(0, 80))}`, file: jsonPath });
  }
  if (parent !== null && !ID_RE.test(parent)) {
    const file = layer.parentSource === 'parent-file' ? parentFile : jsonPath;
    problems.push({ code: 'E_BAD_ID', severity: 'error', message: `${file}: invalid parent id ${JSON.stringify(parent.slice(0, 80))}`, file });
    parent = null;
    layer.parentSource = null;
  }
  layer.parent = parent;

  const sr = readSmallText(`${dir}/layersize`, SMALL_FILE_LIMIT, 'layersize');
  if (sr.ok) {
    const text = sr.text.trim();
    if (/^\d{1,15}$/.test(text)) layer.layerSize = Number(text);
  }
  const cr = readSmallText(`${dir}/checksum`, SMALL_FILE_LIMIT, 'checksum');
  if (cr.ok) layer.checksum = cr.text.trim() || null;

  locateTarSplitFile(`${dir}/tar-data.json.gz`, layer);
  if (driver === 'aufs') {
    layer.diffDir = locateDiffDir(root, realRoot, id, problems, hints?.diff?.get(id));
    layer.aufsAncestors = readAufsAncestors(root, id, problems, hints?.layers);
  } else {
    // vfs, btrfs, overlay v1: the driver dir holds the layer's full tree (or an overlay upper);
    // the parent's tree is attached once every layer is read (naive diff, legacy-formats.md §2.7)
    layer.store = 'graph';
    layer.driver = driver;
    const located = locateDriverLayer(root, realRoot, driver, id, problems);
    if (located) {
      layer.diffDir = located.dir;
      layer.rules = located.rules;
    }
  }
  return layer;
}

/** the first two bytes of a tar-split file (the gzip magic), read on this thread */
const magic = Buffer.alloc(2);

/**
 * Tar-split metadata (graph/<id>/tar-data.json.gz, or a 1.10+ layer's tar-split.json.gz) must be
 * a regular gzip file; otherwise the layer is regenerated (a warning). `original` names what
 * the regenerated diffID will then differ from.
 */
export function locateTarSplitFile(p: string, layer: LegacyLayer, original = 'the original'): void {
  // never open what is not a regular file (see readSmallFile)
  let pre;
  try {
    pre = lstatSync(p, { throwIfNoEntry: false });
  } catch {
    pre = undefined; // the open below reports why
  }
  if (pre && !pre.isFile()) {
    layer.problems.push({ code: 'W_TAR_SPLIT_UNREADABLE', severity: 'warning', message: `${p}: not a regular gzip file; the layer will be regenerated`, file: p });
    return;
  }
  let fd: number;
  try {
    fd = openSync(p, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY);
  } catch (err) {
    const code = errnoCode(err);
    if (code === 'ENOENT') {
      layer.problems.push({ code: 'W_NO_TAR_SPLIT', severity: 'warning', message: `${p}: no tar-split data; the layer will be regenerated (its diffID will differ from ${original})`, file: p });
    } else {
      layer.problems.push({ code: 'W_TAR_SPLIT_UNREADABLE', severity: 'warning', message: `${p}: cannot open tar-split data (${code}); the layer will be regenerated`, file: p });
    }
    return;
  }
  try {
    const st = pre ?? fstatSync(fd); // lstat already saw a regular file: no second stat
    const n = st.isFile() ? readSync(fd, magic, 0, 2, 0) : 0;
    if (!st.isFile() || n < 2 || magic[0] !== 0x1f || magic[1] !== 0x8b) {
      layer.problems.push({ code: 'W_TAR_SPLIT_UNREADABLE', severity: 'warning', message: `${p}: not a gzip file; the layer will be regenerated`, file: p });
      return;
    }
    layer.tarDataPath = p;
    layer.tarDataSize = st.size;
  } catch (err) {
    layer.problems.push({ code: 'W_TAR_SPLIT_UNREADABLE', severity: 'warning', message: `${p}: cannot read tar-split data (${errnoCode(err)}); the layer will be regenerated`, file: p });
  } finally {
    closeSync(fd);
  }
}

/**
 * The `Repositories` object of a tag store file (repositories-<driver> or, 1.10+,
 * repositories.json), or null when the file is missing, unreadable or not such a document
 * (the problem is recorded; an absent or null `Repositories` is simply no tags).
 */
export function readRepositoriesObject(p: string, problems: Problem[]): Record<string, unknown> | null {
  const r = readSmallFile(p, 64 * 1024 * 1024, 'tag store');
  if (!r.ok) {
    if (r.problem) problems.push(r.problem);
    return null;
  }
  let doc: unknown;
  try {
    doc = JSON.parse(r.bytes.toString('utf8'));
  } catch (err) {
    problems.push({ code: 'E_JSON_INVALID', severity: 'error', message: `${p}: invalid JSON (${(err as Error).message}); no tags read`, file: p });
    return null;
  }
  const repos = doc && typeof doc === 'object' && Object.hasOwn(doc, 'Repositories') ? (doc as { Repositories: unknown }).Repositories : undefined;
  if (repos === null || repos === undefined) return null;
  if (typeof repos !== 'object' || Array.isArray(repos)) {
    problems.push({ code: 'E_JSON_INVALID', severity: 'error', message: `${p}: "Repositories" is not an object; no tags read`, file: p });
    return null;
  }
  return repos as Record<string, unknown>;
}

/** repositories-<driver>: {"Repositories":{name:{tag|digest: id}}} (§1.9). */
export function readRepositories(root: string, driver: string, problems: Problem[]): TagRecord[] {
  const p = join(root, `repositories-${driver}`);
  const repos = readRepositoriesObject(p, problems);
  if (!repos) return [];
  const out: TagRecord[] = [];
  const seen = new Map<string, string>();
  for (const rawName of Object.keys(repos).sort()) {
    const entries = (repos as Record<string, unknown>)[rawName];
    const repository = normalizeRepository(rawName);
    if (!repository) {
      problems.push({ code: 'W_BAD_REPOSITORY', severity: 'warning', message: `${p}: repository name ${JSON.stringify(rawName.slice(0, 100))} is invalid (Docker 1.10 dropped it too)`, file: p });
      continue;
    }
    if (!entries || typeof entries !== 'object' || Array.isArray(entries)) {
      problems.push({ code: 'W_BAD_REPOSITORY', severity: 'warning', message: `${p}: tags of ${rawName} are not an object`, file: p });
      continue;
    }
    for (const key of Object.keys(entries).sort()) {
      const id = (entries as Record<string, unknown>)[key];
      if (typeof id !== 'string' || !ID_RE.test(id)) {
        problems.push({ code: 'E_BAD_ID', severity: 'error', message: `${p}: ${rawName}:${key.slice(0, 100)} points at an invalid id ${JSON.stringify(String(id).slice(0, 80))}`, file: p });
        continue;
      }
      let rec: TagRecord;
      if (/^sha256:[a-f0-9]{64}$/.test(key)) rec = { repository, tag: null, digest: key, id, ref: `${repository}@${key}` };
      else if (isValidTag(key)) rec = { repository, tag: key, digest: null, id, ref: `${repository}:${key}` };
      else {
        problems.push({ code: 'W_BAD_TAG', severity: 'warning', message: `${p}: tag ${JSON.stringify(key.slice(0, 100))} of ${rawName} is invalid; ignored`, file: p });
        continue;
      }
      const prev = seen.get(rec.ref);
      if (prev !== undefined) {
        // `library/x:latest` and `x:latest` normalise to the same name: keep the first, say so.
        if (prev !== id) problems.push({ code: 'W_DUPLICATE_TAG', severity: 'warning', message: `${p}: ${rec.ref} is listed twice with different images; keeping ${prev.slice(0, 12)}`, file: p });
        continue;
      }
      seen.set(rec.ref, id);
      out.push(rec);
    }
  }
  return out;
}

/** Driver layers that are not graph images: containers (`<cid>` + `<cid>-init`) and leftovers. */
export function classifyDriverLayers(root: string, graphIds: Set<string>, problems: Problem[], diffListing?: Map<string, EntryKind> | null, layersListing?: Map<string, EntryKind> | null): { containers: ContainerLayers[]; orphans: string[] } {
  const names = new Set([
    ...(layersListing ? layersListing.keys() : listDir(join(root, 'aufs', 'layers'), problems, 'aufs layers')),
    // aufs/diff as readGraph already listed it (a root of 20,000 layers: ~25 ms a listing)
    ...(diffListing ? diffListing.keys() : listDir(join(root, 'aufs', 'diff'), problems, 'aufs diffs')),
  ]);
  const containers: ContainerLayers[] = [];
  const orphans: string[] = [];
  for (const name of [...names].sort()) {
    if (graphIds.has(name) || name.endsWith('-removing')) continue;
    if (INIT_LAYER_RE.test(name)) continue; // described with its container
    if (ID_RE.test(name) && names.has(`${name}-init`)) {
      const initText = readAufsAncestors(root, `${name}-init`, [], layersListing);
      const first = initText !== null ? aufsAncestorIds(initText)[0] : undefined;
      const image = first !== undefined && graphIds.has(first) ? first : null;
      containers.push({ id: name, hasInit: true, image });
    } else {
      orphans.push(name);
    }
  }
  return { containers, orphans };
}

/** graph/ entries: 64-hex ids only; `_tmp` and anything else are skipped (§1.7, §8 item 4). */
export function listGraphIds(root: string, problems: Problem[], listing?: Map<string, EntryKind> | null): string[] {
  const ids: string[] = [];
  // the names of a listing already made (listKinds), sorted as listDir sorts them
  for (const name of listing ? [...listing.keys()].sort() : listDir(join(root, 'graph'), problems, 'graph')) {
    if (ID_RE.test(name)) ids.push(name);
    else if (name !== '_tmp' && !name.startsWith('.')) {
      problems.push({ code: 'W_IGNORED_ENTRY', severity: 'warning', message: `${join(root, 'graph', name)}: not a 64-hex image id; ignored`, file: join(root, 'graph', name) });
    }
  }
  return ids;
}
