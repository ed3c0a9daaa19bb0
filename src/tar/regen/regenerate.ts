// Regenerating a layer tar from an aufs diff dir when there is no usable tar-split data.
// Deterministic: walk order (names sorted bytewise per directory, a directory before its
// contents), fixed PAX header name, sorted PAX records, empty uname/gname, whole-second mtimes,
// nothing from the clock or the pid. Sync fs throughout (this runs in a worker thread); file
// bodies are streamed through one reused buffer, so memory is flat whatever the file sizes.
import { closeSync, constants as fsc, fstatSync, lstatSync, openSync, readSync, readdirSync, readlinkSync, type BigIntStats } from 'node:fs';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';
import { LayerError } from '../../errors.js';
import { paddingFor } from '../header.js';
import { encodeEntryHeader, endOfArchive, type TarEntry } from '../entry-header.js';
import { displayName, type TarSink } from '../sink.js';
import { classifyAufsName } from './aufs-rules.js';
import { assertCanReadOpaque, isOverlayOpaque, isOverlayWhiteout, overlayOpaqueEntry, overlayWhiteoutEntry } from './overlay-rules.js';
import { xattrRule } from './xattr-policy.js';

export interface RegenerateInput {
  /** the layer's diff dir, resolved (realpath) by the caller */
  diffDir: string;
  /** reused read buffer; 1 MiB by default */
  readBuffer?: Buffer;
  /** read and keep xattrs per the policy table (default true) */
  xattrs?: boolean;
  /** recoverable oddities (skipped sockets, files that changed during the walk, dropped xattrs) */
  warn: (message: string) => void;
  /**
   * Special names and files of the dir (default aufs): `aufs` (aufs-rules.ts), `overlay`
   * (overlay-rules.ts: 0:0 char devices and opaque xattrs become OCI whiteouts), `plain` (none:
   * a full tree, e.g. the base layer of a naive-diff driver).
   */
  rules?: 'aufs' | 'overlay' | 'plain';
}

export interface RegenerateStats {
  entries: number;
  payloadBytes: number;
  tarBytes: number;
}

const SLASH = Buffer.from('/');
const DEFAULT_READ_BUFFER = 1024 * 1024;
const NS_PER_S = 1_000_000_000n;

