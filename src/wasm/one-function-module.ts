// The smallest WebAssembly modules, assembled by hand: one function exported as `update` and one
// fixed-size memory exported as `memory`. The CRC kernels (tar/crc64.ts, engine/compression/
// crc32.ts) are built this way; no toolchain, no binary blob in the repository.

export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const b = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (b & 0x40) === 0) || (n === -1 && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

export interface OneFunction {
  /** value types of the parameters and results (0x7f i32, 0x7e i64) */
  params: number[];
  results: number[];
  /** local declarations, encoded: count of groups, then (count, type) per group */
  locals: number[];
  /** the instructions, ending with END */
  code: number[];
  /** 64 KiB pages of memory (fixed: minimum = maximum) */
  pages: number;
}

const bytesOf = (s: string): number[] => [...s].map((ch) => ch.charCodeAt(0));

export function oneFunctionModule(f: OneFunction): Uint8Array {
  const section = (id: number, payload: number[]) => [id, ...uleb(payload.length), ...payload];
  const body = [...f.locals, ...f.code];
  const name = bytesOf('update');
  const memName = bytesOf('memory');
  return Uint8Array.from([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
    ...section(1, [0x01, 0x60, f.params.length, ...f.params, f.results.length, ...f.results]), // type 0
    ...section(3, [0x01, 0x00]), // function 0 has type 0
    ...section(5, [0x01, 0x01, ...uleb(f.pages), ...uleb(f.pages)]), // memory 0: fixed size
    ...section(7, [0x02, name.length, ...name, 0x00, 0x00, memName.length, ...memName, 0x02, 0x00]),
    ...section(10, [0x01, ...uleb(body.length), ...body]),
  ]);
}

/** The part of the WebAssembly global used here (lib "dom" is not loaded, so it is typed locally). */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
  Memory: new (descriptor: { initial: number; maximum?: number }) => { buffer: ArrayBuffer };
}

const WASM_PAGE_BYTES = 64 * 1024;

function wasmApi(): WasmApi {
  const wasm = (globalThis as unknown as { WebAssembly?: WasmApi }).WebAssembly;
  if (!wasm) throw new Error('no WebAssembly');
  return wasm;
}

/**
 * `bytes` (a multiple of 64 KiB) of WebAssembly memory: mapped by the engine, so it starts on a
 * page boundary, which a Buffer's memory need not. Throws when WebAssembly is unavailable.
 */
export function pageAlignedMemory(bytes: number): ArrayBuffer {
  if (bytes % WASM_PAGE_BYTES !== 0) throw new RangeError(`${bytes} is not a multiple of 64 KiB`);
  const pages = bytes / WASM_PAGE_BYTES;
  return new (wasmApi().Memory)({ initial: pages, maximum: pages }).buffer;
}

/** Instantiate a module built by oneFunctionModule; throws when WebAssembly is unavailable. */
export function instantiate(bytes: Uint8Array): { update: unknown; memory: ArrayBuffer } {
  const wasm = wasmApi();
  const instance = new wasm.Instance(new wasm.Module(bytes), {});
  return { update: instance.exports.update, memory: (instance.exports.memory as { buffer: ArrayBuffer }).buffer };
}
