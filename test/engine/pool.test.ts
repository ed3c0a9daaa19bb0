// The piscina pool: real worker threads running the compiled worker, same bytes whatever --jobs,
// coded errors rebuilt on the main thread, abort, ordering helper.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { LayerError, UsageError } from '../../src/errors.js';
import { createLayerPool } from '../../src/engine/pool.js';
import { processLayer } from '../../src/engine/process-layer.js';
import type { CompressionSpec, LayerResult, LayerTask } from '../../src/engine/types.js';
import { fromPlainError, toPlainError } from '../../src/engine/worker-protocol.js';
import { OutputError } from '../../src/errors.js';
import { needTools, run } from '../helpers/env.js';

let work = '';
let n = 0;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'l2o-pool-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const hex64 = (s: string): string => createHash('sha256').update(s).digest('hex');

/** A root with `count` layers of different sizes; odd ones keep tar-split data (GNU tar + tar-split), even ones have none. */
function buildRoot(count: number): { root: string; tasks: (outDir: string | null, compression: CompressionSpec) => LayerTask[] } {
  const root = join(work, `root${n++}`);
  const ids: Array<{ id: string; tarData: string | null }> = [];
  for (let i = 0; i < count; i++) {
    const id = hex64(`${root}/${i}`);
    const src = join(root, 'staging', id);
    mkdirSync(join(src, 'dir'), { recursive: true });
    for (let f = 0; f < 5; f++) writeFileSync(join(src, 'dir', `f${f}`), Buffer.alloc((i + 1) * 40_000 + f, (i * 7 + f) & 0xff));
    writeFileSync(join(src, '.wh.removed'), '');
    const diff = join(root, 'aufs', 'diff', id);
    mkdirSync(diff, { recursive: true });
    const tarPath = join(root, 'staging', `${id}.tar`);
    run('tar', ['--format=pax', '--sort=name', '-C', src, '-cf', tarPath, 'dir', '.wh.removed']);
    run('tar', ['-xpf', tarPath, '-C', diff]);
    let tarData: string | null = null;
    if (i % 2 === 1) {
      mkdirSync(join(root, 'graph', id), { recursive: true });
      tarData = join(root, 'graph', id, 'tar-data.json.gz');
      run('tar-split', ['disasm', '--no-stdout', '--output', tarData, tarPath]);
    }
    ids.push({ id, tarData });
  }
  return {
    root,
    tasks: (outDir, compression) => ids.map(({ id, tarData }) => ({ root, id, diffDir: join(root, 'aufs', 'diff', id), tarDataPath: tarData, driver: 'aufs', outDir, compression })),
  };
}

const key = (r: LayerResult): string => [r.id, r.diffID, r.digest, r.size, r.uncompressedSize, r.source, r.mediaType, r.compressor].join(' ');

