// A byte-level JSON toolkit that reproduces what Go's encoding/json (as built into Docker 1.10.3,
// Go 1.5.3) does to the bytes of a legacy image json. Everything works on Buffers: a raw value is
// never decoded into a JS string or number, so big integers (9007199254740993), number lexemes
// (1.50), invalid UTF-8 and existing escapes (`\/`, `\u00e9`) survive exactly.
//
// What is here:
//  - a validator/tokenizer (iterative, with a nesting limit, so hostile input gives a coded error
//    and never a stack overflow);
//  - compactGo: Go's `compact(dst, src, escape=true)`, applied by json.Marshal to every
//    json.RawMessage;
//  - parseObjectRaw / marshalSortedObject: Go's `map[string]*json.RawMessage` round trip;
//  - marshalGoString: Go's string encoder; unquoteGo: Go's string decoder;
//  - Go struct-field key matching (exact match first, then Go's case folding);
//  - time.Time's UnmarshalJSON/MarshalJSON for RFC 3339 (RFC3339Nano on output).
//
// Citations are to Go 1.5 `src/encoding/json/{scanner,decode,encode,indent,fold}.go` and
// `src/time/format.go`, and to docs/legacy-formats.md §4.4.

import { StoreError } from '../errors.js';

/** Error codes raised here (all as StoreError: the problem is in the legacy json). */
export const JSON_ERR = {
  /** not valid JSON (Go: SyntaxError) */
  SYNTAX: 'E_JSON_SYNTAX',
  /** nested deeper than MAX_JSON_DEPTH (our limit; real image json is 3–4 levels deep) */
  TOO_DEEP: 'E_JSON_TOO_DEEP',
  /** a value Go's struct decoding rejects (Go: UnmarshalTypeError) — Docker 1.10 could not migrate it */
  TYPE: 'E_JSON_TYPE',
  /** a time that Go's time.Parse(RFC3339) rejects — Docker 1.10 could not migrate it */
  TIME: 'E_JSON_TIME',
} as const;

/**
 * Nesting limit. Go 1.5 had none (Go 1.15+ stops at 10000); real image json is 3–4 levels deep,
 * so 1000 only ever refuses crafted input.
 */
export const MAX_JSON_DEPTH = 1000;

function fail(code: string, message: string): never {
  throw new StoreError(code, message);
}

// ---------------------------------------------------------------------------------------------
// Scanner (Go scanner.go grammar: RFC 8259 with Go's whitespace set; no BOM, no NaN, no comments;
// any byte >= 0x20 is allowed inside strings, valid UTF-8 or not).
// ---------------------------------------------------------------------------------------------

export type JsonKind = 'object' | 'array' | 'string' | 'number' | 'true' | 'false' | 'null';

