// A fast reader for the lines tar-split itself writes. Go's encoding/json renders tar-split's
// Entry struct in one fixed form: `{"type":2,"payload":"<base64>","position":N}` for segments and
// `{"type":1,"name":"…","size":N,"payload":"<base64>"|null,"position":N}` for files (name,
// name_raw and size left out when empty). On a layer of 50,000 small files, JSON.parse, the
// base64 regex and one JS string per payload cost more than reading the files, so those lines
// are scanned as bytes here.
//
// The contract: for any line this accepts, the entry is exactly what JSON.parse + toEntry would
// give. Anything unusual (whitespace, escapes, non-ASCII names, unknown or repeated keys,
// numbers that are not small plain integers, invalid base64, an unknown type) returns undefined
// and the caller takes the general path, which gives the real answer or the real error message.
import type { TarSplitEntry } from './entries.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const PAD = 0x3d; // '='

const enum Key {
  Type = 1,
  Name = 2,
  NameRaw = 4,
  Size = 8,
  Payload = 16,
  Position = 32,
}

function spells(line: Buffer, start: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (line[start + i] !== text.charCodeAt(i)) return false;
  return true;
}

/** Which key the bytes [start, end) spell, or 0. */
function keyAt(line: Buffer, start: number, end: number): number {
  switch (end - start) {
    case 4:
      return spells(line, start, 'type') ? Key.Type : spells(line, start, 'name') ? Key.Name : spells(line, start, 'size') ? Key.Size : 0;
    case 7:
      return spells(line, start, 'payload') ? Key.Payload : 0;
    case 8:
      return spells(line, start, 'position') ? Key.Position : spells(line, start, 'name_raw') ? Key.NameRaw : 0;
    default:
      return 0;
  }
}

/** Spans up to this long (a file's CRC is 12 characters) are decoded here, without a string. */
const SHORT_SPAN = 64;

/** Each byte's 6-bit value in the standard alphabet, -1 for any other byte ('=' included). */
const SEXTET = new Int8Array(256).fill(-1);
for (let i = 0; i < 64; i++) SEXTET['ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'.charCodeAt(i)] = i;

/**
 * decodeBase64Span for a short span (a multiple of 4, not empty): the regex's rules checked per
 * quad, '=' only as the last one or two bytes of the span. Bits left over by a padded quad are
 * dropped, as Buffer.from drops them.
 */
function decodeShortSpan(line: Buffer, start: number, end: number): Buffer | undefined {
  const pad = line[end - 1] !== PAD ? 0 : line[end - 2] !== PAD ? 1 : 2;
  const out = Buffer.allocUnsafe(((end - start) / 4) * 3 - pad);
  let o = 0;
  for (let i = start; i < end; i += 4) {
    const last = i + 4 === end;
    const a = SEXTET[line[i]];
    const b = SEXTET[line[i + 1]];
    const c = last && pad === 2 ? 0 : SEXTET[line[i + 2]];
    const d = last && pad > 0 ? 0 : SEXTET[line[i + 3]];
    if ((a | b | c | d) < 0) return undefined;
    const v = (a << 18) | (b << 12) | (c << 6) | d;
    out[o++] = v >>> 16;
    if (o < out.length) out[o++] = (v >>> 8) & 0xff;
    if (o < out.length) out[o++] = v & 0xff;
  }
  return out;
}

/**
 * Decode standard base64 in [start, end) the way the general path's regex + Buffer.from do,
 * or undefined when the regex would refuse it (length not a multiple of 4, a byte outside the
 * alphabet, padding anywhere but the end of the last quad).
 *
 * Short spans (CRCs) go through decodeShortSpan, without a string. Longer ones are decoded by
 * Node (about twice as fast as a JS loop over a header's ~700 bytes; a layer of 50,000 small
 * files has 50,000 of them). That decoder is lenient where the regex is
 * not: it skips bytes outside the alphabet and stops at '=', which both give fewer bytes than a
 * clean span of this length must, and it takes the URL-safe '-' and '_', which are looked for.
 */
export function decodeBase64Span(line: Buffer, start: number, end: number): Buffer | undefined {
  const len = end - start;
  if (len % 4 !== 0) return undefined;
  if (len === 0) return Buffer.alloc(0);
  if (len <= SHORT_SPAN) return decodeShortSpan(line, start, end);
  let pad = 0;
  if (line[end - 1] === PAD) pad = line[end - 2] === PAD ? 2 : 1;
  // searched in the span's own text: the line may be a span of a large chunk, which a search of
  // the Buffer would run through to its end
  const text = line.toString('latin1', start, end);
  if (text.includes('-') || text.includes('_')) return undefined;
  const out = Buffer.from(text, 'base64');
  return out.length === (len / 4) * 3 - pad ? out : undefined;
}

