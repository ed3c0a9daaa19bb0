// CRC-32 (the gzip trailer's: IEEE 802.3, reflected 0xEDB88320) for the block-parallel gzip
// engine, which must checksum the whole layer on the worker's own thread. Node 20's
// zlib.crc32 runs at ~0.5-0.8 GB/s here; this small WebAssembly slicing-by-16 kernel (built
// byte by byte below, no toolchain) does ~3x that, which matters because this thread also
// replays, CRC-64-checks and hashes the same bytes. zlib.crc32 is the fallback.
import { crc32 as zlibCrc32 } from 'node:zlib';
import { instantiate, oneFunctionModule, sleb, uleb } from '../../wasm/one-function-module.js';

const TABLES = 16;
const TABLE = new Uint32Array(TABLES * 256);
(function buildTables() {
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
    TABLE[i] = c >>> 0;
  }
  for (let t = 1; t < TABLES; t++) {
    for (let i = 0; i < 256; i++) {
      const p = TABLE[(t - 1) * 256 + i];
      TABLE[t * 256 + i] = ((p >>> 8) ^ TABLE[p & 0xff]) >>> 0;
    }
  }
})();

// Memory: [0, 16 KiB) tables (table t at t*1024); [64 KiB, +1 MiB) the input window.
// update(crc i32, len i32) → i32: the (inverted) register over window[0, len).
const WINDOW_OFFSET = 64 * 1024;
const WINDOW_BYTES = 1024 * 1024;
const PAGES = (WINDOW_OFFSET + WINDOW_BYTES) / 65536;

function wasmModuleBytes(): Uint8Array {
  const BLOCK = 0x02, LOOP = 0x03, END = 0x0b, BR = 0x0c, BR_IF = 0x0d;
  const LGET = 0x20, LSET = 0x21;
  const I32_LOAD = 0x28, I32_LOAD8_U = 0x2d;
  const I32_CONST = 0x41;
  const I32_GE_U = 0x4f, I32_ADD = 0x6a, I32_AND = 0x71, I32_XOR = 0x73, I32_SHL = 0x74, I32_SHR_U = 0x76;
  const I32 = 0x7f, VOID = 0x40;
  // params: 0 crc, 1 len; locals: 2 p, 3 end16, 4 end, 5 a, 6 b, 7 c, 8 d
  const CRC = 0, LEN = 1, P = 2, END16 = 3, ENDP = 4, A = 5, B = 6, C = 7, D = 8;
  const c: number[] = [];
  const i32c = (v: number) => c.push(I32_CONST, ...sleb(v));
  const mem = (op: number, align: number, offset: number) => c.push(op, ...uleb(align), ...uleb(offset));
  // table[t][(v >> shift) & 0xff] on the stack
  const lookup = (v: number, shift: number, t: number) => {
    c.push(LGET, v);
    if (shift > 0) {
      i32c(shift);
      c.push(I32_SHR_U);
    }
    if (shift < 24) {
      i32c(0xff);
      c.push(I32_AND);
    }
    i32c(2);
    c.push(I32_SHL);
    mem(I32_LOAD, 2, t * 1024);
  };
  i32c(WINDOW_OFFSET);
  c.push(LSET, P);
  c.push(LGET, P, LGET, LEN, I32_ADD, LSET, ENDP);
  c.push(LGET, P, LGET, LEN);
  i32c(-16);
  c.push(I32_AND, I32_ADD, LSET, END16);
  c.push(BLOCK, VOID, LOOP, VOID);
  c.push(LGET, P, LGET, END16, I32_GE_U, BR_IF, 1);
  c.push(LGET, P);
  mem(I32_LOAD, 2, 0);
  c.push(LGET, CRC, I32_XOR, LSET, A);
  for (const [local, off] of [[B, 4], [C, 8], [D, 12]] as const) {
    c.push(LGET, P);
    mem(I32_LOAD, 2, off);
    c.push(LSET, local);
  }
  // bytes 0..15 of the round → tables 15..0
  let first = true;
  for (const [local, base] of [[A, 15], [B, 11], [C, 7], [D, 3]] as const) {
    for (let j = 0; j < 4; j++) {
      lookup(local, 8 * j, base - j);
      if (!first) c.push(I32_XOR);
      first = false;
    }
  }
  c.push(LSET, CRC);
  c.push(LGET, P);
  i32c(16);
  c.push(I32_ADD, LSET, P, BR, 0, END, END);
  // tail: crc = T0[(crc ^ b) & 0xff] ^ (crc >>> 8)
  c.push(BLOCK, VOID, LOOP, VOID);
  c.push(LGET, P, LGET, ENDP, I32_GE_U, BR_IF, 1);
  c.push(LGET, CRC, LGET, P);
  mem(I32_LOAD8_U, 0, 0);
  c.push(I32_XOR, LSET, A);
  lookup(A, 0, 0);
  c.push(LGET, CRC);
  i32c(8);
  c.push(I32_SHR_U, I32_XOR, LSET, CRC);
  c.push(LGET, P);
  i32c(1);
  c.push(I32_ADD, LSET, P, BR, 0, END, END);
  c.push(LGET, CRC, END);

  return oneFunctionModule({ params: [I32, I32], results: [I32], locals: [0x01, 0x07, I32], code: c, pages: PAGES }); // 7 i32 locals
}

interface Kernel {
  update: (crc: number, len: number) => number;
  window: Uint8Array;
}

let kernel: Kernel | null | undefined;

function wasmKernel(): Kernel | null {
  if (kernel !== undefined) return kernel;
  try {
    if (process.env.LEGACY2OCI_CRC32 === 'zlib') throw new Error('disabled');
    const instance = instantiate(wasmModuleBytes());
    new Uint32Array(instance.memory, 0, TABLES * 256).set(TABLE);
    kernel = { update: instance.update as Kernel['update'], window: new Uint8Array(instance.memory, WINDOW_OFFSET, WINDOW_BYTES) };
  } catch {
    kernel = null;
  }
  return kernel;
}

/** CRC-32 of `data` continuing from `value` (0 to start), like zlib.crc32(data, value). */
export function crc32(data: Uint8Array, value = 0): number {
  const k = data.length >= 64 ? wasmKernel() : null;
  if (!k) return zlibCrc32(data, value) >>> 0;
  let crc = ~value >>> 0;
  for (let at = 0; at < data.length; at += WINDOW_BYTES) {
    const n = Math.min(WINDOW_BYTES, data.length - at);
    k.window.set(data.subarray(at, at + n));
    crc = k.update(crc, n) >>> 0;
  }
  return ~crc >>> 0;
}