/** A value inside a buffer: its kind and its byte span [start, end). */
export interface RawValue {
  kind: JsonKind;
  start: number;
  end: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isWs(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

function isDigit(c: number | undefined): boolean {
  return c !== undefined && c >= 0x30 && c <= 0x39;
}

function isHex(c: number | undefined): boolean {
  return c !== undefined && ((c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

function skipWs(buf: Buffer, i: number): number {
  while (i < buf.length && isWs(buf[i])) i++;
  return i;
}

function syntax(buf: Buffer, i: number, what: string): never {
  if (i >= buf.length) fail(JSON_ERR.SYNTAX, `invalid JSON: unexpected end of input (${what})`);
  fail(JSON_ERR.SYNTAX, `invalid JSON: unexpected byte 0x${buf[i].toString(16).padStart(2, '0')} at offset ${i} (${what})`);
}

/** Index just past the string literal whose opening quote is at i. */
function scanString(buf: Buffer, i: number): number {
  i++;
  for (;;) {
    if (i >= buf.length) syntax(buf, i, 'in string literal');
    const c = buf[i];
    if (c === QUOTE) return i + 1;
    if (c === BACKSLASH) {
      const e = buf[i + 1];
      // Go stateInStringEsc: one of "\/bfnrt, or u + 4 hex digits
      if (e === 0x22 || e === 0x5c || e === 0x2f || e === 0x62 || e === 0x66 || e === 0x6e || e === 0x72 || e === 0x74) {
        i += 2;
      } else if (e === 0x75) {
        for (let k = 2; k < 6; k++) if (!isHex(buf[i + k])) syntax(buf, i + k, 'in \\u escape');
        i += 6;
      } else {
        syntax(buf, i + 1, 'in string escape');
      }
    } else if (c < 0x20) {
      syntax(buf, i, 'control character in string literal');
    } else {
      i++;
    }
  }
}

/** Index just past the number starting at i: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
function scanNumber(buf: Buffer, i: number): number {
  if (buf[i] === 0x2d) i++;
  if (buf[i] === 0x30) i++;
  else if (isDigit(buf[i])) while (isDigit(buf[i])) i++;
  else syntax(buf, i, 'in numeric literal');
  if (buf[i] === 0x2e) {
    i++;
    if (!isDigit(buf[i])) syntax(buf, i, 'after decimal point in numeric literal');
    while (isDigit(buf[i])) i++;
  }
  if (buf[i] === 0x65 || buf[i] === 0x45) {
    i++;
    if (buf[i] === 0x2b || buf[i] === 0x2d) i++;
    if (!isDigit(buf[i])) syntax(buf, i, 'in exponent of numeric literal');
    while (isDigit(buf[i])) i++;
  }
  return i;
}

function scanLiteral(buf: Buffer, i: number, word: string): number {
  for (let k = 0; k < word.length; k++) {
    if (buf[i + k] !== word.charCodeAt(k)) syntax(buf, i + k, `in literal ${word}`);
  }
  return i + word.length;
}

function kindAt(buf: Buffer, i: number): JsonKind {
  const c = buf[i];
  if (c === 0x7b) return 'object';
  if (c === 0x5b) return 'array';
  if (c === QUOTE) return 'string';
  if (c === 0x74) return 'true';
  if (c === 0x66) return 'false';
  if (c === 0x6e) return 'null';
  if (c === 0x2d || isDigit(c)) return 'number';
  return syntax(buf, i, 'looking for beginning of value');
}

const IN_ARRAY = 0;
const IN_OBJECT = 1;

/** From `"key"` at i, past the key, whitespace and the colon. */
function scanKeyColon(buf: Buffer, i: number): number {
  if (buf[i] !== QUOTE) syntax(buf, i, 'looking for beginning of object key string');
  i = skipWs(buf, scanString(buf, i));
  if (buf[i] !== 0x3a) syntax(buf, i, 'after object key');
  return i + 1;
}

/**
 * Validate the value that starts exactly at `pos` and return the index just past it.
 * Iterative: the explicit stack is bounded by maxDepth, so deep input cannot overflow ours.
 */
export function scanValue(buf: Buffer, pos: number, maxDepth: number = MAX_JSON_DEPTH): number {
  const stack: number[] = [];
  let i = pos;
  for (;;) {
    i = skipWs(buf, i);
    const kind = kindAt(buf, i);
    if (kind === 'object' || kind === 'array') {
      if (stack.length >= maxDepth) fail(JSON_ERR.TOO_DEEP, `JSON nested deeper than ${maxDepth} levels (offset ${i})`);
      const close = kind === 'object' ? 0x7d : 0x5d;
      i = skipWs(buf, i + 1);
      if (buf[i] !== close) {
        stack.push(kind === 'object' ? IN_OBJECT : IN_ARRAY);
        if (kind === 'object') i = scanKeyColon(buf, i);
        continue; // scan the first element / member value
      }
      i++; // empty container: a complete value
    } else if (kind === 'string') {
      i = scanString(buf, i);
    } else if (kind === 'number') {
      i = scanNumber(buf, i);
    } else {
      i = scanLiteral(buf, i, kind);
    }
    // A value is complete: close containers until one wants another element.
    for (;;) {
      if (stack.length === 0) return i;
      const top = stack[stack.length - 1];
      i = skipWs(buf, i);
      const c = buf[i];
      if (c === 0x2c) {
        i = skipWs(buf, i + 1);
        if (top === IN_OBJECT) i = scanKeyColon(buf, i);
        break;
      }
      if ((top === IN_OBJECT && c === 0x7d) || (top === IN_ARRAY && c === 0x5d)) {
        stack.pop();
        i++;
        continue;
      }
      syntax(buf, i, top === IN_OBJECT ? 'after object key:value pair' : 'after array element');
    }
  }
}

/** Validate a whole document (one value, optional surrounding whitespace) and return its span. */
export function parseDocument(buf: Buffer, maxDepth: number = MAX_JSON_DEPTH): RawValue {
  const start = skipWs(buf, 0);
  const end = scanValue(buf, start, maxDepth);
  if (skipWs(buf, end) !== buf.length) syntax(buf, skipWs(buf, end), 'after top-level value');
  return { kind: kindAt(buf, start), start, end };
}

/** Throws a coded error unless `buf` is one valid JSON document. */
export function validateJson(buf: Buffer, maxDepth: number = MAX_JSON_DEPTH): void {
  parseDocument(buf, maxDepth);
}

/** A member of an already validated object: the key as Go decodes it, and the value's span. */
export interface RawMember {
  /** the key after Go unquoting (valid UTF-8; invalid input bytes became U+FFFD) */
  key: Buffer;
  value: RawValue;
}

function valueAt(buf: Buffer, i: number): RawValue {
  return { kind: kindAt(buf, i), start: i, end: scanValue(buf, i, Number.MAX_SAFE_INTEGER) };
}

/** The members of a validated object, in document order (duplicates included). One level only. */
export function objectMembers(buf: Buffer, obj: RawValue): RawMember[] {
  if (obj.kind !== 'object') throw new TypeError('objectMembers: not an object');
  const out: RawMember[] = [];
  let i = skipWs(buf, obj.start + 1);
  if (buf[i] === 0x7d) return out;
  for (;;) {
    const keyEnd = scanString(buf, i);
    const key = unquoteGo(buf.subarray(i, keyEnd));
    i = skipWs(buf, skipWs(buf, keyEnd) + 1); // past the colon
    const value = valueAt(buf, i);
    out.push({ key, value });
    i = skipWs(buf, value.end);
    if (buf[i] === 0x7d) return out;
    i = skipWs(buf, i + 1); // past the comma
  }
}

/** The elements of a validated array. One level only. */
export function arrayElements(buf: Buffer, arr: RawValue): RawValue[] {
  if (arr.kind !== 'array') throw new TypeError('arrayElements: not an array');
  const out: RawValue[] = [];
  let i = skipWs(buf, arr.start + 1);
  if (buf[i] === 0x5d) return out;
  for (;;) {
    const value = valueAt(buf, i);
    out.push(value);
    i = skipWs(buf, value.end);
    if (buf[i] === 0x5d) return out;
    i = skipWs(buf, i + 1);
  }
}

// ---------------------------------------------------------------------------------------------
// UTF-8 the way Go's unicode/utf8 sees it
// ---------------------------------------------------------------------------------------------

const RUNE_ERROR = 0xfffd;
const RUNE_ERROR_BYTES = Buffer.from([0xef, 0xbf, 0xbd]);

/**
 * utf8.DecodeRune: [rune, size]. Any invalid or truncated sequence, overlong form, surrogate or
 * value above U+10FFFF gives (U+FFFD, 1), so every bad byte is replaced separately — unlike the
 * WHATWG decoder behind TextDecoder/Buffer#toString, which replaces maximal subparts.
 */
export function decodeRuneGo(b: Uint8Array, i: number, end: number = b.length): [number, number] {
  const b0 = b[i];
  if (b0 < 0x80) return [b0, 1];
  const cont = (k: number, lo = 0x80, hi = 0xbf): number => {
    if (i + k >= end) return -1;
    const c = b[i + k];
    return c >= lo && c <= hi ? c & 0x3f : -1;
  };
  if (b0 >= 0xc2 && b0 <= 0xdf) {
    const c1 = cont(1);
    return c1 < 0 ? [RUNE_ERROR, 1] : [((b0 & 0x1f) << 6) | c1, 2];
  }
  if (b0 >= 0xe0 && b0 <= 0xef) {
    const lo = b0 === 0xe0 ? 0xa0 : 0x80;
    const hi = b0 === 0xed ? 0x9f : 0xbf; // ED A0..BF would be a surrogate
    const c1 = cont(1, lo, hi);
    const c2 = c1 < 0 ? -1 : cont(2);
    return c2 < 0 ? [RUNE_ERROR, 1] : [((b0 & 0x0f) << 12) | (c1 << 6) | c2, 3];
  }
  if (b0 >= 0xf0 && b0 <= 0xf4) {
    const lo = b0 === 0xf0 ? 0x90 : 0x80;
    const hi = b0 === 0xf4 ? 0x8f : 0xbf;
    const c1 = cont(1, lo, hi);
    const c2 = c1 < 0 ? -1 : cont(2);
    const c3 = c2 < 0 ? -1 : cont(3);
    return c3 < 0 ? [RUNE_ERROR, 1] : [((b0 & 0x07) << 18) | (c1 << 12) | (c2 << 6) | c3, 4];
  }
  return [RUNE_ERROR, 1];
}

/** utf8.EncodeRune (surrogates and out-of-range values become U+FFFD). */
function encodeRune(r: number): Buffer {
  if (r < 0 || r > 0x10ffff || (r >= 0xd800 && r <= 0xdfff)) return RUNE_ERROR_BYTES;
  return Buffer.from(String.fromCodePoint(r), 'utf8');
}

// ---------------------------------------------------------------------------------------------
// Strings: decode (decode.go unquoteBytes) and encode (encode.go encodeState.string)
// ---------------------------------------------------------------------------------------------

function getu4(b: Buffer, i: number): number {
  if (i + 6 > b.length || b[i] !== BACKSLASH || b[i + 1] !== 0x75) return -1;
  const s = b.toString('latin1', i + 2, i + 6);
  return /^[0-9a-fA-F]{4}$/.test(s) ? parseInt(s, 16) : -1;
}

const SIMPLE_ESCAPES: Record<number, number> = {
  0x22: 0x22, 0x5c: 0x5c, 0x2f: 0x2f, 0x27: 0x27,
  0x62: 0x08, 0x66: 0x0c, 0x6e: 0x0a, 0x72: 0x0d, 0x74: 0x09,
};

/**
 * Go's unquoteBytes: the bytes of a JSON string literal (with its quotes) → the Go string.
 * Escapes are resolved; a valid surrogate pair joins, a lone surrogate becomes U+FFFD; each
 * invalid UTF-8 byte becomes U+FFFD. The input must already be a valid literal.
 */
export function unquoteGo(lit: Buffer): Buffer {
  if (lit.length < 2 || lit[0] !== QUOTE || lit[lit.length - 1] !== QUOTE) {
    fail(JSON_ERR.SYNTAX, 'invalid JSON string literal');
  }
  const s = lit.subarray(1, lit.length - 1);
  const parts: Buffer[] = [];
  let start = 0;
  let r = 0;
  const flush = (to: number) => {
    if (start < to) parts.push(s.subarray(start, to));
  };
  while (r < s.length) {
    const c = s[r];
    if (c === BACKSLASH) {
      flush(r);
      const e = s[r + 1];
      if (e === 0x75) {
        let rr = getu4(s, r);
        if (rr < 0) fail(JSON_ERR.SYNTAX, 'invalid \\u escape');
        r += 6;
        if (rr >= 0xd800 && rr < 0xe000) {
          const rr1 = getu4(s, r);
          if (rr < 0xdc00 && rr1 >= 0xdc00 && rr1 < 0xe000) {
            parts.push(encodeRune(0x10000 + ((rr - 0xd800) << 10) + (rr1 - 0xdc00)));
            r += 6;
            start = r;
            continue;
          }
          rr = RUNE_ERROR; // invalid surrogate: replacement rune, the next escape is read on its own
        }
        parts.push(encodeRune(rr));
      } else if (e !== undefined && Object.hasOwn(SIMPLE_ESCAPES, e)) {
        parts.push(Buffer.of(SIMPLE_ESCAPES[e]));
        r += 2;
      } else {
        fail(JSON_ERR.SYNTAX, 'invalid escape in JSON string');
      }
      start = r;
    } else if (c === QUOTE || c < 0x20) {
      fail(JSON_ERR.SYNTAX, 'invalid character in JSON string');
    } else if (c < 0x80) {
      r++;
    } else {
      const [rune, size] = decodeRuneGo(s, r);
      if (rune === RUNE_ERROR && size === 1) {
        flush(r);
        parts.push(RUNE_ERROR_BYTES); // "coerce to well-formed UTF-8"
        start = r + 1;
      }
      r += size;
    }
  }
  flush(r);
  // common case, nothing to unescape: a view of the input (callers never write into buffers)
  return parts.length === 1 ? parts[0] : Buffer.concat(parts);
}

const HEX = '0123456789abcdef';
const QUOTE_BUF = Buffer.from('"');

/**
 * Go's encodeState.string with HTML escaping (json.Marshal): `"` and `\` escaped, \n \r \t,
 * other bytes < 0x20 and `<` `>` `&` as \u00XX, U+2028/U+2029 as \u2028/\u2029, each invalid
 * UTF-8 byte as \ufffd; everything else (including non-ASCII) is copied as is.
 */
export function marshalGoString(bytes: Uint8Array): Buffer {
  const s = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const parts: Buffer[] = [QUOTE_BUF];
  let start = 0;
  const flush = (to: number) => {
    if (start < to) parts.push(s.subarray(start, to));
  };
  for (let i = 0; i < s.length; ) {
    const b = s[i];
    if (b < 0x80) {
      if (b >= 0x20 && b !== 0x22 && b !== 0x5c && b !== 0x3c && b !== 0x3e && b !== 0x26) {
        i++;
        continue;
      }
      flush(i);
      if (b === 0x22 || b === 0x5c) parts.push(Buffer.from([0x5c, b]));
      else if (b === 0x0a) parts.push(Buffer.from('\\n'));
      else if (b === 0x0d) parts.push(Buffer.from('\\r'));
      else if (b === 0x09) parts.push(Buffer.from('\\t'));
      else parts.push(Buffer.from(`\\u00${HEX[b >> 4]}${HEX[b & 0xf]}`));
      i++;
      start = i;
      continue;
    }
    const [rune, size] = decodeRuneGo(s, i);
    if (rune === RUNE_ERROR && size === 1) {
      flush(i);
      parts.push(Buffer.from('\\ufffd'));
      i++;
      start = i;
      continue;
    }
    if (rune === 0x2028 || rune === 0x2029) {
      flush(i);
      parts.push(Buffer.from(`\\u202${HEX[rune & 0xf]}`));
      i += size;
      start = i;
      continue;
    }
    i += size;
  }
  flush(s.length);
  parts.push(QUOTE_BUF);
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// compact (indent.go compact with escape=true), as json.Marshal applies it to RawMessage values
// ---------------------------------------------------------------------------------------------

/**
 * Go's `compact(dst, src, escape=true)`: drop insignificant whitespace; write `<` `>` `&` as
 * \u003c \u003e \u0026 and U+2028/U+2029 as \u2028/\u2029. Every other byte — escapes, number
 * lexemes, key order, invalid UTF-8 — is kept. (Go escapes those characters wherever they occur,
 * but in valid JSON they can only occur inside strings.) Throws a coded error on invalid JSON,
 * as json.Marshal does.
 */
export function compactGo(raw: Buffer): Buffer {
  validateJson(raw);
  const parts: Buffer[] = [];
  let start = 0;
  let inString = false;
  let escaped = false;
  const flush = (to: number) => {
    if (start < to) parts.push(raw.subarray(start, to));
  };
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === 0x3c || c === 0x3e || c === 0x26) {
      flush(i);
      parts.push(Buffer.from(`\\u00${HEX[c >> 4]}${HEX[c & 0xf]}`));
      start = i + 1;
    } else if (c === 0xe2 && i + 2 < raw.length && raw[i + 1] === 0x80 && (raw[i + 2] & ~1) === 0xa8) {
      flush(i);
      parts.push(Buffer.from(`\\u202${HEX[raw[i + 2] & 0xf]}`));
      start = i + 3;
      i += 2; // both continuation bytes are inside the same string
      continue;
    }
    if (inString) {
      if (escaped) escaped = false;
      else if (c === BACKSLASH) escaped = true;
      else if (c === QUOTE) inString = false;
    } else if (c === QUOTE) {
      inString = true;
    } else if (isWs(c)) {
      flush(i);
      start = i + 1;
    }
  }
  if (start === 0) return raw; // nothing removed or escaped
  flush(raw.length);
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// map[string]*json.RawMessage round trip
// ---------------------------------------------------------------------------------------------

/**
 * json.Unmarshal into map[string]*json.RawMessage: top-level key (Go-unquoted, compared exactly:
 * map decoding is case-sensitive) → the value's raw bytes as written (not compacted).
 * Duplicate keys: the last one wins, as with Go's SetMapIndex.
 */
export function parseObjectRaw(raw: Buffer): Map<string, Buffer> {
  const doc = parseDocument(raw);
  if (doc.kind !== 'object') fail(JSON_ERR.TYPE, `expected a JSON object at the top level, found ${doc.kind}`);
  const out = new Map<string, Buffer>();
  for (const m of objectMembers(raw, doc)) {
    const key = m.key.toString('utf8'); // lossless: unquoteGo always yields valid UTF-8
    out.set(key, raw.subarray(m.value.start, m.value.end)); // a view; nothing here writes into buffers
  }
  return out;
}

const OPEN_BRACE = Buffer.from('{');
const CLOSE_BRACE = Buffer.from('}');
const COMMA = Buffer.from(',');
const COLON = Buffer.from(':');

/** Byte-wise comparison of two strings' UTF-8 forms (Go's string `<`). */
export function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * json.Marshal of a map[string]*json.RawMessage: keys sorted byte-wise and written with the Go
 * string encoder, each value compacted with compactGo. No whitespace, no trailing newline.
 */
export function marshalSortedObject(entries: Map<string, Buffer>): Buffer {
  const keys = [...entries.keys()].map((k) => ({ k, bytes: Buffer.from(k, 'utf8') })).sort((a, c) => Buffer.compare(a.bytes, c.bytes));
  const parts: Buffer[] = [OPEN_BRACE];
  keys.forEach(({ k, bytes }, n) => {
    if (n > 0) parts.push(COMMA);
    parts.push(marshalGoString(bytes), COLON, compactGo(entries.get(k)!));
  });
  parts.push(CLOSE_BRACE);
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------------------------------------
// Go struct decoding: which field a key lands in (decode.go object(), fold.go)
// ---------------------------------------------------------------------------------------------

const KELVIN = 0x212a; // K, folds to k
const LONG_S = 0x17f; // ſ, folds to s

/**
 * Go's field.equalFold for an ASCII field name: ASCII letters match either case, and (as in Go's
 * equalFoldRight) `k`/`s` also match the Kelvin sign U+212A and long s U+017F.
 */
export function goFoldEquals(fieldName: string, key: Uint8Array): boolean {
  let t = 0;
  for (let n = 0; n < fieldName.length; n++) {
    const sb = fieldName.charCodeAt(n);
    if (t >= key.length) return false;
    const tb = key[t];
    if (tb < 0x80) {
      if (sb !== tb) {
        const upper = sb & 0xdf;
        if (!(upper >= 0x41 && upper <= 0x5a) || upper !== (tb & 0xdf)) return false;
      }
      t++;
      continue;
    }
    const [tr, size] = decodeRuneGo(key, t);
    const lower = sb | 0x20;
    if (!((lower === 0x73 && tr === LONG_S) || (lower === 0x6b && tr === KELVIN))) return false;
    t += size;
  }
  return t === key.length;
}

/**
 * The struct field a (Go-unquoted) key decodes into: an exact match wins, otherwise the first
 * field, in declaration order, that matches case-insensitively; undefined = the key is ignored.
 */
export function matchStructField(key: Uint8Array, fieldNames: readonly string[]): string | undefined {
  let folded: string | undefined;
  for (const name of fieldNames) {
    if (key.length === name.length && asciiEquals(name, key)) return name;
    if (folded === undefined && goFoldEquals(name, key)) folded = name;
  }
  return folded;
}

function asciiEquals(name: string, key: Uint8Array): boolean {
  for (let i = 0; i < name.length; i++) if (key[i] !== name.charCodeAt(i)) return false;
  return true;
}

/**
 * The members of an object that land in the given struct fields, in document order, as Go's
 * decoder visits them (later ones overwrite or merge into earlier ones, see v1-image.ts).
 */
export function structMembers(buf: Buffer, obj: RawValue, fieldNames: readonly string[]): Array<{ field: string; value: RawValue }> {
  const out: Array<{ field: string; value: RawValue }> = [];
  for (const m of objectMembers(buf, obj)) {
    const field = matchStructField(m.key, fieldNames);
    if (field !== undefined) out.push({ field, value: m.value });
  }
  return out;
}

/**
 * A small safe reader: the raw value of one struct field of a top-level object, as Go's struct
 * decoding would pick it (the last member that maps to the field wins). Never builds JS objects
 * from keys, so `__proto__`/`constructor` are just keys.
 */
export function readStructField(buf: Buffer, fieldName: string, fieldNames: readonly string[] = [fieldName]): RawValue | undefined {
  const doc = parseDocument(buf);
  if (doc.kind !== 'object') return undefined;
  return structFieldOf(buf, doc, fieldName, fieldNames);
}

/** Same as readStructField, for a nested object already located. */
export function structFieldOf(buf: Buffer, obj: RawValue, fieldName: string, fieldNames: readonly string[] = [fieldName]): RawValue | undefined {
  let found: RawValue | undefined;
  for (const m of structMembers(buf, obj, fieldNames)) if (m.field === fieldName) found = m.value;
  return found;
}

/** The Go string of a raw string value; undefined for any other kind. */
export function rawString(buf: Buffer, v: RawValue | undefined): Buffer | undefined {
  if (!v || v.kind !== 'string') return undefined;
  return unquoteGo(buf.subarray(v.start, v.end));
}

/** The raw bytes of a value. */
export function rawBytes(buf: Buffer, v: RawValue): Buffer {
  return buf.subarray(v.start, v.end);
}

// ---------------------------------------------------------------------------------------------
// time.Time: UnmarshalJSON (Parse of `"` + RFC3339 + `"`) and MarshalJSON (RFC3339Nano)
// ---------------------------------------------------------------------------------------------

/** A parsed time: the wall clock as written and its offset (Go keeps both; Format prints them). */
export interface GoTime {
  year: number;
  month: number;
  day: number;
  hour: number;
  minute: number;
  second: number;
  nanosecond: number;
  /** offset east of UTC, in seconds */
  offsetSeconds: number;
}

/** Go's zero time.Time, what a missing `created` decodes to. */
export const GO_ZERO_TIME: GoTime = { year: 1, month: 1, day: 1, hour: 0, minute: 0, second: 0, nanosecond: 0, offsetSeconds: 0 };

/**
 * time.Date's normalisation of the day: Go 1.5's Parse accepts any day 00–31 in any month
 * (the "day out of range" check against the month only came in Go 1.8) and Date carries the
 * excess over, so 2015-02-30 is 2015-03-02 and 2015-01-00 is 2014-12-31.
 */
function normaliseDate(year: number, month: number, day: number): [number, number, number] {
  const d = new Date(0);
  d.setUTCFullYear(year, month - 1, day); // unlike Date.UTC, no 1900 offset for years 0–99
  return [d.getUTCFullYear(), d.getUTCMonth() + 1, d.getUTCDate()];
}

function timeError(text: string, why: string): never {
  fail(JSON_ERR.TIME, `cannot parse time ${JSON.stringify(text)} as RFC 3339 (${why}); Go's time.Parse rejects it`);
}

/**
 * time.Parse(time.RFC3339, s) as in Go 1.5: `YYYY-MM-DDThh:mm:ss[.fraction](Z|±hh:mm)`.
 * Go 1.5 quirks kept: the day may be 00–31 whatever the month, and is normalised like time.Date
 * does (2015-02-30 → 2015-03-02); the hour may have one digit (layout "15" is not zero-padded); the fraction
 * may have any number of digits but must be < 1e9 after reading (so > 9 significant digits fail);
 * the offset's hours and minutes are not range-checked. Only `.` starts a fraction (`,` is Go 1.17+).
 */
export function parseRFC3339Go(text: string): GoTime {
  let p = 0;
  const digits = (n: number): number => {
    const s = text.slice(p, p + n);
    if (s.length !== n || !/^[0-9]+$/.test(s)) timeError(text, `expected ${n} digits at ${p}`);
    p += n;
    return Number(s);
  };
  const lit = (c: string) => {
    if (text[p] !== c) timeError(text, `expected ${JSON.stringify(c)} at ${p}`);
    p++;
  };
  const year = digits(4);
  lit('-');
  const month = digits(2);
  if (month < 1 || month > 12) timeError(text, 'month out of range');
  lit('-');
  const day = digits(2);
  if (day > 31) timeError(text, 'day out of range');
  lit('T');
  const hour = isDigit(text.charCodeAt(p + 1)) ? digits(2) : digits(1);
  if (hour > 23) timeError(text, 'hour out of range');
  lit(':');
  const minute = digits(2);
  if (minute > 59) timeError(text, 'minute out of range');
  lit(':');
  const second = digits(2);
  if (second > 59) timeError(text, 'second out of range');
  let nanosecond = 0;
  if (text[p] === '.' && isDigit(text.charCodeAt(p + 1))) {
    let n = p + 1;
    while (isDigit(text.charCodeAt(n))) n++;
    const frac = text.slice(p + 1, n);
    // parseNanoseconds: atoi of all the digits must be < 1e9, then scale by 10^(9 - count)
    const value = BigInt(frac);
    if (value >= 1_000_000_000n) timeError(text, 'fractional second out of range');
    const scale = 9 - frac.length;
    nanosecond = scale >= 0 ? Number(value) * 10 ** scale : Number(value);
    p = n;
  }
  let offsetSeconds = 0;
  if (text[p] === 'Z') {
    p++;
  } else {
    const sign = text[p];
    if (sign !== '+' && sign !== '-') timeError(text, 'bad time zone');
    p++;
    const oh = digits(2);
    lit(':');
    const om = digits(2);
    offsetSeconds = (oh * 60 + om) * 60 * (sign === '-' ? -1 : 1);
  }
  if (p !== text.length) timeError(text, `extra text ${JSON.stringify(text.slice(p))}`);
  const [y, mo, d] = normaliseDate(year, month, day);
  return { year: y, month: mo, day: d, hour, minute, second, nanosecond, offsetSeconds };
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * t.Format(time.RFC3339Nano): fraction without trailing zeros (none at all when zero); "Z" for
 * any zero offset — Go's Format prints "Z" whenever the offset is 0, so a parsed "+00:00" comes
 * back as "Z" — and ±hh:mm otherwise. The wall clock is the one parsed (Go keeps the offset).
 */
export function formatRFC3339Nano(t: GoTime): string {
  // Time.MarshalJSON refuses years outside [0,9999]; only 0000-01-00 (→ year -1) gets there
  if (t.year < 0 || t.year > 9999) fail(JSON_ERR.TIME, `time in year ${t.year} cannot be marshalled (Go's Time.MarshalJSON refuses years outside [0,9999])`);
  let s = `${pad(t.year, 4)}-${pad(t.month, 2)}-${pad(t.day, 2)}T${pad(t.hour, 2)}:${pad(t.minute, 2)}:${pad(t.second, 2)}`;
  if (t.nanosecond !== 0) s += '.' + pad(t.nanosecond, 9).replace(/0+$/, '');
  if (t.offsetSeconds === 0) return s + 'Z';
  let minutes = Math.trunc(t.offsetSeconds / 60);
  const sign = minutes < 0 ? '-' : '+';
  minutes = Math.abs(minutes);
  return `${s}${sign}${pad(Math.trunc(minutes / 60), 2)}:${pad(minutes % 60, 2)}`;
}

/**
 * Re-render an RFC 3339 string the way Go's Parse + Format(RFC3339Nano) does; undefined (a
 * missing `created`) gives Go's zero time, "0001-01-01T00:00:00Z".
 */
export function reformatRFC3339Nano(text: string | undefined): string {
  return formatRFC3339Nano(text === undefined ? GO_ZERO_TIME : parseRFC3339Go(text));
}

/**
 * time.Time.UnmarshalJSON in Go 1.5: Parse(`"`+RFC3339+`"`, string(data)) on the raw bytes — no
 * JSON unquoting, so an escaped character in the string fails, and so does `null` (Go 1.5 had no
 * null special case; that came later).
 */
export function unmarshalGoTime(raw: Buffer): GoTime {
  const text = raw.toString('latin1');
  if (raw.length < 2 || raw[0] !== QUOTE || raw[raw.length - 1] !== QUOTE) {
    timeError(text, 'not a JSON string');
  }
  const inner = raw.subarray(1, raw.length - 1);
  if (inner.some((b) => b >= 0x80 || b === QUOTE || b === BACKSLASH)) timeError(text, 'unexpected character');
  return parseRFC3339Go(inner.toString('latin1'));
}

/** time.Time.MarshalJSON: the RFC3339Nano string, quoted (it never needs escaping). */
export function marshalGoTime(t: GoTime): Buffer {
  return Buffer.from(`"${formatRFC3339Nano(t)}"`, 'latin1');
}
