// CRC-64/GO-ISO, the checksum tar-split stores for every file payload (Go's hash/crc64 with
// crc64.ISO: reflected polynomial 0xD800000000000000, init and final xor all ones).
//
// Every byte of every file body goes through here, so speed matters. Two implementations give
// the same values:
//  - a small WebAssembly function (built below, byte by byte, no toolchain) doing slicing-by-16
//    with native 64-bit registers on two interleaved streams (one table lookup per byte instead
//    of two, and two dependency chains instead of one): ~4.5x the JS loop;
//  - the JS fallback: the register kept as two 32-bit halves, slicing-by-8.
// The wasm instance is per thread (module state); its memory holds the tables and a 1 MiB input
// window that data is copied into (the copy costs ~5 % of the hashing), unless it was read
// straight into the window (crc64ReadWindow).
import { instantiate, oneFunctionModule, sleb, uleb } from '../wasm/one-function-module.js';

const TABLES = 16;
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

/** JS slicing-by-8 over buf[start, end); lo/hi is the inverted register. Returns [lo, hi]. */
function updateJs(lo: number, hi: number, buf: Uint8Array, start: number, end: number): [number, number] {
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
  return [lo >>> 0, hi >>> 0];
}

// ───────────────────────────── WebAssembly kernel ─────────────────────────────
//
// Memory: [0, 32 KiB) the 16 slice tables as little-endian i64 (table k at k*2048); [32 KiB, +8)
// the register; [40 KiB, 56 KiB) the 8 lane-shift tables (below); [64 KiB, 64 KiB + WINDOW) the
// input window. One exported function:
//   update(lo i32, hi i32, len i32): crc = ~(lo|hi<<32) register over window[0, len), stored at STATE.
//
// Why lanes: one slicing-by-16 round depends on the register the previous round left, so a
// single stream waits on its own chain of loads and xors (~1.1 cycles per byte here) while the
// core could do more. Each block of LANES × LANE_BYTES is hashed as LANES independent streams,
// interleaved round by round, lane 0 from the running register and the others from 0. CRC is
// linear, so the block's register is then
//   shift(…shift(shift(r0) ^ r1) ^ r2 …) ^ r(LANES-1)    (shift(r0) ^ r1 with two lanes)
// where shift(r) is r run through LANE_BYTES zero bytes: a fixed 64×64 bit matrix, applied as 8
// lookups in SHIFT tables (entry v of table j = shift of byte v at bit 8j). What is left after
// the blocks goes through the one-stream loop.

const STATE_OFFSET = 32 * 1024;
const SHIFT_OFFSET = 40 * 1024;
const WINDOW_OFFSET = 64 * 1024;
/** Bytes hashed per wasm call. */
const CRC64_WINDOW_BYTES = 1024 * 1024;
const PAGES = (WINDOW_OFFSET + CRC64_WINDOW_BYTES) / 65536;
/** Below this many bytes the JS loop is as fast as a copy plus a call. */
const WASM_MIN_BYTES = 64;
/**
 * Independent streams per block, and the bytes of each (a multiple of 16; LANES × LANE_BYTES a
 * power of two, the block loop masks the length with it). Measured on 1 MiB and 4 KiB updates:
 * 2 × 2 KiB hashes ~3.1 GB/s where one stream did ~2.0; 4 or 8 lanes are no faster (the core
 * runs out of ALU slots, not of independent work), and 4 KiB-block files still take the lanes.
 */
const LANES = 2;
const LANE_BYTES = 2048;

