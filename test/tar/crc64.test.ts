// CRC-64/ISO as tar-split computes it (Go hash/crc64, crc64.ISO), check values from legacy-formats.md §3.3.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Crc64, crc64 } from '../../src/tar/crc64.js';

test('check values: "123456789", "hello\\n", empty', () => {
  assert.equal(crc64(Buffer.from('123456789')).toString('hex'), 'b90956c775a41001');
  assert.equal(crc64(Buffer.from('hello\n')).toString('hex'), '614c3eeee2d81000');
  assert.equal(crc64(Buffer.from('hello\n')).toString('base64'), 'YUw+7uLYEAA=');
  assert.equal(crc64(Buffer.alloc(0)).toString('hex'), '0000000000000000');
  // tar-split payload seen in oci-and-consumers.md §5 for "keep\n"
  assert.equal(crc64(Buffer.from('keep\n')).toString('base64'), 'YV6i0trAAAA=');
});

test('incremental updates in any split equal the one-shot value (slicing-by-8 vs byte loop)', () => {
  const data = randomBytes(100_003);
  const whole = crc64(data).toString('hex');
  for (const step of [1, 3, 7, 8, 9, 4096, 65_537]) {
    const c = new Crc64();
    for (let i = 0; i < data.length; i += step) c.update(data.subarray(i, Math.min(data.length, i + step)));
    assert.equal(c.digest().toString('hex'), whole, `step ${step}`);
  }
  const c = new Crc64().update(data, 0, 50_000).update(data, 50_000, data.length);
  assert.equal(c.digest().toString('hex'), whole);
});

test('matches a straightforward BigInt reference', () => {
  const poly = 0xd800000000000000n;
  const mask = (1n << 64n) - 1n;
  const ref = (buf: Buffer): string => {
    let crc = mask;
    for (const b of buf) {
      crc ^= BigInt(b);
      for (let k = 0; k < 8; k++) crc = crc & 1n ? (crc >> 1n) ^ poly : crc >> 1n;
    }
    return (crc ^ mask).toString(16).padStart(16, '0');
  };
  for (let n = 0; n < 40; n++) {
    const buf = randomBytes(n * 13);
    assert.equal(crc64(buf).toString('hex'), ref(buf));
  }
});

test('matches() agrees with digest().equals() and reset() starts over', () => {
  const c = new Crc64();
  for (let i = 0; i < 200; i++) {
    const data = randomBytes(i * 37);
    c.reset().update(data);
    const d = crc64(data);
    assert.equal(c.matches(d), true);
    assert.deepEqual(c.digest(), d);
    for (let j = 0; j < 8; j++) {
      const wrong = Buffer.from(d);
      wrong[j] ^= 1 << (i % 8);
      assert.equal(c.matches(wrong), false, `byte ${j} flipped`);
    }
    assert.equal(c.matches(d.subarray(0, 7)), false);
    assert.equal(c.matches(Buffer.concat([d, Buffer.alloc(1)])), false);
  }
});
