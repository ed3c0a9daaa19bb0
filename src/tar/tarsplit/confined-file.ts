// Opening the files a tar-split stream names, without ever leaving the layer's diff dir.
// Names are bytes from the metadata and are not trusted: '..' and absolute names are refused,
// every directory on the way is lstat'ed (a symlinked directory is refused, it could point
// anywhere), the file itself must be a regular file (a FIFO or device is never opened), and it is
// opened with O_NOFOLLOW|O_NONBLOCK so a swap after the lstat cannot block or follow a link.
// The source root is an offline copy; the check-then-open window is closed by comparing dev/ino.
import { closeSync, constants as fsc, fstatSync, lstatSync, openSync, readdirSync, type Stats } from 'node:fs';
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

export interface OpenedFile {
  fd: number;
  size: number;
}

type Kind = 'file' | 'dir' | 'symlink' | 'other';

/** Directory listings kept at once (tar order walks one directory at a time, so few are needed). */
const MAX_LISTINGS = 64;
/** A directory with more entries than this is not cached: its files are lstat'ed one by one. */
const MAX_LISTED_ENTRIES = 100_000;

/**
 * Opens regular files named by tar-split entries inside one diff dir.
 *
 * Types come from directory listings (one getdents per directory, d_type) rather than one lstat
 * per file: on a layer of 50,000 small files the lstat calls cost more than reading the data.
 * The listing is a snapshot like an lstat is; the open itself still refuses symlinks
 * (O_NOFOLLOW), never blocks (O_NONBLOCK), and fstat must show a regular file.
 */
export class ConfinedFileOpener {
  private readonly root: Buffer;
  /** relative directory paths (latin1) already checked to be real directories, not symlinks */
  private readonly checkedDirs = new Set<string>();
  /** relative dir path (latin1, '' = the diff dir) → its entries' kinds; null = too big to cache */
  private readonly listings = new Map<string, Map<string, Kind> | null>();

  /** `rootDir`: the diff dir, already resolved (a symlink at the top was followed by the caller). */
  constructor(rootDir: string) {
    this.root = Buffer.from(rootDir.replace(/\/+$/, '') || '/', 'utf8');
  }

  private path(parts: Buffer[], count: number): Buffer {
    const pieces: Buffer[] = [this.root];
    for (let i = 0; i < count; i++) pieces.push(Buffer.from('/'), parts[i]);
    return Buffer.concat(pieces);
  }

  private lstatOrRefuse(path: Buffer, shown: string): Stats | undefined {
    try {
      return lstatSync(path, { throwIfNoEntry: false });
    } catch (err) {
      throw new TarSplitUnusableError(`cannot stat the path of ${shown} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
  }

  private listing(dirKey: string, dirPath: Buffer, shown: string): Map<string, Kind> | null {
    const cached = this.listings.get(dirKey);
    if (cached !== undefined) return cached;
    let entries;
    try {
      entries = readdirSync(dirPath, { withFileTypes: true, encoding: 'buffer' });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new Map(); // every name in it is missing
      // EACCES (an unsearchable dir), ENAMETOOLONG, ELOOP, ENOTDIR: the name cannot be served
      // from this dir, so the tar-split data is unusable here; regeneration then reports the
      // same obstacle, if it is one, as a read error naming the path.
      throw new TarSplitUnusableError(`cannot list the directory of ${shown} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    let kinds: Map<string, Kind> | null = null;
    if (entries.length <= MAX_LISTED_ENTRIES) {
      kinds = new Map();
      for (const e of entries) {
        kinds.set(e.name.toString('latin1'), e.isFile() ? 'file' : e.isDirectory() ? 'dir' : e.isSymbolicLink() ? 'symlink' : 'other');
      }
    }
    if (this.listings.size >= MAX_LISTINGS) this.listings.delete(this.listings.keys().next().value!);
    this.listings.set(dirKey, kinds);
    return kinds;
  }

  /** The kind of the entry made of the first `count` parts, or undefined when it does not exist. */
  private kindOf(parts: Buffer[], count: number, parentKey: string, shown: string): Kind | undefined {
    const kinds = this.listing(parentKey, this.path(parts, count - 1), shown);
    if (kinds) return kinds.get(parts[count - 1].toString('latin1'));
    const st = this.lstatOrRefuse(this.path(parts, count), shown);
    if (!st) return undefined;
    return st.isFile() ? 'file' : st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : 'other';
  }

  /** Open `name` for reading; throws TarSplitUnusableError with the reason when it is not a plain regular file inside the dir. */
  open(name: Buffer): OpenedFile {
    const shown = displayName(name);
    const { parts, problem } = nameComponents(name);
    if (problem === 'absolute') throw new TarSplitUnusableError(`absolute name ${shown}`);
    if (problem === 'dotdot') throw new TarSplitUnusableError(`name ${shown} leaves the layer ('..')`);
    if (problem === 'empty') throw new TarSplitUnusableError(`empty name for a file with data`);

    let key = '';
    for (let i = 0; i < parts.length - 1; i++) {
      const parentKey = key;
      key = i === 0 ? parts[0].toString('latin1') : key + '/' + parts[i].toString('latin1');
      if (this.checkedDirs.has(key)) continue;
      const kind = this.kindOf(parts, i + 1, parentKey, shown);
      if (kind === undefined) throw new TarSplitUnusableError(`missing file ${shown}`);
      if (kind === 'symlink') throw new TarSplitUnusableError(`symlinked directory in the path of ${shown}`);
      if (kind !== 'dir') throw new TarSplitUnusableError(`not a directory in the path of ${shown}`);
      this.checkedDirs.add(key);
    }

    const kind = this.kindOf(parts, parts.length, key, shown);
    if (kind === undefined) throw new TarSplitUnusableError(`missing file ${shown}`);
    if (kind === 'symlink') throw new TarSplitUnusableError(`${shown} is a symlink, not a regular file`);
    if (kind !== 'file') throw new TarSplitUnusableError(`${shown} is not a regular file`);

    const full = this.path(parts, parts.length);
    let fd: number;
    try {
      fd = openSync(full, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY);
    } catch (err) {
      throw new TarSplitUnusableError(`cannot open ${shown} (${(err as NodeJS.ErrnoException).code ?? err})`);
    }
    const fst = fstatSync(fd);
    if (!fst.isFile()) {
      closeSync(fd);
      throw new TarSplitUnusableError(`${shown} changed while being opened`);
    }
    return { fd, size: fst.size };
  }
}