/** The SHIFT tables: lo/hi[j*256+v] = low/high half of shift(v << 8j). */
function shiftTables(): { lo: Uint32Array; hi: Uint32Array } {
  const zeros = new Uint8Array(LANE_BYTES);
  // shift of each single bit, then every byte value as the xor of its bits' shifts (linearity)
  const bitLo = new Uint32Array(64);
  const bitHi = new Uint32Array(64);
  for (let b = 0; b < 64; b++) {
    const lo = b < 32 ? (1 << b) >>> 0 : 0;
    const hi = b >= 32 ? (1 << (b - 32)) >>> 0 : 0;
    [bitLo[b], bitHi[b]] = updateJs(lo, hi, zeros, 0, LANE_BYTES);
  }
  const lo = new Uint32Array(8 * 256);
  const hi = new Uint32Array(8 * 256);
  for (let j = 0; j < 8; j++) {
    for (let v = 1; v < 256; v++) {
      let l = 0;
      let h = 0;
      for (let b = 0; b < 8; b++) {
        if (v & (1 << b)) {
          l ^= bitLo[8 * j + b];
          h ^= bitHi[8 * j + b];
        }
      }
      lo[j * 256 + v] = l >>> 0;
      hi[j * 256 + v] = h >>> 0;
    }
  }
  return { lo, hi };
}

