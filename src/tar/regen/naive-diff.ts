// A layer of a driver without native diffs (vfs, btrfs, overlay v1 `root/`): the layer dir is the
// layer's FULL tree, and its tar is what changed against the parent's full tree. The rules are
// Docker's NaiveDiffDriver / archive.ChangesDirs (legacy-formats.md §2.7), so the same files are
// found changed as Docker found:
// - an entry with the same (dev, inode) in both trees is unchanged, with its whole subtree
//   (overlay v1 hard-links unchanged files into each layer's root);
// - otherwise it changed when mode (type included), uid, gid or rdev differ, or, for anything but
//   a directory, the size differs or the mtime differs (equal seconds and equal nanoseconds, or
//   either nanosecond part 0: copies through tar lose them), or security.capability differs;
// - names only in the new tree are added with everything below; names only in the parent become
//   `.wh.<name>` whiteouts (there are no opaque markers in a naive diff);
// - a directory that did not change itself is still written when anything below it changed.
// Unlike Docker (whiteouts stamped with the clock, map-ordered PAX records), the output is
// deterministic: whiteouts have mode 0, owner 0:0, mtime 0; they come first in their directory.
// Contents are not compared, as in Docker: an edit that keeps size and mtime is not seen.
import { lstatSync, type BigIntStats } from 'node:fs';
import { getAttributeSync } from '@napi-rs/xattr';
import type { TarSink } from '../sink.js';
import { displayName } from '../sink.js';
import { Walker, type RegenerateInput, type RegenerateStats } from './regenerate.js';

export interface NaiveDiffInput extends RegenerateInput {
  /** the parent layer's full tree (resolved); null: a base layer, written whole */
  parentDir: string | null;
}

const SLASH = Buffer.from('/');
const WH = Buffer.from('.wh.', 'latin1');
const NS = 1_000_000_000n;

/** sameFsTimeSpec: equal seconds, and equal nanoseconds unless either is 0. */
export function sameFsTime(a: bigint, b: bigint): boolean {
  // floor division, as a timespec splits times before 1970 (BigInt / and % truncate toward 0)
  const na = ((a % NS) + NS) % NS, nb = ((b % NS) + NS) % NS;
  const sa = (a - na) / NS, sb = (b - nb) / NS;
  return sa === sb && (na === nb || na === 0n || nb === 0n);
}

/** Docker's statDifferent: what makes an entry present in both trees "modified". */
export function statDifferent(o: BigIntStats, n: BigIntStats): boolean {
  if (o.mode !== n.mode || o.uid !== n.uid || o.gid !== n.gid || o.rdev !== n.rdev) return true;
  if (!n.isDirectory() && (!sameFsTime(o.mtimeNs, n.mtimeNs) || o.size !== n.size)) return true;
  return false;
}

function capability(abs: Buffer, st: BigIntStats): Buffer | null {
  if (st.isSymbolicLink()) return null;
  const path = abs.toString('utf8');
  if (!Buffer.from(path, 'utf8').equals(abs)) return null;
  try {
    const v = getAttributeSync(path, 'security.capability');
    return v ? Buffer.from(v) : null;
  } catch {
    return null;
  }
}

function capabilityDiffers(oldAbs: Buffer, o: BigIntStats, newAbs: Buffer, n: BigIntStats): boolean {
  const a = capability(oldAbs, o);
  const b = capability(newAbs, n);
  return a === null ? b !== null : b === null || !a.equals(b);
}

interface DiffFrame {
  abs: Buffer;
  /** the same directory in the parent tree; null when the directory is new (all below is added) */
  oldAbs: Buffer | null;
  /** relative path with a trailing '/', empty at the layer root */
  rel: Buffer;
  names: Buffer[];
  next: number;
  oldNames: Set<string>;
  st: BigIntStats | null;
  /** the directory's header is written (or it is the root, which never is) */
  written: boolean;
}

const key = (b: Buffer): string => b.toString('latin1');

class NaiveDiffWalker extends Walker {
  private readonly parentDir: string;
  private readonly frames: DiffFrame[] = [];

