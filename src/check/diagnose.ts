// After a layer's tar-split replay failed, find *every* file that differs from what the metadata
// recorded (the replay stops at the first one). Reads each recorded file once: missing, not a
// regular file, size changed, content changed (CRC-64 mismatch). Also reports when the metadata
// itself cannot be read to the end. Nothing is written. Runs in a pool worker (check-worker.ts).
import { closeSync, readSync } from 'node:fs';
import { Crc64 } from '../tar/crc64.js';
import { displayName } from '../tar/sink.js';
import { ConfinedFileOpener } from '../tar/tarsplit/confined-file.js';
import { readTarSplitEntries } from '../tar/tarsplit/entries.js';
import { TarSplitUnusableError } from '../tar/tarsplit/unusable.js';

export interface ChangedFile {
  /** path inside the layer, as recorded (non-UTF-8 bytes as \xNN) */
  path: string;
  problem: 'missing' | 'not-regular' | 'size-changed' | 'content-changed' | 'unreadable';
  detail: string;
}

export interface Diagnosis {
  changed: ChangedFile[];
  /** changed files beyond the listed ones */
  more: number;
  /** files with data the metadata lists (read up to the point it could be read) */
  filesChecked: number;
  /** the metadata could not be read to its end: why */
  metadataError?: string;
}

/** At most this many changed files are listed per layer; the rest are counted. */
export const MAX_CHANGED_LISTED = 500;

const strip = (reason: string): string => reason.replace(/^tar-split: /, '');

function classify(reason: string): ChangedFile['problem'] {
  if (/^missing file|^not a directory in the path|^symlinked directory/.test(reason)) return 'missing';
  if (/is a symlink|is not a regular file|changed while being opened/.test(reason)) return 'not-regular';
  return 'unreadable';
}

export async function diagnoseTarSplit(tarDataPath: string, diffDir: string, readBuffer = Buffer.allocUnsafe(1024 * 1024)): Promise<Diagnosis> {
  const opener = new ConfinedFileOpener(diffDir);
  const result: Diagnosis = { changed: [], more: 0, filesChecked: 0 };
  const add = (c: ChangedFile): void => {
    if (result.changed.length < MAX_CHANGED_LISTED) result.changed.push(c);
    else result.more++;
  };
  try {
    for await (const entry of readTarSplitEntries(tarDataPath)) {
      if (entry.type !== 'file' || entry.size === 0) continue;
      result.filesChecked++;
      const path = displayName(entry.name);
      let opened: { fd: number; size: number };
      try {
        opened = opener.open(entry.name);
      } catch (err) {
        if (!(err instanceof TarSplitUnusableError)) throw err;
        const reason = strip(err.reason);
        add({ path, problem: classify(reason), detail: reason });
        continue;
      }
      try {
        if (opened.size !== entry.size) {
          add({ path, problem: 'size-changed', detail: `recorded ${entry.size} bytes, the file has ${opened.size}` });
          continue;
        }
        const crc = new Crc64();
        let left = entry.size;
        let readError: string | null = null;
        while (left > 0) {
          let n: number;
          try {
            n = readSync(opened.fd, readBuffer, 0, Math.min(readBuffer.length, left), null);
          } catch (err) {
            readError = `cannot read (${(err as NodeJS.ErrnoException).code ?? err})`;
            break;
          }
          if (n === 0) {
            readError = 'shorter than recorded (changed while reading)';
            break;
          }
          crc.update(readBuffer, 0, n);
          left -= n;
        }
        if (readError) add({ path, problem: 'unreadable', detail: readError });
        else if (entry.crc && !crc.digest().equals(entry.crc)) add({ path, problem: 'content-changed', detail: 'content differs from the pulled layer (CRC-64 mismatch)' });
      } finally {
        closeSync(opened.fd);
      }
    }
  } catch (err) {
    if (!(err instanceof TarSplitUnusableError)) throw err;
    result.metadataError = strip(err.reason);
  }
  return result;
}
