// PAX extended header records ("<len> <key>=<value>\n"). Keys are UTF-8 text; values are raw
// bytes (binary xattr values, non-UTF-8 paths), never JS strings.

export type PaxRecord = readonly [key: string, value: Buffer];

/** One record; `len` counts every byte of the record including its own digits. */
export function encodePaxRecord(key: string, value: Buffer): Buffer {
  if (key.length === 0 || key.includes('=') || key.includes('\n') || key.includes('\0')) {
    throw new RangeError(`invalid PAX key ${JSON.stringify(key)}`);
  }
  const keyBytes = Buffer.from(key, 'utf8');
  const rest = 1 + keyBytes.length + 1 + value.length + 1; // ' ' key '=' value '\n'
  let len = rest + String(rest).length;
  // adding the digits can add a digit (e.g. 98 + 2 = 100 → 3 digits)
  if (String(len).length !== String(rest).length) len = rest + String(len).length;
  return Buffer.concat([Buffer.from(`${len} `, 'latin1'), keyBytes, Buffer.from('=', 'latin1'), value, Buffer.from('\n', 'latin1')]);
}

/**
 * Records sorted by key bytes, so the same set always gives the same bytes (Go 1.5 wrote map
 * order, which made legacy Docker PAX headers irreproducible). Duplicate keys are refused.
 */
export function encodePaxRecords(records: Iterable<PaxRecord>): Buffer {
  const list = [...records].map(([k, v]) => ({ k, kb: Buffer.from(k, 'utf8'), v }));
  list.sort((a, b) => Buffer.compare(a.kb, b.kb));
  for (let i = 1; i < list.length; i++) {
    if (list[i].k === list[i - 1].k) throw new RangeError(`duplicate PAX key ${JSON.stringify(list[i].k)}`);
  }
  return Buffer.concat(list.map(({ k, v }) => encodePaxRecord(k, v)));
}

/**
 * Parse PAX records; later records win (POSIX). Keys are decoded as UTF-8 (latin1 would do for
 * the keys that matter here); values stay Buffers. Throws RangeError on malformed data.
 */
export function parsePaxRecords(data: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < data.length) {
    // GNU tar and Go stop at NUL padding
    if (data[pos] === 0) break;
    const sp = data.indexOf(0x20, pos);
    if (sp === -1 || sp - pos > 20) throw new RangeError(`malformed PAX record at offset ${pos}`);
    const lenText = data.toString('latin1', pos, sp);
    if (!/^[0-9]+$/.test(lenText)) throw new RangeError(`malformed PAX record length ${JSON.stringify(lenText)}`);
    const len = Number(lenText);
    const end = pos + len;
    if (len <= sp - pos + 1 || end > data.length || data[end - 1] !== 0x0a) {
      throw new RangeError(`malformed PAX record at offset ${pos}`);
    }
    const eq = data.indexOf(0x3d, sp + 1);
    if (eq === -1 || eq >= end - 1) throw new RangeError(`PAX record without '=' at offset ${pos}`);
    out.set(data.toString('utf8', sp + 1, eq), Buffer.from(data.subarray(eq + 1, end - 1)));
    pos = end;
  }
  return out;
}
