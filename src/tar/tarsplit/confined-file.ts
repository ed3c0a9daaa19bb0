// Opening the files a tar-split stream names, without ever leaving the layer's diff dir.
// Names are bytes from the metadata and are not trusted: '..' and absolute names are refused,
// every directory on the way must be listed as a real directory (a symlinked one is refused, it
// could point anywhere), the file itself must be listed as a regular file (a FIFO or device is
// never opened), and it is opened with O_NOFOLLOW|O_NONBLOCK so a swap after the listing cannot
// block or follow a link. The source root is an offline copy; a swap in between is not re-checked.
import { closeSync, constants as fsc, fstatSync, lstatSync, openSync, readdirSync, type Dirent, type Stats } from 'node:fs';
import { displayName } from '../sink.js';
import { TarSplitUnusableError } from './unusable.js';

const SLASH = 0x2f;

/** Split a raw name into components, dropping '' and '.'; null when it has '..' or is absolute. */
export function nameComponents(name: Buffer): { parts: Buffer[]; problem?: 'absolute' | 'dotdot' | 'empty' } {
  if (name.length > 0 && name[0] === SLASH) return { parts: [], problem: 'absolute' };
  const parts: Buffer[] = [];
  let start = 0;
  for (let i = 0; i <= name.length; i++) {
    if (i === name.length || name[i] === SLASH) {
      const part = name.subarray(start, i);
      start = i + 1;
      if (part.length === 0 || (part.length === 1 && part[0] === 0x2e)) continue;
      if (part.length === 2 && part[0] === 0x2e && part[1] === 0x2e) return { parts: [], problem: 'dotdot' };
      parts.push(part);
    }
  }
  if (parts.length === 0) return { parts, problem: 'empty' };
  return { parts };
}

/**
 * Go's filepath.Clean of a raw name, as a latin1 string key: tar-split refuses two file entries
 * whose cleaned names are equal (ErrDuplicatePath), so do we.
 */
export function cleanNameKey(name: Buffer): string {
  const clean = cleanLength(name);
  if (clean >= 0) return name.toString('latin1', 0, clean);
  const rooted = name.length > 0 && name[0] === SLASH;
  const out: string[] = [];
  for (const part of name.toString('latin1').split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(part);
  }
  const joined = out.join('/');
  return rooted ? '/' + joined : joined || '.';
}

/**
 * Most names are clean already (relative, no '', '.' or '..' component, at most a trailing
 * '/'): then their cleaned form is the name itself without the slash. Returns that length, or
 * -1 when the name needs the full cleaning.
 */
export function cleanLength(name: Buffer): number {
  const n = name.length;
  let start = 0;
  let clean = n > 0 && name[0] !== SLASH;
  for (let i = 0; clean && i <= n; i++) {
    if (i < n && name[i] !== SLASH) continue;
    const len = i - start;
    if (len === 0) clean = i === n && n > 0; // only the end after a trailing '/'
    else if (name[start] === 0x2e && (len === 1 || (len === 2 && name[start + 1] === 0x2e))) clean = false;
    start = i + 1;
  }
  if (!clean) return -1;
  return name[n - 1] === SLASH ? n - 1 : n;
}

export interface OpenedFile {
  fd: number;
  size: number;
}

type Kind = 'file' | 'dir' | 'symlink' | 'other';

/** Directory listings kept at once (tar order walks one directory at a time, so few are needed). */
const MAX_LISTINGS = 64;
/** A directory with more entries than this is not cached: its files are lstat'ed one by one. */
const MAX_LISTED_ENTRIES = 100_000;

/** A checked directory of the layer: the path prefix of its files and its entries' kinds. */
interface DirState {
  /** the raw directory part of the last name served from it (for the same-directory fast path) */
  rawDir: Buffer;
  /** diff dir + '/' + cleaned directory path + '/' */
  prefix: Buffer;
  /** latin1 key of the cleaned directory path ('' = the diff dir) */
  key: string;
  /** the cleaned directory path itself (listed when first needed) */
  path: Buffer;
  /** its listing once looked up: the files of one directory come one after another in tar order */
  kinds: Map<string, Kind> | null | undefined;
}

const SLASH_BUFFER = Buffer.from('/');

