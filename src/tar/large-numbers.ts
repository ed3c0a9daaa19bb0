// Numbers in tar header fields: octal text when the value fits, GNU base-256 otherwise.
// Base-256 (a GNU extension read by GNU tar, Go's archive/tar, bsdtar and tar-stream): the first
// byte has its high bit set, the rest of the field is the value in two's complement, big-endian;
// 0x80 marks a positive value, 0xff a negative one.

/** Largest value an octal field of `fieldLen` bytes holds (fieldLen-1 digits and a NUL). */
export function maxOctal(fieldLen: number): bigint {
  return (1n << BigInt(3 * (fieldLen - 1))) - 1n;
}

/** `value` as zero-padded octal digits followed by a NUL, or null when it does not fit / is negative. */
export function encodeOctal(value: bigint | number, fieldLen: number): Buffer | null {
  const v = BigInt(value);
  if (v < 0n || v > maxOctal(fieldLen)) return null;
  return Buffer.from(v.toString(8).padStart(fieldLen - 1, '0') + '\0', 'latin1');
}

/** Whether `value` can be written in base-256 in a field of `fieldLen` bytes. */
export function fitsBase256(value: bigint | number, fieldLen: number): boolean {
  const v = BigInt(value);
  const bits = BigInt(8 * fieldLen - 1);
  return v >= -(1n << bits) && v < (1n << bits);
}

/** `value` in GNU base-256 two's complement; throws RangeError when it does not fit. */
export function encodeBase256(value: bigint | number, fieldLen: number): Buffer {
  let v = BigInt(value);
  if (!fitsBase256(v, fieldLen)) throw new RangeError(`${v} does not fit a ${fieldLen}-byte base-256 field`);
  const out = Buffer.alloc(fieldLen);
  const negative = v < 0n;
  if (negative) v = (1n << BigInt(8 * fieldLen)) + v; // two's complement
  for (let i = fieldLen - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  out[0] = negative ? 0xff : (out[0] | 0x80);
  return out;
}

/** Octal if it fits, otherwise base-256. Throws RangeError when neither fits. */
export function encodeNumeric(value: bigint | number, fieldLen: number): Buffer {
  return encodeOctal(value, fieldLen) ?? encodeBase256(value, fieldLen);
}

/**
 * Read a numeric field: base-256 when the high bit of the first byte is set, otherwise octal
 * text (leading/trailing spaces and NULs ignored, as GNU and Go readers do). Throws on junk.
 */
export function decodeNumeric(field: Uint8Array): bigint {
  if (field.length > 0 && (field[0] & 0x80) !== 0) {
    let v = BigInt(field[0] & 0x7f);
    const negative = field[0] === 0xff;
    if (negative) v = 0xffn;
    for (let i = 1; i < field.length; i++) v = (v << 8n) | BigInt(field[i]);
    if (negative) v -= 1n << BigInt(8 * field.length);
    return v;
  }
  let s = 0;
  let e = field.length;
  while (s < e && (field[s] === 0x20 || field[s] === 0)) s++;
  // the digits end at the first NUL or space
  let d = s;
  while (d < e && field[d] !== 0 && field[d] !== 0x20) d++;
  e = d;
  if (s === e) return 0n;
  // Up to 17 octal digits (51 bits) are summed exactly in a double, and one BigInt is made at
  // the end: a BigInt step per digit cost more than the rest of a header check. Header fields
  // have at most 11 digits; longer text (PAX-free oddities) takes the BigInt loop.
  if (e - s <= 17) {
    let n = 0;
    for (let i = s; i < e; i++) {
      const c = field[i] - 0x30;
      if (c < 0 || c > 7) throw invalidOctal(field);
      n = n * 8 + c;
    }
    return BigInt(n);
  }
  let v = 0n;
  for (let i = s; i < e; i++) {
    const c = field[i] - 0x30;
    if (c < 0 || c > 7) throw invalidOctal(field);
    v = v * 8n + BigInt(c);
  }
  return v;
}

function invalidOctal(field: Uint8Array): RangeError {
  return new RangeError(`invalid octal digit in numeric field: ${JSON.stringify(Buffer.from(field).toString('latin1'))}`);
}
