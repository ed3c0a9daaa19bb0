// tar-split replay: rebuild a layer's original tar byte for byte from graph/<id>/tar-data.json.gz
// (raw header/padding segments) and the file bodies in the layer's diff dir, checking every body
// against its CRC-64 and size. Any doubt throws TarSplitUnusableError: the caller discards what
// was written (the bytes were only hashed / written to a temp file) and regenerates the layer.
import { closeSync, fstatSync, readSync } from 'node:fs';
import { Crc64 } from '../crc64.js';
import { displayName, type TarSink } from '../sink.js';
import { ConfinedFileOpener } from './confined-file.js';
import { readTarSplitBatches } from './entries.js';
import { CleanNameSet } from './name-set.js';
import { TarStructureCheck } from './structure.js';
import { TarSplitUnusableError } from './unusable.js';

export interface ReplayInput {
  /** graph/<id>/tar-data.json.gz */
  tarDataPath: string;
  /** the layer's diff dir, resolved (realpath) by the caller */
  diffDir: string;
  /** reused read buffer (the worker keeps one); 1 MiB by default */
  readBuffer?: Buffer;
}

export interface ReplayStats {
  /** file entries (one per tar header) */
  entries: number;
  /** sum of file entry sizes: what Docker 1.10 recorded as the layer size */
  payloadBytes: number;
  /** bytes of tar produced */
  tarBytes: number;
}

const DEFAULT_READ_BUFFER = 1024 * 1024;

/** The error for a file whose size is not the recorded one, with its size now when known. */
function sizeMismatch(fd: number, name: Buffer, recorded: number): TarSplitUnusableError {
  let now = '';
  try {
    const st = fstatSync(fd);
    now = st.isFile() ? `, the file has ${st.size}` : ', it is no longer a regular file';
  } catch {
    // the message without the size
  }
  return new TarSplitUnusableError(`size mismatch for ${displayName(name)}: recorded ${recorded} bytes${now}`);
}

/** Write the original tar of a layer into `sink`. Throws TarSplitUnusableError when the data cannot be trusted. */
export async function replayTarSplit(input: ReplayInput, sink: TarSink): Promise<ReplayStats> {
  const check = new TarStructureCheck();
  const opener = new ConfinedFileOpener(input.diffDir);
  const seenNames = new CleanNameSet();
  const buf = input.readBuffer ?? Buffer.allocUnsafe(DEFAULT_READ_BUFFER);
  const stats: ReplayStats = { entries: 0, payloadBytes: 0, tarBytes: 0 };
  let legacyV094 = false;

  const legacyCheck = (): void => {
    // v0.9.4 overwrote the L/K blocks with the next header: same length, wrong bytes, no error
    if (legacyV094 && check.sawLongNames) {
      throw new TarSplitUnusableError('tar-split v0.9.4 metadata (Docker 1.8.0/1.8.1) with GNU long-name headers');
    }
  };

  /** A structure error, told as a v0.9.4 mismatch when the metadata is of that version. */
  const structural = (err: unknown): unknown => {
    if (legacyV094 && err instanceof TarSplitUnusableError) {
      return new TarSplitUnusableError(`tar-split v0.9.4 metadata (Docker 1.8.0/1.8.1) that does not match its tar (${err.reason.replace(/^tar-split: /, '')})`);
    }
    return err;
  };
  const crc = new Crc64();

  // Entries come in batches and are handled synchronously; the only awaits are the sink's
  // backpressure and the next batch (a layer of 50,000 small files is 100,000 entries).
  for await (const batch of readTarSplitBatches(input.tarDataPath)) {
    for (const entry of batch) {
      if (entry.type === 'segment') {
        if (entry.legacyKeys) legacyV094 = true;
        if (entry.payload.length === 0) continue;
        try {
          check.segment(entry.payload);
        } catch (err) {
          throw structural(err);
        }
        legacyCheck();
        stats.tarBytes += entry.payload.length;
        const wait = sink.write(entry.payload);
        if (wait) await wait;
        continue;
      }

      if (!seenNames.add(entry.name)) throw new TarSplitUnusableError(`duplicate file entry ${displayName(entry.name)}`);
      try {
        check.file(entry.name, entry.size);
      } catch (err) {
        throw structural(err);
      }
      stats.entries++;
      stats.payloadBytes += entry.size;
      if (entry.size === 0) continue; // dirs, links, devices, empty files, whiteouts: all in the segments

      if (!entry.crc || entry.crc.length !== 8) throw new TarSplitUnusableError(`no crc for ${displayName(entry.name)}`);
      const fd = opener.openUnchecked(entry.name);
      try {
        crc.reset();
        let left = entry.size;
        while (left > 0) {
          // The last read asks for one byte more than should be left: getting it means the file
          // grew; getting exactly the rest means it ends there (a short read of a regular file
          // is its end). One read per small file, and no fstat: the reads are the size check.
          let n: number;
          try {
            n = readSync(fd, buf, 0, Math.min(buf.length, left + 1), null);
          } catch (err) {
            throw new TarSplitUnusableError(`cannot read ${displayName(entry.name)} (${(err as NodeJS.ErrnoException).code ?? err})`);
          }
          if (n === 0 || n > left) throw sizeMismatch(fd, entry.name, entry.size);
          crc.update(buf, 0, n);
          left -= n;
          stats.tarBytes += n;
          const wait = sink.write(buf.subarray(0, n));
          if (wait) await wait;
        }
        if (!crc.matches(entry.crc)) throw new TarSplitUnusableError(`crc mismatch for ${displayName(entry.name)}`);
      } finally {
        closeSync(fd);
      }
    }
  }
  try {
    check.end();
  } catch (err) {
    throw structural(err);
  }
  legacyCheck();
  return stats;
}