/**
 * A directory's entries with their kinds (d_type). Names come as latin1 strings, one char per
 * byte, the keys kindIn looks up: no Buffer per entry (on the layer of 50,000 small files the
 * listings take half the time). On a filesystem that leaves d_type unknown (ext4 without
 * filetype, XFS ftype=0, some NFS/FUSE) Node lstats each entry and, on Node 20, can only join
 * Buffer names to a Buffer path: that listing throws (a TypeError). Any failure of the latin1
 * listing is retried with Buffer names, which Node joins byte for byte; the retry's own error,
 * if any, is the directory's (a Node that joined latin1 names some other way and so lstat'ed
 * a wrong path gets the right listing this way too).
 */
function listWithKinds(dirPath: Buffer): Array<Dirent<string> | Dirent<Buffer>> {
  try {
    return readdirSync(dirPath, { withFileTypes: true, encoding: 'latin1' });
  } catch {
    return readdirSync(dirPath, { withFileTypes: true, encoding: 'buffer' });
  }
}

/**
 * Opens regular files named by tar-split entries inside one diff dir.
 *
 * Types come from directory listings (one getdents per directory, d_type) rather than one lstat
 * per file: on a layer of 50,000 small files the lstat calls cost more than reading the data.
 * The listing is a snapshot like an lstat is; the open itself still refuses symlinks
 * (O_NOFOLLOW) and never blocks (O_NONBLOCK).
 *
 * tar order names the files of one directory one after the other, so the directory of the
 * previous name is remembered: the next name in it costs one byte comparison, one map lookup
 * and the open.
 */
export class ConfinedFileOpener {
  private readonly root: Buffer;
  /** relative directory paths (latin1) already checked to be real directories, not symlinks */
  private readonly checkedDirs = new Set<string>();
  /** relative dir path (latin1, '' = the diff dir) → its entries' kinds; null = too big to cache */
  private readonly listings = new Map<string, Map<string, Kind> | null>();
  private lastDir: DirState | null = null;

  /** `rootDir`: the diff dir, already resolved (a symlink at the top was followed by the caller). */
  constructor(rootDir: string) {
    this.root = Buffer.from(rootDir.replace(/\/+$/, '') || '/', 'utf8');
  }

  private path(parts: Buffer[], count: number): Buffer {
    const pieces: Buffer[] = [this.root];
    for (let i = 0; i < count; i++) pieces.push(SLASH_BUFFER, parts[i]);
    return Buffer.concat(pieces);
  }