  constructor(input: NaiveDiffInput, sink: TarSink) {
    super({ ...input, rules: 'plain' }, sink);
    this.parentDir = input.parentDir!;
  }

  /** Write the headers of directories above a change that were not written yet, outermost first. */
  private async flush(): Promise<void> {
    for (const f of this.frames) {
      if (f.written) continue;
      f.written = true;
      await this.dir(f.abs, f.rel.subarray(0, f.rel.length - 1), f.st!);
    }
  }

  /** Enter a directory: list both sides, write whiteouts for names gone from the parent. */
  private async enter(abs: Buffer, oldAbs: Buffer | null, rel: Buffer, st: BigIntStats | null, written: boolean): Promise<void> {
    const names = this.listDir(abs, rel);
    const oldList = oldAbs ? this.listDir(oldAbs, rel) : [];
    const frame: DiffFrame = { abs, oldAbs, rel, names, next: 0, oldNames: new Set(oldList.map(key)), st, written };
    this.frames.push(frame);
    if (oldAbs === null) return;
    const present = new Set(names.map(key));
    const gone = oldList.filter((n) => !present.has(key(n)));
    if (gone.length === 0) return;
    await this.flush();
    for (const name of gone) {
      await this.header({ type: 'file', name: Buffer.concat([rel, WH, name]), mode: 0, uid: 0, gid: 0, size: 0, mtime: 0 });
    }
  }

  override async run(): Promise<RegenerateStats> {
    const rootAbs = Buffer.from(this.input.diffDir.replace(/\/+$/, '') || '/', 'utf8');
    const oldRoot = Buffer.from(this.parentDir.replace(/\/+$/, '') || '/', 'utf8');
    await this.enter(rootAbs, oldRoot, Buffer.alloc(0), null, true);
    while (this.frames.length > 0) {
      const frame = this.frames[this.frames.length - 1]!;
      if (frame.next >= frame.names.length) {
        this.frames.pop();
        continue;
      }
      const name = frame.names[frame.next++]!;
      const abs = Buffer.concat([frame.abs, SLASH, name]);
      const rel = Buffer.concat([frame.rel, name]);
      const st = lstatSync(abs, { bigint: true, throwIfNoEntry: false });
      if (!st) {
        this.input.warn(`${displayName(rel)} vanished during the walk`);
        continue;
      }
      const oldAbs = frame.oldAbs && frame.oldNames.has(key(name)) ? Buffer.concat([frame.oldAbs, SLASH, name]) : null;
      const ost = oldAbs ? lstatSync(oldAbs, { bigint: true, throwIfNoEntry: false }) : undefined;
      if (!oldAbs || !ost) {
        // added, with everything below it
        await this.flush();
        if (st.isDirectory()) {
          await this.dir(abs, rel, st);
          await this.enter(abs, null, Buffer.concat([rel, SLASH]), st, true);
        } else await this.node(abs, rel, st);
        continue;
      }
      if (st.dev === ost.dev && st.ino === ost.ino) continue; // the same inode: unchanged, subtree too
      const changed = statDifferent(ost, st) || capabilityDiffers(oldAbs, ost, abs, st);
      if (st.isDirectory()) {
        if (ost.isDirectory()) {
          // written now if it changed itself, else only when something below it did
          await this.enter(abs, oldAbs, Buffer.concat([rel, SLASH]), st, false);
          if (changed) await this.flush();
        } else {
          // a file replaced by a directory: the directory and all below it are new
          await this.flush();
          await this.dir(abs, rel, st);
          await this.enter(abs, null, Buffer.concat([rel, SLASH]), st, true);
        }
        continue;
      }
      if (!changed) continue;
      await this.flush();
      await this.node(abs, rel, st);
    }
    return this.end();
  }
}

/** Write a deterministic tar of a naive-diff layer into `sink`: the whole tree for a base layer, the changes against the parent otherwise. */
export async function regenerateNaiveDiff(input: NaiveDiffInput, sink: TarSink): Promise<RegenerateStats> {
  if (input.parentDir === null) return new Walker({ ...input, rules: 'plain' }, sink).run();
  return new NaiveDiffWalker(input, sink).run();
}