/**
 * The entry of a line in tar-split's canonical form, or undefined when the line is anything
 * else (the general JSON path then decides). The line is [start, end) of `line`: the reader
 * passes spans of the decompressed chunk, no Buffer per line.
 */
export function parseCanonicalLine(line: Buffer, start = 0, end = line.length): TarSplitEntry | undefined {
  const n = end;
  if (n - start < 2 || line[start] !== OPEN_BRACE || line[n - 1] !== CLOSE_BRACE) return undefined;
  let seen = 0;
  let type = -1;
  let size = 0;
  // string values as spans; -1 = absent or null
  let nameStart = -1;
  let nameEnd = -1;
  let rawStart = -1;
  let rawEnd = -1;
  let payloadStart = -1;
  let payloadEnd = -1;

  // every read stays below n: the bytes after the line are the next lines
  let p = start + 1;
  for (;;) {
    // "key":
    if (p >= n || line[p] !== QUOTE) return undefined;
    const keyStart = p + 1;
    const keyEnd = line.indexOf(QUOTE, keyStart);
    if (keyEnd < 0 || keyEnd >= n) return undefined;
    const key = keyAt(line, keyStart, keyEnd);
    if (key === 0 || (seen & key) !== 0) return undefined; // unknown or repeated: general path
    seen |= key;
    p = keyEnd + 1;
    if (p + 1 >= n || line[p] !== COLON) return undefined;
    p++;

    const c = line[p];
    if (c === QUOTE && key === Key.Payload) {
      // base64 (the bulk of every line): the closing quote is found natively and the decoder
      // below checks every byte against the alphabet, so an escape, a control byte or any
      // non-ASCII byte in the span still sends the line to the general path
      const from = p + 1;
      const q = line.indexOf(QUOTE, from);
      if (q < 0 || q >= n) return undefined;
      payloadStart = from;
      payloadEnd = q;
      p = q + 1;
    } else if (c === QUOTE) {
      // a string of printable ASCII without escapes
      const from = p + 1;
      let q = from;
      for (;;) {
        if (q >= n) return undefined;
        const b = line[q];
        if (b === QUOTE) break;
        if (b < 0x20 || b > 0x7e || b === BACKSLASH) return undefined;
        q++;
      }
      if (key === Key.Name) {
        nameStart = from;
        nameEnd = q;
      } else if (key === Key.NameRaw) {
        rawStart = from;
        rawEnd = q;
      } else {
        return undefined; // a string where a number belongs
      }
      p = q + 1;
    } else if (c === 0x6e) {
      // null: only where the general path also reads null as "absent"
      if (p + 3 >= n || line[p + 1] !== 0x75 || line[p + 2] !== 0x6c || line[p + 3] !== 0x6c) return undefined;
      if (key !== Key.Name && key !== Key.NameRaw && key !== Key.Payload && key !== Key.Position) return undefined;
      p += 4;
    } else if (c >= 0x30 && c <= 0x39) {
      // a plain integer: no sign, no leading zero, at most 15 digits (a safe integer)
      const from = p;
      while (p < n && line[p] >= 0x30 && line[p] <= 0x39) p++;
      const digits = p - from;
      if (digits > 15 || (digits > 1 && c === 0x30)) return undefined;
      const value = digits === 1 ? c - 0x30 : Number(line.toString('latin1', from, p));
      if (key === Key.Type) type = value;
      else if (key === Key.Size) size = value;
      else if (key !== Key.Position) return undefined; // a number where a string belongs
    } else {
      return undefined;
    }

    const sep = p < n ? line[p] : -1;
    if (sep === COMMA) {
      p++;
      continue;
    }
    if (sep === CLOSE_BRACE && p === n - 1) break;
    return undefined;
  }

  if (type === 2) {
    let payload: Buffer | undefined = Buffer.alloc(0);
    if (payloadStart >= 0) payload = decodeBase64Span(line, payloadStart, payloadEnd);
    if (payload === undefined) return undefined;
    return { type: 'segment', payload, legacyKeys: (seen & (Key.Name | Key.Size)) !== 0 };
  }
  if (type === 1) {
    let name: Buffer | undefined;
    if (rawStart >= 0) {
      const raw = decodeBase64Span(line, rawStart, rawEnd);
      if (raw === undefined) return undefined;
      if (raw.length > 0) name = raw;
    }
    if (name === undefined) {
      // a copy: the line is the decompressor's output
      name = Buffer.allocUnsafe(nameStart >= 0 ? nameEnd - nameStart : 0);
      if (nameStart >= 0) line.copy(name, 0, nameStart, nameEnd);
    }
    let crc: Buffer | null = null;
    if (payloadStart >= 0) {
      const decoded = decodeBase64Span(line, payloadStart, payloadEnd);
      if (decoded === undefined) return undefined;
      crc = decoded;
    }
    return { type: 'file', name, size, crc };
  }
  return undefined;
}
