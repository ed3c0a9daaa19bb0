// CRC-64/GO-ISO, the checksum tar-split stores for every file payload (Go's hash/crc64 with
// crc64.ISO: reflected polynomial 0xD800000000000000, init and final xor all ones).
// JS has no fast 64-bit integers, so the register is kept as two 32-bit halves and the
// update uses slicing-by-8 (eight tables per half): file bodies go through here byte for byte.

const TABLES = 8;
/** TAB_LO[k*256+i] / TAB_HI[k*256+i]: low / high 32 bits of slice table k, entry i. */
const TAB_LO = new Uint32Array(TABLES * 256);
const TAB_HI = new Uint32Array(TABLES * 256);

(function buildTables() {
  const POLY_HI = 0xd8000000; // 0xD800000000000000 reflected ISO polynomial; low half is 0
  for (let i = 0; i < 256; i++) {
    let lo = i;
    let hi = 0;
    for (let b = 0; b < 8; b++) {
      const lsb = lo & 1;
      lo = ((lo >>> 1) | (hi << 31)) >>> 0;
      hi = hi >>> 1;
      if (lsb) hi = (hi ^ POLY_HI) >>> 0;
    }
    TAB_LO[i] = lo;
    TAB_HI[i] = hi;
  }
  for (let k = 1; k < TABLES; k++) {
    for (let i = 0; i < 256; i++) {
      const pLo = TAB_LO[(k - 1) * 256 + i];
      const pHi = TAB_HI[(k - 1) * 256 + i];
      const idx = pLo & 0xff;
      TAB_LO[k * 256 + i] = (((pLo >>> 8) | (pHi << 24)) ^ TAB_LO[idx]) >>> 0;
      TAB_HI[k * 256 + i] = ((pHi >>> 8) ^ TAB_HI[idx]) >>> 0;
    }
  }
})();

/** Incremental CRC-64/ISO. `digest()` gives the 8 big-endian bytes tar-split stores (base64) in `payload`. */
export class Crc64 {
  // the register, stored inverted (Go's ^crc at start and end)
  private lo = 0xffffffff;
  private hi = 0xffffffff;

  update(buf: Uint8Array, start = 0, end = buf.length): this {
    let lo = this.lo;
    let hi = this.hi;
    let i = start;
    const fastEnd = end - 8;
    while (i <= fastEnd) {
      lo ^= buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24);
      hi ^= buf[i + 4] | (buf[i + 5] << 8) | (buf[i + 6] << 16) | (buf[i + 7] << 24);
      const a = 7 * 256 + (lo & 0xff);
      const b = 6 * 256 + ((lo >>> 8) & 0xff);
      const c = 5 * 256 + ((lo >>> 16) & 0xff);
      const d = 4 * 256 + (lo >>> 24);
      const e = 3 * 256 + (hi & 0xff);
      const f = 2 * 256 + ((hi >>> 8) & 0xff);
      const g = 256 + ((hi >>> 16) & 0xff);
      const h = hi >>> 24;
      lo = TAB_LO[a] ^ TAB_LO[b] ^ TAB_LO[c] ^ TAB_LO[d] ^ TAB_LO[e] ^ TAB_LO[f] ^ TAB_LO[g] ^ TAB_LO[h];
      hi = TAB_HI[a] ^ TAB_HI[b] ^ TAB_HI[c] ^ TAB_HI[d] ^ TAB_HI[e] ^ TAB_HI[f] ^ TAB_HI[g] ^ TAB_HI[h];
      i += 8;
    }
    for (; i < end; i++) {
      const idx = (lo ^ buf[i]) & 0xff;
      lo = ((lo >>> 8) | (hi << 24)) ^ TAB_LO[idx];
      hi = (hi >>> 8) ^ TAB_HI[idx];
    }
    this.lo = lo >>> 0;
    this.hi = hi >>> 0;
    return this;
  }

  /** The CRC as 8 bytes, big-endian (Go's `Sum(nil)`). */
  digest(): Buffer {
    const out = Buffer.alloc(8);
    out.writeUInt32BE((~this.hi) >>> 0, 0);
    out.writeUInt32BE((~this.lo) >>> 0, 4);
    return out;
  }
}

/** One-shot CRC-64/ISO of a buffer, as 8 big-endian bytes. */
export function crc64(buf: Uint8Array): Buffer {
  return new Crc64().update(buf).digest();
}
