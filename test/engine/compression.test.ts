// The compression registry and the layer pipeline (tar bytes → diffID → compressor → digest → blob).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { UsageError, LayerError, OutputError } from '../../src/errors.js';
import {
  DEFAULT_COMPRESSION, LAYER_MEDIA_TYPES, compressionAlgorithm, createCompressor, defaultCompression, engineAvailable, formatCompression, layerMediaType, parseCompression,
} from '../../src/engine/compression/index.js';
import { LayerPipeline, COALESCE_BYTES } from '../../src/engine/layer-pipeline.js';
import { HOLD_BYTES, childShell } from '../../src/engine/compression/file-child.js';
import { zstdChildEnv } from '../../src/engine/compression/zstd.js';
import { spawnSync } from 'node:child_process';
import type { CompressionSpec } from '../../src/engine/types.js';
import { needTools, run } from '../helpers/env.js';

let work = '';
before(() => {
  work = mkdtempSync(join(tmpdir(), 'l2o-compress-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** Semi-compressible test data: text-like runs and random bytes. */
function sample(size: number): Buffer {
  const out = Buffer.alloc(size);
  const words = Buffer.from('lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor\n');
  for (let i = 0; i < size; i++) out[i] = words[(i * 7 + (i >> 12)) % words.length];
  randomBytes(Math.floor(size / 8)).copy(out, Math.floor(size / 2));
  return out;
}

/** Feed `data` through a pipeline in pieces of the given sizes (cycled), like a tar producer would. */
async function pipe(data: Buffer, spec: CompressionSpec, outDir: string | null, pieces: number[]) {
  const p = new LayerPipeline(outDir, spec);
  let off = 0;
  let i = 0;
  while (off < data.length) {
    const n = Math.min(pieces[i++ % pieces.length], data.length - off);
    const wait = p.write(data.subarray(off, off + n));
    if (wait) await wait;
    off += n;
  }
  return p.finish();
}

describe('parseCompression', () => {
  test('accepted forms', () => {
    assert.deepEqual(parseCompression('none'), { algorithm: 'none', engine: 'none' });
    assert.deepEqual(parseCompression('gzip'), { algorithm: 'gzip', level: 6, engine: 'zlib' });
    assert.deepEqual(parseCompression('gzip:1'), { algorithm: 'gzip', level: 1, engine: 'zlib' });
    assert.deepEqual(parseCompression('gzip:zlib'), { algorithm: 'gzip', level: 6, engine: 'zlib' });
    assert.deepEqual(parseCompression('gzip:zlib:9'), { algorithm: 'gzip', level: 9, engine: 'zlib' });
    assert.deepEqual(parseCompression('gzip:fast'), { algorithm: 'gzip', level: 3, engine: 'igzip' });
    assert.deepEqual(parseCompression('gzip:igzip'), { algorithm: 'gzip', level: 3, engine: 'igzip' });
    assert.deepEqual(parseCompression('gzip:igzip:0'), { algorithm: 'gzip', level: 0, engine: 'igzip' });
    assert.deepEqual(parseCompression('zstd'), { algorithm: 'zstd', level: 3, engine: 'zstd-cli' });
    assert.deepEqual(parseCompression('zstd:19'), { algorithm: 'zstd', level: 19, engine: 'zstd-cli' });
    assert.equal(formatCompression(parseCompression('gzip')), 'gzip:6');
    assert.equal(formatCompression(parseCompression('gzip:zlib:1')), 'gzip:1');
    assert.equal(formatCompression(parseCompression('gzip:fast')), 'gzip:igzip:3');
    assert.equal(formatCompression({ algorithm: 'none' }), 'none');
    for (const text of ['none', 'gzip:1', 'gzip:igzip:2', 'zstd:7']) assert.equal(formatCompression(parseCompression(text)), text);
    assert.deepEqual(DEFAULT_COMPRESSION, { algorithm: 'gzip', level: 6, engine: 'zlib' });
  });

  test('the default is igzip when installed, else zlib level 6', () => {
    const d = defaultCompression();
    if (engineAvailable({ algorithm: 'gzip', engine: 'igzip' })) assert.deepEqual(d, { algorithm: 'gzip', level: 3, engine: 'igzip' });
    else assert.deepEqual(d, DEFAULT_COMPRESSION);
  });

  test('junk is a UsageError', () => {
    for (const junk of ['', 'gz', 'gzip:', 'gzip:0', 'gzip:10', 'gzip:x', 'zstd:20', 'zstd:-1', 'none:1', 'GZIP', 'gzip:6:1', 'toString', '__proto__', 'constructor:1',
      'gzip:igzip:4', 'gzip:pigz', 'gzip:fast:1', 'zstd:zlib', 'none:zlib', 'gzip:zlib:0', 'gzip:constructor', 'gzip:igzip:']) {
      assert.throws(() => parseCompression(junk), (err: unknown) => err instanceof UsageError && err.code === 'E_USAGE', junk);
    }
  });

  test('media types follow the algorithm; bad specs from elsewhere are LayerErrors', () => {
    assert.equal(layerMediaType({ algorithm: 'none' }), 'application/vnd.oci.image.layer.v1.tar');
    assert.equal(layerMediaType({ algorithm: 'gzip', level: 1 }), 'application/vnd.oci.image.layer.v1.tar+gzip');
    assert.equal(layerMediaType({ algorithm: 'zstd' }), 'application/vnd.oci.image.layer.v1.tar+zstd');
    assert.deepEqual(Object.keys(LAYER_MEDIA_TYPES).sort(), ['gzip', 'none', 'zstd']);
    assert.throws(() => compressionAlgorithm({ algorithm: 'lz4' as never }), LayerError);
    assert.throws(() => compressionAlgorithm({ algorithm: 'gzip', level: 42 }), LayerError);
    assert.throws(() => compressionAlgorithm({ algorithm: 'gzip', engine: 'pigz' }), LayerError);
    assert.throws(() => compressionAlgorithm({ algorithm: 'gzip', engine: 'igzip', level: 6 }), LayerError);
    assert.equal(layerMediaType({ algorithm: 'gzip', engine: 'igzip', level: 3 }), LAYER_MEDIA_TYPES.gzip);
  });
});

describe('compressors', () => {
  const data = sample(3 * COALESCE_BYTES + 12345);

  test('gzip: deterministic, no name, mtime 0, fixed OS byte, round-trips', async () => {
    const a = await pipe(data, { algorithm: 'gzip', level: 6 }, join(work, 'gz'), [512, 100_000, 3]);
    const b = await pipe(data, { algorithm: 'gzip', level: 6 }, join(work, 'gz2'), [COALESCE_BYTES * 2]);
    assert.equal(a.digest, b.digest);
    assert.equal(a.diffID, sha(data));
    assert.equal(a.compressor, `zlib:6@${process.versions.zlib}`);
    assert.equal(a.mediaType, LAYER_MEDIA_TYPES.gzip);
    const blob = readFileSync(join(work, 'gz', 'blobs', 'sha256', a.digest.slice(7)));
    assert.equal(sha(blob), a.digest);
    assert.equal(blob.length, a.size);
    assert.deepEqual([...blob.subarray(0, 10)], [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
    assert.deepEqual(gunzipSync(blob), data);
    const one = await pipe(data, { algorithm: 'gzip', level: 1 }, null, [4096]);
    assert.notEqual(one.digest, a.digest);
    assert.equal(one.diffID, a.diffID);
  });

  test('zstd: deterministic, decompresses with the zstd CLI', { skip: needTools('zstd') }, async () => {
    const a = await pipe(data, { algorithm: 'zstd', level: 3 }, join(work, 'zs'), [777, 65536]);
    const b = await pipe(data, { algorithm: 'zstd' }, null, [COALESCE_BYTES]);
    assert.equal(a.digest, b.digest);
    assert.match(a.compressor, /^zstd-cli:3@\d+\.\d+\.\d+$/);
    assert.equal(a.mediaType, LAYER_MEDIA_TYPES.zstd);
    const path = join(work, 'zs', 'blobs', 'sha256', a.digest.slice(7));
    assert.deepEqual(run('zstd', ['-dc', path]), data);
    run('zstd', ['-t', path]);
  });

  test('zstd children run with glibc malloc on huge pages (GLIBC_TUNABLES), in every mode, keeping a tunable the user set', { skip: needTools('zstd') }, async () => {
    assert.equal(zstdChildEnv({}).GLIBC_TUNABLES, 'glibc.malloc.hugetlb=1');
    assert.equal(zstdChildEnv({ GLIBC_TUNABLES: 'glibc.malloc.arena_max=2' }).GLIBC_TUNABLES, 'glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1');
    assert.equal(zstdChildEnv({ GLIBC_TUNABLES: 'glibc.malloc.hugetlb=0' }).GLIBC_TUNABLES, 'glibc.malloc.hugetlb=0', 'the user decides');
    assert.equal(zstdChildEnv({ PATH: '/x' }).PATH, '/x', 'the rest of the environment is passed on');
    // a `zstd` first on PATH that logs what it was given, then runs the real one
    const real = spawnSync('sh', ['-c', 'command -v zstd'], { encoding: 'utf8' }).stdout.trim();
    const bin = join(work, 'logging-zstd');
    const log = join(work, 'zstd-env.log');
    mkdirSync(bin, { recursive: true });
    writeFileSync(join(bin, 'zstd'), `#!/bin/sh\nprintf '%s %s\\n' "$1" "$GLIBC_TUNABLES" >> '${log}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    try {
      const input = sample(3 * HOLD_BYTES + 5);
      const streamed = await pipe(input, { algorithm: 'zstd', level: 3 }, join(work, 'zenv-fifo'), [COALESCE_BYTES]); // FIFO into the blob file
      const piped = await pipe(input, { algorithm: 'zstd', level: 3 }, null, [COALESCE_BYTES]); // stdin/stdout pipes
      await pipe(sample(1000), { algorithm: 'zstd', level: 3 }, join(work, 'zenv-small'), [COALESCE_BYTES]); // one synchronous run
      assert.equal(streamed.digest, piped.digest);
      const byCli = Buffer.from(spawnSync(real, ['-q', '-c', '-3', '-T1', '--check', '--no-progress'], { input, maxBuffer: 1 << 28 }).stdout);
      assert.equal(streamed.digest, sha(byCli), 'the same bytes as the CLI run without the tunable');
    } finally {
      process.env.PATH = saved;
    }
    const runs = readFileSync(log, 'utf8').trim().split('\n').filter((l) => l.startsWith('-q '));
    assert.equal(runs.length, 3, readFileSync(log, 'utf8'));
    for (const line of runs) assert.match(line, /(^| |:)glibc\.malloc\.hugetlb=1$/, line);
  });

  test('none: the blob is the tar', async () => {
    const r = await pipe(data, { algorithm: 'none' }, join(work, 'none'), [1000]);
    assert.equal(r.digest, r.diffID);
    assert.equal(r.size, data.length);
    assert.equal(r.uncompressedSize, data.length);
    assert.equal(r.compressor, 'none');
  });

  test('igzip: deterministic, no name, mtime 0, OS 255, one member, round-trips', { skip: needTools('igzip') }, async () => {
    const a = await pipe(data, { algorithm: 'gzip', level: 3, engine: 'igzip' }, join(work, 'ig'), [512, 100_000, 3]);
    const b = await pipe(data, { algorithm: 'gzip', level: 3, engine: 'igzip' }, null, [COALESCE_BYTES * 2]);
    assert.equal(a.digest, b.digest);
    assert.equal(a.diffID, sha(data));
    assert.match(a.compressor, /^igzip:3@\d+\.\d+(\.\d+)?$/);
    assert.equal(a.mediaType, LAYER_MEDIA_TYPES.gzip);
    const path = join(work, 'ig', 'blobs', 'sha256', a.digest.slice(7));
    const blob = readFileSync(path);
    assert.deepEqual([...blob.subarray(0, 4)], [0x1f, 0x8b, 8, 0]);
    assert.deepEqual([...blob.subarray(4, 8)], [0, 0, 0, 0], 'mtime 0');
    assert.equal(blob[9], 0xff);
    assert.deepEqual(gunzipSync(blob), data);
    run('gzip', ['-t', path]);
    const other = await pipe(data, { algorithm: 'gzip', level: 1, engine: 'igzip' }, null, [4096]);
    assert.notEqual(other.digest, a.digest);
  });

  test('a missing igzip binary is a coded error', async () => {
    const saved = process.env.PATH;
    process.env.PATH = join(work, 'no-such-dir');
    try {
      await assert.rejects(pipe(data, { algorithm: 'gzip', level: 3, engine: 'igzip' }, null, [COALESCE_BYTES]), (err: unknown) => err instanceof LayerError && err.code === 'E_COMPRESSOR_MISSING' && /isal/.test(err.message));
    } finally {
      process.env.PATH = saved;
    }
  });

  test('spawned engines writing straight into the blob file (FIFO in, file out) give the bytes of the pipe mode and leave no temp or FIFO behind', { skip: needTools('igzip', 'zstd') }, async () => {
    for (const spec of [{ algorithm: 'gzip', level: 3, engine: 'igzip' }, { algorithm: 'zstd', level: 3 }] as CompressionSpec[]) {
      const dir = join(work, `file-mode-${spec.algorithm}`);
      const inFile = await pipe(data, spec, dir, [COALESCE_BYTES, 7, 300_000]);
      const inPipe = await pipe(data, spec, null, [COALESCE_BYTES]);
      assert.equal(inFile.digest, inPipe.digest, spec.algorithm);
      assert.equal(inFile.size, inPipe.size, spec.algorithm);
      assert.deepEqual(readdirSync(join(dir, 'blobs', 'sha256')), [inFile.digest.slice(7)], 'only the blob is left');
    }
    // a PATH with the shell and mkfifo but no igzip: the child exits 127
    const bin = join(work, 'sh-only');
    mkdirSync(bin);
    for (const tool of ['sh', 'mkfifo']) symlinkSync(run('sh', ['-c', `command -v ${tool}`]).toString().trim(), join(bin, tool));
    const saved = process.env.PATH;
    process.env.PATH = bin;
    const dir = join(work, 'file-mode-missing');
    try {
      const p = new LayerPipeline(dir, { algorithm: 'gzip', level: 3, engine: 'igzip' });
      await assert.rejects(async () => {
        try {
          await p.write(data);
          await p.finish();
        } catch (err) {
          p.abort(); // what processLayer does with a failed layer
          throw err;
        }
      }, (err: unknown) => err instanceof LayerError && err.code === 'E_COMPRESSOR_MISSING' && /isal/.test(err.message));
    } finally {
      process.env.PATH = saved;
    }
    assert.deepEqual(readdirSync(join(dir, 'blobs', 'sha256')), [], 'no temp file or FIFO after a failure');
  });

  test('small layers (under HOLD_BYTES) run the tool once, synchronously: the same bytes as streaming and as the CLI itself', { skip: needTools('igzip', 'zstd') }, async () => {
    const cases: [CompressionSpec, string[]][] = [
      [{ algorithm: 'gzip', level: 3, engine: 'igzip' }, ['igzip', '-c', '-3', '-n', '-q']],
      [{ algorithm: 'zstd', level: 3 }, ['zstd', '-q', '-c', '-3', '-T1', '--check', '--no-progress']],
    ];
    for (const [spec, cliArgs] of cases) {
      for (const size of [0, 1024, 700_000, HOLD_BYTES - 1, HOLD_BYTES, 3 * HOLD_BYTES + 5]) {
        const input = sample(size);
        const dir = join(work, `small-${spec.algorithm}-${size}`);
        const inFile = await pipe(input, spec, dir, [COALESCE_BYTES, 100_000]);
        const inPipe = await pipe(input, spec, null, [COALESCE_BYTES]);
        assert.equal(inFile.digest, inPipe.digest, `${spec.algorithm} ${size}`);
        const byCli = Buffer.from(spawnSync(cliArgs[0], cliArgs.slice(1), { input, maxBuffer: 1 << 28 }).stdout);
        if (spec.algorithm === 'gzip') byCli[9] = 0xff; // the OS byte both engines write
        assert.equal(inFile.digest, sha(byCli), `${spec.algorithm} ${size}: the CLI's own bytes`);
        assert.deepEqual(readdirSync(join(dir, 'blobs', 'sha256')), [inFile.digest.slice(7)], 'only the blob is left');
      }
    }
  });

  test('a small layer starts one process (the tool), a big one the FIFO shell (strace)', { skip: needTools('igzip', 'strace') }, () => {
    const script = (size: number): string => `
      import { LayerPipeline } from ${JSON.stringify(new URL('../../src/engine/layer-pipeline.js', import.meta.url).href)};
      const p = new LayerPipeline(${JSON.stringify(join(work, 'strace-small'))}, { algorithm: 'gzip', level: 3, engine: 'igzip' });
      const data = Buffer.alloc(${size}, 7);
      for (let off = 0; off < data.length; off += 1 << 20) { const w = p.write(data.subarray(off, off + (1 << 20))); if (w) await w; }
      await p.finish();`;
    const execs = (size: number): string[] => {
      const r = spawnSync('strace', ['-f', '-e', 'trace=execve', '-qq', process.execPath, '--input-type=module', '-e', script(size)], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      // the programs really started (execvp tries every PATH entry first)
      return [...r.stderr.matchAll(/execve\("([^"]+)".*= 0$/gm)].map((m) => m[1].split('/').pop()!).filter((b) => b !== 'node');
    };
    const small = execs(2048); // igzip twice: `igzip --version` (the compressor's name), then the run
    assert.ok(small.includes('igzip') && !small.includes('sh') && !small.includes('mkfifo'), small.join());
    const big = execs(3 * HOLD_BYTES);
    assert.ok(big.includes('sh') && big.includes('mkfifo') && big.includes('igzip'), big.join());
  });

  test('a spawned compressor whose parent dies before opening the FIFO does not stay blocked (watchdog)', () => {
    const fifo = join(work, 'orphan.fifo');
    const started = Date.now();
    // nobody ever opens the writing end, as after a SIGKILL of the exporter
    const r = spawnSync('sh', ['-c', childShell(1), 'sh', fifo, 'cat'], { timeout: 20_000 });
    assert.equal(r.signal, 'SIGKILL', 'killed by its watchdog, not by the test timeout');
    assert.ok(Date.now() - started < 10_000);
  });

  test('empty input', async () => {
    const r = await pipe(Buffer.alloc(0), { algorithm: 'gzip' }, null, [1]);
    assert.equal(r.diffID, sha(Buffer.alloc(0)));
    assert.equal(r.uncompressedSize, 0);
    assert.deepEqual(gunzipSync(await gzipOf(Buffer.alloc(0))), Buffer.alloc(0));
  });

  test('a missing zstd binary is a coded error, not a hang', async () => {
    const saved = process.env.PATH;
    process.env.PATH = join(work, 'no-such-dir');
    try {
      await assert.rejects(pipe(data, { algorithm: 'zstd' }, null, [COALESCE_BYTES]), (err: unknown) => err instanceof LayerError && err.code === 'E_COMPRESSOR_MISSING');
    } finally {
      process.env.PATH = saved;
    }
  });

  test('a failing sink (e.g. ENOSPC) keeps its coded error through gzip and zstd', { skip: needTools('zstd') }, async () => {
    for (const spec of [{ algorithm: 'gzip' }, { algorithm: 'zstd' }] as CompressionSpec[]) {
      const c = createCompressor(spec, () => {
        throw new OutputError('E_OUTPUT_NOSPACE', 'no space left');
      });
      const big = randomBytes(4 * COALESCE_BYTES);
      let err: unknown;
      try {
        for (let i = 0; i < 4; i++) await c.write(big.subarray(i * COALESCE_BYTES, (i + 1) * COALESCE_BYTES));
        await c.end();
      } catch (e) {
        err = e;
      }
      assert.ok(err instanceof OutputError && err.code === 'E_OUTPUT_NOSPACE', `${spec.algorithm}: ${err}`);
    }
  });

  test('abort stops a compressor and its child', { skip: needTools('zstd') }, async () => {
    const c = createCompressor({ algorithm: 'zstd' }, () => {});
    await c.write(Buffer.alloc(10));
    c.abort();
    await assert.rejects(c.end());
  });
});

async function gzipOf(data: Buffer): Promise<Buffer> {
  const parts: Buffer[] = [];
  const c = createCompressor({ algorithm: 'gzip', level: 6 }, (chunk) => parts.push(Buffer.from(chunk)));
  if (data.length) await c.write(data);
  await c.end();
  return Buffer.concat(parts);
}

describe('pipeline and the blob store', () => {
  test('outDir null writes nothing; abort leaves no temp file; rerun reuses the verified blob; a wrong blob is replaced', async () => {
    const data = sample(100_000);
    const dry = await pipe(data, { algorithm: 'gzip', level: 1 }, null, [999]);
    const out = join(work, 'store');
    const first = await pipe(data, { algorithm: 'gzip', level: 1 }, out, [999]);
    assert.equal(first.digest, dry.digest);
    assert.equal(first.reused, false);
    const again = await pipe(data, { algorithm: 'gzip', level: 1 }, out, [50_000]);
    assert.equal(again.reused, true);
    const path = join(out, 'blobs', 'sha256', first.digest.slice(7));
    writeFileSync(path, Buffer.alloc(first.size)); // same size, wrong bytes
    const repaired = await pipe(data, { algorithm: 'gzip', level: 1 }, out, [999]);
    assert.equal(repaired.reused, false);
    assert.equal(sha(readFileSync(path)), first.digest);

    const p = new LayerPipeline(out, { algorithm: 'gzip' });
    await p.write(data);
    p.abort();
    assert.deepEqual(readdirSync(join(out, 'blobs', 'sha256')).filter((n) => n.startsWith('.tmp-')), []);
  });
});