/** Linux dev_t → major/minor (glibc gnu_dev_major/minor). */
export function splitDev(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

function wholeSeconds(st: BigIntStats): number {
  const ns = st.mtimeNs;
  // floor, also for times before 1970
  const s = ns >= 0n ? ns / NS_PER_S : -((-ns + NS_PER_S - 1n) / NS_PER_S);
  return Number(s);
}

export function baseFields(st: BigIntStats): Omit<TarEntry, 'type' | 'name'> {
  return {
    mode: Number(st.mode & 0o7777n),
    uid: Number(st.uid),
    gid: Number(st.gid),
    size: 0,
    mtime: wholeSeconds(st),
  };
}

export interface Frame {
  abs: Buffer;
  /** relative path of the directory with a trailing '/', empty for the layer root */
  rel: Buffer;
  names: Buffer[];
  next: number;
}

export class Walker {
  protected readonly sink: TarSink;
  protected readonly input: RegenerateInput;
  private readonly buf: Buffer;
  private readonly probe = Buffer.allocUnsafe(1);
  /** "dev:ino" of multiply-linked non-directories → the first path written (it carries the data) */
  private readonly firstLink = new Map<string, Buffer>();
  private readonly droppedXattrs = new Map<string, number>();
  private xattrSkippedNames = 0;
  private xattrErrors = 0;
  readonly stats: RegenerateStats = { entries: 0, payloadBytes: 0, tarBytes: 0 };

  constructor(input: RegenerateInput, sink: TarSink) {
    this.input = input;
    this.sink = sink;
    this.buf = input.readBuffer ?? Buffer.allocUnsafe(DEFAULT_READ_BUFFER);
  }

  protected async out(bytes: Buffer): Promise<void> {
    this.stats.tarBytes += bytes.length;
    const wait = this.sink.write(bytes);
    if (wait) await wait;
  }

  protected listDir(abs: Buffer, rel: Buffer): Buffer[] {
    let names: Buffer[];
    try {
      names = readdirSync(abs, { encoding: 'buffer' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' && rel.length > 0) {
        this.input.warn(`${displayName(rel)} vanished during the walk`);
        return [];
      }
      throw new LayerError('E_LAYER_READ', `cannot list ${displayName(rel) || 'the diff dir'}: ${code ?? err}`, abs.toString('utf8'), err);
    }
    return names.sort(Buffer.compare);
  }

  async run(): Promise<RegenerateStats> {
    if (this.input.rules === 'overlay') assertCanReadOpaque(this.input.diffDir);
    const rootAbs = Buffer.from(this.input.diffDir.replace(/\/+$/, '') || '/', 'utf8');
    const stack: Frame[] = [{ abs: rootAbs, rel: Buffer.alloc(0), names: this.listDir(rootAbs, Buffer.alloc(0)), next: 0 }];
    while (stack.length > 0) {
      const frame = stack[stack.length - 1];
      if (frame.next >= frame.names.length) {
        stack.pop();
        continue;
      }
      const name = frame.names[frame.next++];
      const abs = Buffer.concat([frame.abs, SLASH, name]);
      const rel = Buffer.concat([frame.rel, name]);
      const rules = this.input.rules ?? 'aufs';
      const kind = rules === 'aufs' ? classifyAufsName(name, stack.length === 1) : 'plain';
      if (kind === 'aufs-internal') continue;
      if (kind === 'aufs-leftover') {
        this.input.warn(`skipped aufs leftover ${displayName(rel)}`);
        continue;
      }
      const st = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
      if (!st) {
        this.input.warn(`${displayName(rel)} vanished during the walk`);
        continue;
      }
      if (kind === 'whiteout' || kind === 'opaque') {
        // aufs hard-links every whiteout to .wh..wh.aufs; OCI wants plain empty files
        if (!st.isFile()) this.input.warn(`whiteout ${displayName(rel)} is not a regular file on disk; written as an empty file`);
        await this.header({ ...baseFields(st), name: rel, type: 'file' });
        continue;
      }
      if (rules === 'overlay' && isOverlayWhiteout(st)) {
        await this.header(overlayWhiteoutEntry(frame.rel, name, st));
        continue;
      }
      if (st.isDirectory()) {
        await this.dir(abs, rel, st);
        const childRel = Buffer.concat([rel, SLASH]);
        stack.push({ abs, rel: childRel, names: this.listDir(abs, childRel), next: 0 });
        continue;
      }
      await this.node(abs, rel, st);
    }
    return this.end();
  }

  /** A directory's header (and, under overlay rules, its opaque marker right after it). */
  protected async dir(abs: Buffer, rel: Buffer, st: BigIntStats): Promise<void> {
    await this.header({ ...baseFields(st), name: Buffer.concat([rel, SLASH]), type: 'dir', xattrs: this.xattrs(abs) });
    if (this.input.rules === 'overlay' && isOverlayOpaque(abs)) await this.header(overlayOpaqueEntry(rel, st));
  }

  /** Anything but a directory: hard links by inode, regular files, symlinks, devices, FIFOs; sockets skipped. */
  protected async node(abs: Buffer, rel: Buffer, st: BigIntStats): Promise<void> {
    if (st.isSocket()) {
      this.input.warn(`skipped socket ${displayName(rel)}`);
      return;
    }
    const linkKey = st.nlink > 1n ? `${st.dev}:${st.ino}` : null;
    const first = linkKey ? this.firstLink.get(linkKey) : undefined;
    if (first) {
      await this.header({ ...baseFields(st), name: rel, type: 'hardlink', linkname: first });
      return;
    }
    let written = false;
    if (st.isFile()) written = await this.regularFile(abs, rel, st);
    else if (st.isSymbolicLink()) written = await this.symlink(abs, rel, st);
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const { major, minor } = splitDev(st.rdev);
      await this.header({ ...baseFields(st), name: rel, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major, devminor: minor, xattrs: this.xattrs(abs) });
      written = true;
    } else if (st.isFIFO()) {
      await this.header({ ...baseFields(st), name: rel, type: 'fifo', xattrs: this.xattrs(abs) });
      written = true;
    } else {
      this.input.warn(`skipped ${displayName(rel)}: unknown file type`);
    }
    if (written && linkKey) this.firstLink.set(linkKey, rel);
  }

  /** End of archive and the summary warnings. */
  protected async end(): Promise<RegenerateStats> {
    await this.out(endOfArchive());
    this.flushXattrWarnings();
    return this.stats;
  }

  protected async header(e: TarEntry): Promise<void> {
    this.stats.entries++;
    await this.out(encodeEntryHeader(e));
  }

  private async symlink(abs: Buffer, rel: Buffer, st: BigIntStats): Promise<boolean> {
    let target: Buffer;
    try {
      target = readlinkSync(abs, { encoding: 'buffer' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'EINVAL') {
        this.input.warn(`${displayName(rel)} changed during the walk; skipped`);
        return false;
      }
      throw new LayerError('E_LAYER_READ', `cannot read symlink ${displayName(rel)}: ${code ?? err}`, abs.toString('utf8'), err);
    }
    await this.header({ ...baseFields(st), name: rel, type: 'symlink', linkname: target, xattrs: this.xattrs(abs) });
    return true;
  }

  private async regularFile(abs: Buffer, rel: Buffer, st: BigIntStats): Promise<boolean> {
    const shown = displayName(rel);
    let fd: number;
    try {
      // O_NOFOLLOW|O_NONBLOCK: if the name was swapped for a symlink or FIFO since the lstat, fail instead of following or blocking
      fd = openSync(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ELOOP' || code === 'ENXIO') {
        this.input.warn(`${shown} changed during the walk; skipped`);
        return false;
      }
      throw new LayerError('E_LAYER_READ', `cannot open ${shown}: ${code ?? err}`, abs.toString('utf8'), err);
    }
    try {
      const fst = fstatSync(fd, { bigint: true });
      if (!fst.isFile() || fst.ino !== st.ino || fst.dev !== st.dev) {
        this.input.warn(`${shown} changed during the walk; skipped`);
        return false;
      }
      if (fst.size > BigInt(Number.MAX_SAFE_INTEGER)) throw new LayerError('E_LAYER_READ', `${shown} is too large`, abs.toString('utf8'));
      const size = Number(fst.size);
      await this.header({ ...baseFields(fst), name: rel, type: 'file', size, xattrs: this.xattrs(abs) });
      this.stats.payloadBytes += size;
      await this.body(fd, size, shown, abs);
      return true;
    } finally {
      closeSync(fd);
    }
  }

  /** Exactly `size` bytes of the file, then padding: a file that shrinks is zero-filled, one that grows is cut. */
  private async body(fd: number, size: number, shown: string, abs: Buffer): Promise<void> {
    let left = size;
    while (left > 0) {
      let n: number;
      try {
        n = readSync(fd, this.buf, 0, Math.min(this.buf.length, left), null);
      } catch (err) {
        throw new LayerError('E_LAYER_READ', `cannot read ${shown}: ${(err as NodeJS.ErrnoException).code ?? err}`, abs.toString('utf8'), err);
      }
      if (n === 0) {
        this.input.warn(`${shown} shrank during the walk; ${left} missing bytes written as zeros`);
        const zeros = Buffer.alloc(Math.min(left, this.buf.length));
        while (left > 0) {
          const k = Math.min(left, zeros.length);
          await this.out(zeros.subarray(0, k));
          left -= k;
        }
        break;
      }
      left -= n;
      await this.out(this.buf.subarray(0, n));
    }
    if (size > 0 && readSync(fd, this.probe, 0, 1, null) !== 0) this.input.warn(`${shown} grew during the walk; cut to its size at the start`);
    const pad = paddingFor(size);
    if (pad > 0) await this.out(Buffer.alloc(pad));
  }

  /** The entry's xattrs allowed by the policy table, names sorted later by the PAX encoder. */
  private xattrs(abs: Buffer): Array<[string, Buffer]> | undefined {
    if (this.input.xattrs === false) return undefined;
    // @napi-rs/xattr takes string paths: a name that is not valid UTF-8 cannot be passed to it
    const path = abs.toString('utf8');
    if (!Buffer.from(path, 'utf8').equals(abs)) {
      this.xattrSkippedNames++;
      return undefined;
    }
    let names: string[];
    try {
      names = listAttributesSync(path);
    } catch {
      this.xattrErrors++;
      return undefined;
    }
    if (names.length === 0) return undefined;
    const kept: Array<[string, Buffer]> = [];
    for (const name of names) {
      const rule = xattrRule(name);
      if (rule.action !== 'keep') {
        if (rule.action === 'drop-warn') this.droppedXattrs.set(name, (this.droppedXattrs.get(name) ?? 0) + 1);
        continue;
      }
      try {
        const value = getAttributeSync(path, name);
        if (value) kept.push([name, Buffer.from(value)]);
      } catch {
        this.xattrErrors++;
      }
    }
    return kept.length > 0 ? kept : undefined;
  }

  private flushXattrWarnings(): void {
    for (const [name, count] of [...this.droppedXattrs].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      this.input.warn(`dropped xattr ${name} on ${count} entr${count === 1 ? 'y' : 'ies'} (${xattrRule(name).why})`);
    }
    if (this.xattrSkippedNames > 0) this.input.warn(`xattrs not read for ${this.xattrSkippedNames} entries whose path is not UTF-8`);
    if (this.xattrErrors > 0) this.input.warn(`xattrs could not be read for ${this.xattrErrors} entries`);
  }
}

/** Write a deterministic tar of an aufs diff dir into `sink` (aufs rules: see aufs-rules.ts). */
export async function regenerateAufsLayer(input: RegenerateInput, sink: TarSink): Promise<RegenerateStats> {
  return new Walker(input, sink).run();
}