  private lstatOrRefuse(path: Buffer, name: Buffer): Stats | undefined {
    try {
      return lstatSync(path, { throwIfNoEntry: false });
    } catch (err) {
      throw new TarSplitUnusableError(`cannot stat the path of ${displayName(name)} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  }

  private listing(dirKey: string, dirPath: Buffer, name: Buffer): Map<string, Kind> | null {
    const cached = this.listings.get(dirKey);
    if (cached !== undefined) {
      // most recently used last, so eviction drops the directories tar order has left
      this.listings.delete(dirKey);
      this.listings.set(dirKey, cached);
      return cached;
    }
    let entries: Array<Dirent<string> | Dirent<Buffer>>;
    try {
      entries = listWithKinds(dirPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map(); // every name in it is missing
      // EACCES (an unsearchable dir), ENAMETOOLONG, ELOOP, ENOTDIR: the name cannot be served
      // from this dir, so the tar-split data is unusable here; regeneration then reports the
      // same obstacle, if it is one, as a read error naming the path.
      throw new TarSplitUnusableError(`cannot list the directory of ${displayName(name)} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    let kinds: Map<string, Kind> | null = null;
    if (entries.length <= MAX_LISTED_ENTRIES) {
      kinds = new Map();
      for (const e of entries) {
        kinds.set(typeof e.name === 'string' ? e.name : e.name.toString('latin1'), e.isFile() ? 'file' : e.isDirectory() ? 'dir' : e.isSymbolicLink() ? 'symlink' : 'other');
      }
    }
    if (this.listings.size >= MAX_LISTINGS) this.listings.delete(this.listings.keys().next().value!);
    this.listings.set(dirKey, kinds);
    return kinds;
  }

  /** The kind of `base` in a checked directory, or undefined when it does not exist. */
  private kindIn(dir: DirState, base: Buffer, name: Buffer): Kind | undefined {
    let kinds = dir.kinds;
    if (kinds === undefined) kinds = dir.kinds = this.listing(dir.key, dir.path, name);
    if (kinds) return kinds.get(base.toString('latin1', 0, base.length));
    const st = this.lstatOrRefuse(Buffer.concat([dir.prefix, base]), name);
    if (!st) return undefined;
    return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  }

  /** Check every directory on the way to `parts[count-1]`'s parent and return the parent's state. */
  private dirOf(name: Buffer, parts: Buffer[], rawDir: Buffer): DirState {
    const shown = displayName(name);
    let key = '';
    let dir: DirState = { rawDir, prefix: Buffer.concat([this.root, SLASH_BUFFER]), key: '', path: this.root, kinds: undefined };
    for (let i = 0; i < parts.length - 1; i++) {
      key = i === 0 ? parts[0].toString('latin1', 0, parts[0].length) : key + '/' + parts[i].toString('latin1', 0, parts[i].length);
      if (!this.checkedDirs.has(key)) {
        const kind = this.kindIn(dir, parts[i], name);
        if (kind === undefined) throw new TarSplitUnusableError(`missing file ${shown}`);
        if (kind === 'symlink') throw new TarSplitUnusableError(`symlinked directory in the path of ${shown}`);
        if (kind !== 'dir') throw new TarSplitUnusableError(`not a directory in the path of ${shown}`);
        this.checkedDirs.add(key);
      }
      const path = this.path(parts, i + 1);
      dir = { rawDir, prefix: Buffer.concat([path, SLASH_BUFFER]), key, path, kinds: undefined };
    }
    return dir;
  }

  /**
   * Open `name` for reading. Its kind is known from the directory listing to be a regular file,
   * and it is not fstat'ed: the caller reads exactly the recorded size plus one byte, which
   * catches a changed size, and a non-file swapped in after the listing fails or mismatches on
   * read. Throws TarSplitUnusableError with the reason when it is not a plain regular file inside
   * the dir.
   */
  openUnchecked(name: Buffer): number {
    const last = name.lastIndexOf(0x2f);
    const rawDir = last < 0 ? name.subarray(0, 0) : name.subarray(0, last);
    const base = name.subarray(last + 1);
    let dir = this.lastDir;
    // same directory as the previous name, and a plain final component: no re-check needed
    const plainBase = base.length > 0 && !(base[0] === 0x2e && (base.length === 1 || (base.length === 2 && base[1] === 0x2e)));
    if (dir === null || !plainBase || !dir.rawDir.equals(rawDir)) {
      const shown = displayName(name);
      const { parts, problem } = nameComponents(name);
      if (problem === 'absolute') throw new TarSplitUnusableError(`absolute name ${shown}`);
      if (problem === 'dotdot') throw new TarSplitUnusableError(`name ${shown} leaves the layer ('..')`);
      if (problem === 'empty') throw new TarSplitUnusableError(`empty name for a file with data`);
      dir = this.dirOf(name, parts, Buffer.from(rawDir));
      // a name ending in '/' or '.' names its directory itself, never a regular file
      if (!plainBase) throw new TarSplitUnusableError(`${shown} is not a regular file`);
      this.lastDir = dir;
    }

    const kind = this.kindIn(dir, base, name);
    if (kind !== 'file') {
      const shown = displayName(name);
      if (kind === undefined) throw new TarSplitUnusableError(`missing file ${shown}`);
      if (kind === 'symlink') throw new TarSplitUnusableError(`${shown} is a symlink, not a regular file`);
      throw new TarSplitUnusableError(`${shown} is not a regular file`);
    }
    try {
      return openSync(Buffer.concat([dir.prefix, base]), fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY);
    } catch (err) {
      throw new TarSplitUnusableError(`cannot open ${displayName(name)} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  }

  /** Open `name` for reading and fstat it; throws TarSplitUnusableError when it is not a plain regular file inside the dir. */
  open(name: Buffer): OpenedFile {
    const fd = this.openUnchecked(name);
    const fst = fstatSync(fd);
    if (!fst.isFile()) {
      closeSync(fd);
      throw new TarSplitUnusableError(`${displayName(name)} changed while being opened`);
    }
    return { fd, size: fst.size };
  }
}
