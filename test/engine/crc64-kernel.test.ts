// The CRC-64 used to verify every replayed file body: the WebAssembly kernel and the JS loop
// (LEGACY2OCI_CRC64=js, in a child process) give the same values for every length and split.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { Crc64, crc64, crc64Implementation } from '../../src/tar/crc64.js';
import { PROJECT_ROOT } from '../helpers/env.js';

/** Deterministic bytes (sha256 counter mode), so the child can rebuild them. */
function bytes(n: number, seed: string): Buffer {
  const out = Buffer.alloc(n);
  for (let i = 0, k = 0; i < n; k++) i += createHash('sha256').update(`${seed}/${k}`).digest().copy(out, i);
  return out;
}

const CASES: Array<[number, number[]]> = [[0, [1]], [63, [7]], [64, [64]], [65, [16]], [1000, [1, 2, 3]], [4095, [4095]], [4096, [4096]], [4097, [4097]], [3 * 4096 + 17, [3 * 4096 + 17]], [70_000, [2048, 4096 + 16, 6000]], [3 * 1024 * 1024 + 5, [1024 * 1024, 333_333]], [2 * 1024 * 1024, [2 * 1024 * 1024]]];

function compute(): string[] {
  return CASES.map(([n, steps]) => {
    const data = bytes(n, `crc/${n}`);
    const c = new Crc64();
    for (let off = 0, i = 0; off < data.length; i++) {
      const step = steps[i % steps.length];
      c.update(data, off, Math.min(data.length, off + step));
      off += step;
    }
    const whole = crc64(data).toString('hex');
    assert.equal(c.digest().toString('hex'), whole);
    return whole;
  });
}

test('this thread uses the WebAssembly kernel', () => {
  assert.equal(crc64Implementation(), 'wasm');
});

test('WebAssembly kernel == JS loop, for every length and split', () => {
  const here = compute();
  const url = pathToFileURL(join(PROJECT_ROOT, 'dist', 'src', 'tar', 'crc64.js')).href;
  const script = `
    import { createHash } from 'node:crypto';
    const { Crc64, crc64Implementation } = await import(${JSON.stringify(url)});
    const cases = ${JSON.stringify(CASES)};
    const bytes = ${bytes.toString()};
    if (crc64Implementation() !== 'js') throw new Error('not js');
    console.log(JSON.stringify(cases.map(([n]) => new Crc64().update(bytes(n, 'crc/' + n)).digest().toString('hex'))));`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, LEGACY2OCI_CRC64: 'js' }, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), here);
});