/** The module's bytes: hand-assembled (see the layout above), about 1 KB. */
function wasmModuleBytes(): Uint8Array {
  // opcodes
  const BLOCK = 0x02, LOOP = 0x03, END = 0x0b, BR = 0x0c, BR_IF = 0x0d;
  const LGET = 0x20, LSET = 0x21;
  const I64_LOAD = 0x29, I64_LOAD8_U = 0x31, I64_STORE = 0x37;
  const I32_CONST = 0x41, I64_CONST = 0x42;
  const I32_GE_U = 0x4f, I32_ADD = 0x6a, I32_AND = 0x71, I32_SHL = 0x74;
  const I64_AND = 0x83, I64_OR = 0x84, I64_XOR = 0x85, I64_SHL = 0x86, I64_SHR_U = 0x88;
  const I32_WRAP_I64 = 0xa7, I64_EXTEND_I32_U = 0xad;
  const I32 = 0x7f, I64 = 0x7e, VOID = 0x40;
  // params: 0 lo, 1 hi, 2 len
  // i32 locals: 3 p, 4 end16, 5 end, 6 q (lane 0's position in a block), 7 qEnd, 8 blocksEnd
  // i64 locals: 9 crc (lane 0), 10 x, 11 y, 12… the registers of lanes 1…LANES-1
  const P = 3, END16 = 4, ENDP = 5, Q = 6, QEND = 7, BLOCKS_END = 8, CRC = 9, X = 10, Y = 11;
  const laneReg = (k: number) => (k === 0 ? CRC : 11 + k);
  const BLOCK_BYTES = LANES * LANE_BYTES;
  if ((BLOCK_BYTES & (BLOCK_BYTES - 1)) !== 0 || LANE_BYTES % 16 !== 0) throw new Error('crc64 lanes: block must be a power of two of 16-byte rounds');
  const c: number[] = [];
  const i32c = (v: number) => c.push(I32_CONST, ...sleb(v));
  const i64c = (v: number) => c.push(I64_CONST, ...sleb(v));
  const mem = (op: number, align: number, offset: number) => c.push(op, ...uleb(align), ...uleb(offset));
  // one lookup: the i64 at tableOffset + 8 * ((v >> shift) & 0xff), left on the stack
  const lookup = (v: number, shift: number, tableOffset: number) => {
    c.push(LGET, v);
    if (shift > 0) {
      // (v >> shift) * 8 as one shift by shift - 3, masked to bits 3..10
      i64c(shift - 3);
      c.push(I64_SHR_U, I32_WRAP_I64);
    } else {
      c.push(I32_WRAP_I64);
      i32c(3);
      c.push(I32_SHL);
    }
    i32c(0x7f8);
    c.push(I32_AND);
    mem(I64_LOAD, 3, tableOffset);
  };
  // one slicing-by-16 round of register `reg` over the 16 bytes at local `at` + offset:
  // x = load(at + offset) ^ reg, y = load(at + offset + 8); bytes 0..15 → tables 15..0
  const round = (reg: number, at: number, offset: number) => {
    c.push(LGET, at);
    mem(I64_LOAD, 3, WINDOW_OFFSET + offset);
    c.push(LGET, reg, I64_XOR, LSET, X);
    c.push(LGET, at);
    mem(I64_LOAD, 3, WINDOW_OFFSET + offset + 8);
    c.push(LSET, Y);
    for (let j = 0; j < 8; j++) {
      lookup(X, 8 * j, (15 - j) * 2048);
      if (j > 0) c.push(I64_XOR);
    }
    for (let j = 0; j < 8; j++) {
      lookup(Y, 8 * j, (7 - j) * 2048);
      c.push(I64_XOR);
    }
    c.push(LSET, reg);
  };

  // crc = (u64)lo | (u64)hi << 32
  c.push(LGET, 0, I64_EXTEND_I32_U, LGET, 1, I64_EXTEND_I32_U);
  i64c(32);
  c.push(I64_SHL, I64_OR, LSET, CRC);
  // positions are relative to the window (the memory offsets add WINDOW_OFFSET):
  // p = 0; end = len; end16 = len & ~15; blocksEnd = len - len % BLOCK_BYTES
  c.push(LGET, 2, LSET, ENDP);
  c.push(LGET, 2);
  i32c(-16);
  c.push(I32_AND, LSET, END16);
  c.push(LGET, 2);
  i32c(-BLOCK_BYTES);
  c.push(I32_AND, LSET, BLOCKS_END);
  // whole blocks: LANES streams side by side, then folded into crc
  c.push(BLOCK, VOID, LOOP, VOID);
  c.push(LGET, P, LGET, BLOCKS_END, I32_GE_U, BR_IF, 1);
  for (let k = 1; k < LANES; k++) {
    i64c(0);
    c.push(LSET, laneReg(k));
  }
  c.push(LGET, P, LSET, Q);
  c.push(LGET, P);
  i32c(LANE_BYTES);
  c.push(I32_ADD, LSET, QEND);
  c.push(BLOCK, VOID, LOOP, VOID);
  c.push(LGET, Q, LGET, QEND, I32_GE_U, BR_IF, 1);
  for (let k = 0; k < LANES; k++) round(laneReg(k), Q, k * LANE_BYTES);
  c.push(LGET, Q);
  i32c(16);
  c.push(I32_ADD, LSET, Q, BR, 0, END, END);
  for (let k = 1; k < LANES; k++) {
    // crc = shift(crc) ^ lane k
    for (let j = 0; j < 8; j++) {
      lookup(CRC, 8 * j, SHIFT_OFFSET + j * 2048);
      if (j > 0) c.push(I64_XOR);
    }
    c.push(LGET, laneReg(k), I64_XOR, LSET, CRC);
  }
  c.push(LGET, P);
  i32c(BLOCK_BYTES);
  c.push(I32_ADD, LSET, P, BR, 0, END, END);
  // the rest, one stream, 16 bytes per round
  c.push(BLOCK, VOID, LOOP, VOID);
  c.push(LGET, P, LGET, END16, I32_GE_U, BR_IF, 1);
  round(CRC, P, 0);
  c.push(LGET, P);
  i32c(16);
  c.push(I32_ADD, LSET, P, BR, 0, END, END);
  // the tail, byte by byte: x = crc ^ b; crc = T0[x & 0xff] ^ (crc >> 8)
  c.push(BLOCK, VOID, LOOP, VOID);
  c.push(LGET, P, LGET, ENDP, I32_GE_U, BR_IF, 1);
  c.push(LGET, CRC, LGET, P);
  mem(I64_LOAD8_U, 0, WINDOW_OFFSET);
  c.push(I64_XOR, LSET, X);
  lookup(X, 0, 0);
  c.push(LGET, CRC);
  i64c(8);
  c.push(I64_SHR_U, I64_XOR, LSET, CRC);
  c.push(LGET, P);
  i32c(1);
  c.push(I32_ADD, LSET, P, BR, 0, END, END);
  // store the register
  i32c(STATE_OFFSET);
  c.push(LGET, CRC);
  mem(I64_STORE, 3, 0);
  c.push(END);

  const locals = [0x02, 0x06, I32, 2 + LANES, I64]; // 2 groups: 6 × i32, (2 + LANES) × i64
  return oneFunctionModule({ params: [I32, I32, I32], results: [], locals, code: c, pages: PAGES }); // (i32, i32, i32) → ()
}

