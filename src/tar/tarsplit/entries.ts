// Reading tar-split metadata (graph/<id>/tar-data.json.gz): gunzip, split into JSON lines,
// validate each object. Streaming with a cap on line length, so memory stays bounded whatever
// the gzip expands to (a bomb can only cost time, and the structure check stops it early).
import { closeSync, constants as fsc, createReadStream, fstatSync, openSync } from 'node:fs';
import { pipeline } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { parseCanonicalLine } from './canonical-line.js';
import { TarSplitUnusableError } from './unusable.js';

export type TarSplitEntry =
  | {
      type: 'segment';
      /** raw tar bytes (headers, padding, end blocks, trailing data) */
      payload: Buffer;
      /** the line carried "name"/"size" keys: written by tar-split v0.9.4 (Docker 1.8.0/1.8.1) */
      legacyKeys: boolean;
    }
  | {
      type: 'file';
      /** raw name bytes: name_raw when present, else the UTF-8 of name */
      name: Buffer;
      size: number;
      /** 8-byte big-endian CRC-64/ISO of the payload, or null */
      crc: Buffer | null;
    };

/** A line longer than this is refused (headers with huge PAX records would still fit). */
export const MAX_LINE_BYTES = 32 * 1024 * 1024;

/**
 * Lines that add nothing to the tar (blank lines, segments with an empty payload) are tolerated
 * the way Go's json.Decoder tolerates them, but only a few in a row: tar-split writes at most a
 * couple between two headers, and without a cap a small gzip of "\n" or `{"type":2}` lines would be
 * decompressed and scanned for minutes while adding no byte any entry could need.
 */
export const MAX_IDLE_LINES = 4096;
export const MAX_IDLE_BYTES = 1024 * 1024;

/** Counts consecutive lines that produce no tar bytes; throws once there are too many. */
class IdleLines {
  private lines = 0;
  private bytes = 0;

  /** a line that yields nothing (blank) or an entry without bytes */
  idle(lineNo: number, length: number): void {
    this.lines++;
    this.bytes += length + 1;
    if (this.lines > MAX_IDLE_LINES || this.bytes > MAX_IDLE_BYTES) {
      throw new TarSplitUnusableError(`${this.lines} lines in a row without tar data (up to line ${lineNo}): not tar-split output`);
    }
  }

  reset(): void {
    this.lines = 0;
    this.bytes = 0;
  }
}

/** An entry that contributes bytes to the tar (a header/padding segment, or a file with a body). */
function carriesData(entry: TarSplitEntry): boolean {
  return entry.type === 'segment' ? entry.payload.length > 0 : entry.size > 0 || entry.name.length > 0;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function decodeBase64(value: unknown, what: string, lineNo: number): Buffer | null {
  if (value === null || value === undefined) return null;
  if (typeof value !== 'string' || !BASE64_RE.test(value)) {
    throw new TarSplitUnusableError(`invalid ${what} on line ${lineNo}`);
  }
  return Buffer.from(value, 'base64');
}

/** Validate one decoded JSON object into an entry; unknown keys and `position` are ignored (like tar-split). */
export function toEntry(obj: unknown, lineNo: number): TarSplitEntry {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new TarSplitUnusableError(`line ${lineNo} is not a JSON object`);
  }
  const o = obj as Record<string, unknown>;
  if (o.type === 2) {
    return {
      type: 'segment',
      payload: decodeBase64(o.payload, 'segment payload', lineNo) ?? Buffer.alloc(0),
      legacyKeys: Object.hasOwn(o, 'name') || Object.hasOwn(o, 'size'),
    };
  }
  if (o.type === 1) {
    const raw = decodeBase64(o.name_raw, 'name_raw', lineNo);
    let name: Buffer;
    if (raw && raw.length > 0) name = raw;
    else if (typeof o.name === 'string') name = Buffer.from(o.name, 'utf8');
    else if (o.name === undefined || o.name === null) name = Buffer.alloc(0);
    else throw new TarSplitUnusableError(`invalid name on line ${lineNo}`);
    const size = o.size ?? 0;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new TarSplitUnusableError(`invalid size on line ${lineNo}`);
    }
    return { type: 'file', name, size, crc: decodeBase64(o.payload, 'crc payload', lineNo) };
  }
  throw new TarSplitUnusableError(`unknown entry type ${JSON.stringify(o.type)} on line ${lineNo}`);
}

/** The line [start, end) of `chunk`. */
function parseLine(chunk: Buffer, start: number, end: number, lineNo: number): TarSplitEntry | null {
  // tar-split's own lines first: a byte scanner for exactly what Go's encoding/json writes for
  // its Entry struct. JSON.parse, the base64 regex and a string per payload cost more than the
  // rest of a replay on a layer of many small files.
  const fast = parseCanonicalLine(chunk, start, end);
  if (fast !== undefined) return fast;
  const line = chunk.subarray(start, end);
  // json.Decoder tolerates blank space between values; tar-split never writes blank lines
  let s = 0;
  while (s < line.length && (line[s] === 0x20 || line[s] === 0x09 || line[s] === 0x0d)) s++;
  if (s === line.length) return null;
  let obj: unknown;
  try {
    obj = JSON.parse(line.toString('utf8'));
  } catch {
    throw new TarSplitUnusableError(`invalid JSON on line ${lineNo}`);
  }
  return toEntry(obj, lineNo);
}

