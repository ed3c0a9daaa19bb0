// The block-parallel zlib gzip engine: the bytes depend only on the input and the level (not on
// --jobs, the thread timing or how the input was split), the stream is the documented format
// (1 MiB raw-deflate blocks with the previous 32 KiB as dictionary, sync-flushed, one gzip
// member), --jobs caps the blocks in flight, and independent readers take it: gzip -t, pigz,
// zlib, and Go's compress/gzip through umoci (unpack) and skopeo (decompressing copy).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants as zc, crc32 as zlibCrc32, deflateRawSync, gunzipSync } from 'node:zlib';
import { createGzipCompressor, GZIP_BLOCK_BYTES } from '../../src/engine/compression/gzip.js';
import { crc32 } from '../../src/engine/compression/crc32.js';
import { LayerPipeline } from '../../src/engine/layer-pipeline.js';
import { putBlob } from '../../src/oci/blob-store.js';
import { needTools, run } from '../helpers/env.js';

let work = '';
before(() => {
  work = mkdtempSync(join(tmpdir(), 'l2o-pgzip-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MiB = GZIP_BLOCK_BYTES;

/** Compressible text runs and random bytes, so blocks differ in ratio and speed. */
function sample(size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size);
  const words = Buffer.from(`lorem ipsum dolor sit amet ${seed} consectetur adipiscing elit sed do eiusmod tempor\n`);
  for (let i = 0; i < size; i++) out[i] = words[(i * 7 + (i >> 11)) % words.length];
  for (let at = 0; at + 70_000 < size; at += 300_000) randomBytes(70_000).copy(out, at);
  return out;
}

async function gzipWith(data: Buffer, level: number, threads: number, pieces: number[]): Promise<{ bytes: Buffer; peak: number }> {
  const parts: Buffer[] = [];
  const c = createGzipCompressor(level, (b) => parts.push(Buffer.from(b)), { threads });
  let off = 0;
  let i = 0;
  while (off < data.length) {
    const n = Math.min(pieces[i++ % pieces.length], data.length - off);
    // the caller may reuse its buffer once released: hand over copies the compressor may keep
    const wait = c.write(Buffer.from(data.subarray(off, off + n)));
    if (wait) await wait;
    off += n;
  }
  await c.end();
  return { bytes: Buffer.concat(parts), peak: c.peakInFlight };
}

/** The format, rebuilt independently with synchronous zlib calls. */
function referenceGzip(data: Buffer, level: number): Buffer {
  const parts: Buffer[] = [Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, level === 9 ? 2 : level === 1 ? 4 : 0, 0xff])];
  const blocks = Math.floor(data.length / MiB);
  for (let k = 0; k <= blocks; k++) {
    const input = data.subarray(k * MiB, Math.min(data.length, (k + 1) * MiB));
    const last = k === blocks;
    const opts: Parameters<typeof deflateRawSync>[1] = { level, memLevel: 8, windowBits: 15, finishFlush: last ? zc.Z_FINISH : zc.Z_SYNC_FLUSH };
    if (k > 0) opts.dictionary = data.subarray(k * MiB - 32 * 1024, k * MiB);
    parts.push(deflateRawSync(input, opts));
  }
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE(zlibCrc32(data) >>> 0, 0);
  trailer.writeUInt32LE(data.length % 2 ** 32, 4);
  parts.push(trailer);
  return Buffer.concat(parts);
}

describe('block-parallel gzip (zlib engine)', () => {
  const data = sample(5 * MiB + 4321);

  test('same bytes for any --jobs and any input split; equal to the documented format', async () => {
    const ref = referenceGzip(data, 6);
    for (const [threads, pieces] of [[1, [MiB]], [2, [512, 100_000, 3]], [3, [MiB * 2 + 1]], [8, [65_536]]] as const) {
      const { bytes } = await gzipWith(data, 6, threads, [...pieces]);
      assert.ok(bytes.equals(ref), `threads ${threads}, pieces ${pieces}`);
    }
    assert.deepEqual(gunzipSync(ref), data);
    // one member: the stream ends right after the first member's trailer
    assert.equal(ref.subarray(ref.length - 8).readUInt32LE(4), data.length);
  });

  test('--jobs caps the blocks being deflated at once', async () => {
    for (const threads of [1, 2, 4]) {
      const { peak } = await gzipWith(data, 1, threads, [MiB]);
      assert.ok(peak >= 1 && peak <= threads, `threads ${threads}: peak ${peak}`);
    }
    const { peak } = await gzipWith(data, 1, 4, [MiB]);
    assert.ok(peak > 1, 'blocks do run in parallel when allowed');
  });

  test('edges: empty, one byte, exactly one block, a block and one byte, exactly two blocks', async () => {
    for (const size of [0, 1, MiB, MiB + 1, 2 * MiB]) {
      const d = sample(size, size);
      const { bytes } = await gzipWith(d, 6, 2, [MiB]);
      assert.ok(bytes.equals(referenceGzip(d, 6)), `size ${size}`);
      assert.deepEqual(gunzipSync(bytes), d, `size ${size}`);
    }
  });

  test('levels 1 and 9 set XFL like zlib; every level round-trips', async () => {
    for (const level of [1, 4, 9]) {
      const { bytes } = await gzipWith(data.subarray(0, 2 * MiB + 7), level, 2, [MiB]);
      assert.equal(bytes[8], level === 9 ? 2 : level === 1 ? 4 : 0);
      assert.deepEqual(gunzipSync(bytes), data.subarray(0, 2 * MiB + 7));
    }
  });

  test('the CRC-32 kernel agrees with zlib.crc32, incrementally and at every length', () => {
    const big = randomBytes(3 * MiB + 17);
    assert.equal(crc32(big), zlibCrc32(big) >>> 0);
    let c = 0;
    for (let off = 0; off < big.length; off += 777_777) c = crc32(big.subarray(off, off + 777_777), c);
    assert.equal(c, zlibCrc32(big) >>> 0);
    for (let n = 0; n < 200; n++) {
      const b = randomBytes(n);
      assert.equal(crc32(b, n * 31), zlibCrc32(b, n * 31) >>> 0, `length ${n}`);
    }
  });

  test('gzip -t, gzip -d and pigz -d read it', { skip: needTools('gzip', 'pigz') }, async () => {
    const { bytes } = await gzipWith(data, 6, 2, [MiB]);
    const path = join(work, 'blob.gz');
    writeFileSync(path, bytes);
    run('gzip', ['-t', path]);
    assert.ok(run('gzip', ['-dc', path]).equals(data));
    assert.ok(run('pigz', ['-dc', path]).equals(data));
  });
});

describe('Go readers (umoci, skopeo) take a multi-block layer', { skip: needTools('tar', 'umoci', 'skopeo') }, () => {
  test('umoci unpacks it to the same tree; skopeo decompresses it to the diffID', async () => {
    // a real layer tar of ~4 MiB (several blocks), written by GNU tar
    const src = join(work, 'tree');
    mkdirSync(join(src, 'data'), { recursive: true });
    writeFileSync(join(src, 'data', 'text'), sample(2 * MiB + 999, 5));
    writeFileSync(join(src, 'data', 'random'), randomBytes(MiB + 12345));
    for (let i = 0; i < 50; i++) writeFileSync(join(src, 'data', `small-${i}`), `file ${i}\n`.repeat(i + 1));
    const tar = run('tar', ['--format=pax', '--sort=name', '--numeric-owner', '-C', src, '-cf', '-', 'data']);
    const layout = join(work, 'layout');
    mkdirSync(layout, { recursive: true });
    const pipeline = new LayerPipeline(layout, { algorithm: 'gzip', level: 6, engine: 'zlib' }, 2);
    for (let off = 0; off < tar.length; off += 300_000) {
      const wait = pipeline.write(tar.subarray(off, off + 300_000));
      if (wait) await wait;
    }
    const layer = await pipeline.finish();
    assert.equal(layer.diffID, sha(tar));
    assert.ok(layer.size > 3 * 10_000);
    writeFileSync(join(layout, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const config = putBlob(layout, JSON.stringify({ architecture: 'amd64', os: 'linux', config: {}, rootfs: { type: 'layers', diff_ids: [layer.diffID] }, history: [{ created_by: 'test' }] }));
    const manifest = putBlob(layout, JSON.stringify({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: config.digest, size: config.size },
      layers: [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
    }));
    writeFileSync(join(layout, 'index.json'), JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest.digest, size: manifest.size, annotations: { 'org.opencontainers.image.ref.name': 'test' } }],
    }));

    const rootfs = join(work, 'rootfs');
    run('umoci', ['raw', 'unpack', '--image', `${layout}:test`, rootfs]);
    const contents = (dir: string) => readdirSync(dir).sort().map((n) => `${n} ${sha(readFileSync(join(dir, n)))}`);
    assert.deepEqual(contents(join(rootfs, 'data')), contents(join(src, 'data')));

    // skopeo decompresses (Go's compress/gzip) into a dir: layout, naming the layer by its digest
    const plain = join(work, 'plain');
    run('skopeo', ['copy', '-q', '--dest-decompress', `oci:${layout}:test`, `dir:${plain}`]);
    const m = JSON.parse(readFileSync(join(plain, 'manifest.json'), 'utf8'));
    assert.equal(sha(readFileSync(join(plain, m.layers[0].digest.slice(7)))), layer.diffID);
    assert.equal(m.layers[0].digest, layer.diffID, 'Go decompressed exactly the tar');
  });
});