/** Write 64-bit entries given as low/high halves into wasm memory at `offset`, little-endian. */
function storeI64Table(memory: ArrayBuffer, offset: number, lo: Uint32Array, hi: Uint32Array): void {
  const words = new Uint32Array(memory, offset, lo.length * 2);
  for (let i = 0; i < lo.length; i++) {
    words[2 * i] = lo[i];
    words[2 * i + 1] = hi[i];
  }
}

interface WasmKernel {
  update: (lo: number, hi: number, len: number) => void;
  /** the input window */
  window: Uint8Array;
  state: Uint32Array;
}

let kernel: WasmKernel | null | undefined;

function wasmKernel(): WasmKernel | null {
  if (kernel !== undefined) return kernel;
  try {
    if (process.env.LEGACY2OCI_CRC64 === 'js') throw new Error('disabled');
    const instance = instantiate(wasmModuleBytes());
    storeI64Table(instance.memory, 0, TAB_LO, TAB_HI);
    const shift = shiftTables();
    storeI64Table(instance.memory, SHIFT_OFFSET, shift.lo, shift.hi);
    kernel = {
      update: instance.update as (lo: number, hi: number, len: number) => void,
      window: new Uint8Array(instance.memory, WINDOW_OFFSET, CRC64_WINDOW_BYTES),
      state: new Uint32Array(instance.memory, STATE_OFFSET, 2),
    };
  } catch {
    kernel = null;
  }
  return kernel;
}

/**
 * This thread's CRC input window (1 MiB of WebAssembly memory) as a Buffer to read file data
 * into: Crc64.update of data at its start needs no copy. Whatever is there is overwritten by
 * the next Crc64.update of other data, so use it only as the read buffer of one producer that
 * hands each piece on before reading the next. Null without WebAssembly.
 */
export function crc64ReadWindow(): Buffer | null {
  const k = wasmKernel();
  return k ? Buffer.from(k.window.buffer, k.window.byteOffset, k.window.byteLength) : null;
}

/** Which implementation this thread uses ('js' without WebAssembly or with LEGACY2OCI_CRC64=js). */
export function crc64Implementation(): 'wasm' | 'js' {
  return wasmKernel() ? 'wasm' : 'js';
}

/** Incremental CRC-64/ISO. `digest()` gives the 8 big-endian bytes tar-split stores (base64) in `payload`. */
export class Crc64 {
  // the register, stored inverted (Go's ^crc at start and end)
  private lo = 0xffffffff;
  private hi = 0xffffffff;

  update(buf: Uint8Array, start = 0, end = buf.length): this {
    const k = end - start >= WASM_MIN_BYTES ? wasmKernel() : null;
    if (!k) {
      [this.lo, this.hi] = updateJs(this.lo, this.hi, buf, start, end);
      return this;
    }
    let lo = this.lo;
    let hi = this.hi;
    if (buf.buffer === k.window.buffer && buf.byteOffset + start === WINDOW_OFFSET) {
      // read straight into the window (crc64ReadWindow): nothing to copy
      k.update(lo, hi, end - start);
      this.lo = k.state[0];
      this.hi = k.state[1];
      return this;
    }
    let at = start;
    while (at < end) {
      const n = Math.min(end - at, CRC64_WINDOW_BYTES);
      k.window.set(buf.subarray(at, at + n));
      k.update(lo, hi, n);
      lo = k.state[0];
      hi = k.state[1];
      at += n;
    }
    this.lo = lo;
    this.hi = hi;
    return this;
  }

  /** Start over (one instance serves every file of a replay). */
  reset(): this {
    this.lo = 0xffffffff;
    this.hi = 0xffffffff;
    return this;
  }

  /** Whether the CRC is `expected`, 8 bytes big-endian as digest() gives them, without making a digest. */
  matches(expected: Uint8Array): boolean {
    if (expected.length !== 8) return false;
    const hi = ((expected[0] << 24) | (expected[1] << 16) | (expected[2] << 8) | expected[3]) >>> 0;
    const lo = ((expected[4] << 24) | (expected[5] << 16) | (expected[6] << 8) | expected[7]) >>> 0;
    return hi === (~this.hi) >>> 0 && lo === (~this.lo) >>> 0;
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