function describeIoError(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  if (e && typeof e === 'object' && e.code === 'Z_BUF_ERROR') return 'truncated gzip (unexpected end of file)';
  if (e && typeof e === 'object' && typeof e.code === 'string' && e.code.startsWith('Z_')) return `corrupt gzip (${e.message})`;
  if (e && typeof e === 'object' && e.code) return `${e.code}: ${e.message}`;
  return err instanceof Error ? err.message : String(err);
}

/** Open the metadata file without following a symlink and without blocking on a FIFO. */
function openTarData(path: string): number {
  let fd: number;
  try {
    fd = openSync(path, fsc.O_RDONLY | fsc.O_NOFOLLOW | fsc.O_NONBLOCK | fsc.O_NOCTTY);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new TarSplitUnusableError('tar-data.json.gz is missing', path, err);
    if (code === 'ELOOP') throw new TarSplitUnusableError('tar-data.json.gz is a symlink', path, err);
    throw new TarSplitUnusableError(`cannot open tar-data.json.gz (${describeIoError(err)})`, path, err);
  }
  if (!fstatSync(fd).isFile()) {
    closeSync(fd);
    throw new TarSplitUnusableError('tar-data.json.gz is not a regular file', path);
  }
  return fd;
}

/**
 * Yield the entries of a tar-split metadata file in order. Every failure (I/O, truncated or
 * corrupt gzip, bad JSON, invalid fields, overlong line) is a TarSplitUnusableError.
 */
export async function* readTarSplitEntries(path: string): AsyncGenerator<TarSplitEntry, void, undefined> {
  for await (const batch of readTarSplitBatches(path)) yield* batch;
}

/**
 * The entries in batches, one per decompressed chunk (hundreds of entries): a consumer that
 * loops over a batch synchronously pays one await per chunk instead of one per entry.
 */
export async function* readTarSplitBatches(path: string): AsyncGenerator<TarSplitEntry[], void, undefined> {
  const fd = openTarData(path);
  const source = createReadStream('', { fd, highWaterMark: 256 * 1024 });
  const gunzip = createGunzip({ chunkSize: 256 * 1024 });
  // pipeline forwards a read error to gunzip, whose iterator then throws it
  pipeline(source, gunzip, () => {});
  let carry: Buffer[] = [];
  let carryLen = 0;
  let lineNo = 0;
  const idle = new IdleLines();
  const take = (chunk: Buffer, start: number, end: number, batch: TarSplitEntry[]): void => {
    lineNo++;
    const entry = parseLine(chunk, start, end, lineNo);
    if (entry && carriesData(entry)) idle.reset();
    else idle.idle(lineNo, end - start);
    if (entry) batch.push(entry);
  };
  try {
    try {
      for await (const chunk of gunzip as AsyncIterable<Buffer>) {
        const batch: TarSplitEntry[] = [];
        let start = 0;
        try {
          for (;;) {
            const nl = chunk.indexOf(0x0a, start);
            if (nl === -1) break;
            if (carryLen > 0) {
              // the line began in an earlier chunk
              if (carryLen + (nl - start) > MAX_LINE_BYTES) throw new TarSplitUnusableError(`line ${lineNo + 1} is longer than ${MAX_LINE_BYTES} bytes`);
              const line = Buffer.concat([...carry, chunk.subarray(start, nl)]);
              carry = [];
              carryLen = 0;
              take(line, 0, line.length, batch);
            } else {
              take(chunk, start, nl, batch);
            }
            start = nl + 1;
          }
        } catch (err) {
          // the entries before the bad line still come first, as they would one by one
          if (batch.length > 0) yield batch;
          throw err;
        }
        if (start < chunk.length) {
          const rest = chunk.subarray(start);
          carryLen += rest.length;
          if (carryLen > MAX_LINE_BYTES) throw new TarSplitUnusableError(`line ${lineNo + 1} is longer than ${MAX_LINE_BYTES} bytes`);
          carry.push(Buffer.from(rest)); // gunzip may reuse its chunk memory
        }
        if (batch.length > 0) yield batch;
      }
    } catch (err) {
      if (err instanceof TarSplitUnusableError) throw err;
      throw new TarSplitUnusableError(describeIoError(err), path, err);
    }
    if (carryLen > 0) {
      const batch: TarSplitEntry[] = [];
      const line = Buffer.concat(carry);
      take(line, 0, line.length, batch);
      if (batch.length > 0) yield batch;
    }
  } finally {
    gunzip.destroy();
    source.destroy();
  }
}