describe('layer pool', { skip: needTools('tar', 'tar-split', 'zstd') }, () => {
  test('--jobs 1 and --jobs 2 give the same digests as in-process runs (gzip, zstd, none)', async () => {
    const { tasks } = buildRoot(4);
    for (const compression of [{ algorithm: 'gzip', level: 1 }, { algorithm: 'zstd', level: 3 }, { algorithm: 'none' }] as CompressionSpec[]) {
      const inProcess = await Promise.all(tasks(null, compression).map((t) => processLayer(t)));
      const byJobs: string[][] = [];
      for (const jobs of [1, 2]) {
        const out = join(work, `out-${compression.algorithm}-${jobs}`);
        const pool = createLayerPool({ jobs });
        try {
          const results = await Promise.all(tasks(out, compression).map((t) => pool.run(t)));
          byJobs.push(results.map(key));
          assert.deepEqual(readdirSync(join(out, 'blobs', 'sha256')).sort(), [...new Set(results.map((r) => r.digest.slice(7)))].sort());
        } finally {
          await pool.close();
        }
      }
      assert.deepEqual(byJobs[0], byJobs[1], `${compression.algorithm}: jobs 1 vs 2`);
      assert.deepEqual(byJobs[0], inProcess.map(key), `${compression.algorithm}: pool vs in-process`);
      assert.deepEqual(inProcess.map((r) => r.source), ['regenerated', 'tar-split', 'regenerated', 'tar-split']);
    }
  });

  test('worker failures come back as coded errors; the pool keeps working', async () => {
    const { tasks } = buildRoot(2);
    const [good] = tasks(null, { algorithm: 'none' });
    const pool = createLayerPool({ jobs: 2 });
    try {
      await assert.rejects(pool.run({ ...good, id: 'not-an-id' }), (e: unknown) => e instanceof LayerError && e.code === 'E_LAYER_ID_INVALID' && e.name === 'LayerError');
      const missing = join(work, 'nope', 'aufs', 'diff', good.id);
      await assert.rejects(pool.run({ ...good, root: join(work, 'nope'), diffDir: missing, tarDataPath: null }), (e: unknown) => e instanceof LayerError && e.code === 'E_LAYER_DIFF_MISSING' && e.file === missing);
      await assert.rejects(pool.run({ ...good, compression: { algorithm: 'gzip', level: 99 } }), (e: unknown) => e instanceof LayerError && e.code === 'E_COMPRESSION_INVALID');
      const blocked = join(work, `blocked-${n++}`);
      writeFileSync(blocked, 'a file where OUT should be');
      await assert.rejects(pool.run({ ...good, outDir: blocked }), (e: unknown) => e instanceof OutputError && e.code === 'E_OUTPUT_WRITE');
      const ok = await pool.run(good);
      assert.equal(ok.id, good.id);
    } finally {
      await pool.close();
    }
  });

  test('aborting a running task rejects it, leaves no blob under a digest name, and the pool goes on', async () => {
    const { tasks } = buildRoot(1);
    const out = join(work, `abort-out-${n++}`);
    const [small] = tasks(out, { algorithm: 'gzip', level: 9 });
    // ~1 s of gzip -9 on incompressible data: certainly still running when aborted
    writeFileSync(join(small.diffDir, 'random'), randomBytes(24 * 1024 * 1024));
    const pool = createLayerPool({ jobs: 1 });
    try {
      await pool.run({ ...small, outDir: null, compression: { algorithm: 'none' }, forceRegenerate: true }); // worker up
      const ac = new AbortController();
      const running = pool.run({ ...small, forceRegenerate: true }, { signal: ac.signal });
      setTimeout(() => ac.abort(), 150);
      await assert.rejects(running, (e: unknown) => e instanceof LayerError && e.code === 'E_LAYER_ABORTED');
      assert.deepEqual(readdirSync(join(out, 'blobs', 'sha256')).filter((x) => !x.startsWith('.tmp-')), [], 'nothing committed');
      const next = await pool.run({ ...small, outDir: null, compression: { algorithm: 'none' } });
      assert.equal(next.id, small.id);
    } finally {
      await pool.close();
    }
  });

  test('abort rejects the task with E_LAYER_ABORTED', async () => {
    const { tasks } = buildRoot(1);
    const pool = createLayerPool({ jobs: 1 });
    try {
      const ac = new AbortController();
      ac.abort();
      await assert.rejects(pool.run(tasks(null, { algorithm: 'gzip' })[0], { signal: ac.signal }), (e: unknown) => e instanceof LayerError && e.code === 'E_LAYER_ABORTED');
    } finally {
      await pool.destroy();
    }
  });
});

test('a worker module that fails to load rejects every task instead of hanging (and does not crash the process)', { timeout: 30_000 }, async () => {
  const dir = join(work, `badworkers-${n++}`);
  mkdirSync(dir, { recursive: true });
  const bad = {
    // a link error: piscina's require() attempt fails half-way, its import() fallback then asserts
    'link.mjs': "import { nope } from 'node:fs';\nexport default () => nope;\n",
    'throw.mjs': "throw new Error('boom at load');\nexport default () => 1;\n",
  };
  for (const [name, code] of Object.entries(bad)) {
    const file = join(dir, name);
    writeFileSync(file, code);
    const pool = createLayerPool({ jobs: 2, workerFile: pathToFileURL(file) });
    try {
      const task = { root: dir, id: hex64(name), diffDir: dir, tarDataPath: null, driver: 'aufs', outDir: null, compression: { algorithm: 'none' } } as LayerTask;
      const results = await Promise.allSettled([pool.run(task), pool.run(task), pool.run(task)]);
      for (const r of results) {
        assert.equal(r.status, 'rejected', name);
        const e = (r as PromiseRejectedResult).reason;
        assert.ok(e instanceof LayerError && e.code === 'E_LAYER_WORKER', `${name}: ${e}`);
        assert.match(e.message, /layer worker failed to start/);
      }
      await assert.rejects(pool.run(task), (e: unknown) => e instanceof LayerError && e.code === 'E_LAYER_WORKER');
    } finally {
      await pool.close();
    }
  }
});

test('createLayerPool refuses a bad --jobs', () => {
  for (const jobs of [0, -1, 1.5, Number.NaN]) assert.throws(() => createLayerPool({ jobs }), UsageError);
});


test('worker protocol: plain errors round-trip with class, code and file', () => {
  const plain = toPlainError(new OutputError('E_OUTPUT_NOSPACE', 'no space', '/out/blobs'));
  assert.deepEqual(plain, { name: 'OutputError', code: 'E_OUTPUT_NOSPACE', message: 'no space', file: '/out/blobs' });
  const back = fromPlainError(structuredClone(plain));
  assert.ok(back instanceof OutputError);
  assert.deepEqual([back.code, back.message, back.file], ['E_OUTPUT_NOSPACE', 'no space', '/out/blobs']);
  const internal = toPlainError(Object.assign(new Error('boom'), { code: 'EIO', path: '/x' }));
  assert.deepEqual(internal, { name: 'LayerError', code: 'E_LAYER_INTERNAL', message: 'EIO: boom', file: '/x' });
  assert.ok(fromPlainError(internal) instanceof LayerError);
});
