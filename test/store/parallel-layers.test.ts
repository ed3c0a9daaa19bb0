// graph/<id> records read on two threads (src/store/parallel-layers.ts) are the records one
// thread reads, in the same order, json as Buffers; a helper that fails, never answers or
// answers wrongly only costs time.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { listKinds, readLayer } from '../../src/store/graph-aufs.js';
import { PARALLEL_MIN_LAYERS, readLayers } from '../../src/store/parallel-layers.js';
import { openStore } from '../../src/store/index.js';
import { MiniRoot, fakeId } from '../helpers/mini-root.js';

const cleanups: Array<() => void> = [];
after(() => cleanups.forEach((c) => c()));

/** A root of `n` layers in chains of 10, every few of them damaged in a different way. */
function variedRoot(n: number): { root: string; ids: string[] } {
  const r = new MiniRoot();
  cleanups.push(() => r.cleanup());
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = fakeId(`parallel-${i}`);
    const parent = i % 10 === 0 ? null : ids[i - 1]!;
    const l: Parameters<MiniRoot['add']>[0] = { id, parent };
    switch (i % 7) {
      case 1: l.json = '{"id": "truncated'; break;
      case 2: l.json = null; break;
      case 3: l.tarData = gzipSync(Buffer.from('{"type":2,"payload":"","position":0}\n')); break;
      case 4: l.tarData = Buffer.from('not gzip'); break;
      case 5: l.diff = false; break;
      case 6: l.aufsLayers = null; break;
    }
    if (i % 11 === 3) l.parentFile = parent ?? 'not-an-id';
    r.add(l);
    ids.push(id);
  }
  r.write();
  // one diff dir leading out of the root
  const outside = mkdtempSync(join(tmpdir(), 'l2o-outside-'));
  cleanups.push(() => rmSync(outside, { recursive: true, force: true }));
  rmSync(join(r.root, 'aufs/diff', ids[12]!), { recursive: true, force: true });
  symlinkSync(outside, join(r.root, 'aufs/diff', ids[12]!));
  return { root: r.root, ids: [...ids].sort() };
}

function hintsOf(root: string) {
  return { graph: listKinds(join(root, 'graph')), diff: listKinds(join(root, 'aufs', 'diff')) };
}

/** The store reader, for bad helpers that send real records. */
const GRAPH_AUFS_URL = new URL('../../src/store/graph-aufs.js', import.meta.url).href;

/** A helper module that does the wrong thing, written to a temp file. */
function badHelper(source: string): URL {
  const dir = mkdtempSync(join(tmpdir(), 'l2o-helper-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'helper.mjs');
  writeFileSync(file, source);
  return pathToFileURL(file);
}

test('two threads give the records one thread gives, in order, json as Buffers', () => {
  const { root, ids } = variedRoot(70);
  const hints = hintsOf(root);
  const expected = ids.map((id) => readLayer(root, root, id, 'aufs', hints));
  let delivered = -1;
  const got = readLayers(root, root, ids, 'aufs', hints, { minParallel: 1, onHelper: (n) => (delivered = n) });
  assert.ok(delivered > 0 && delivered < ids.length, `the helper read part of the ids (${delivered})`);
  assert.deepStrictEqual(got, expected);
  // its records in several replies (7 each: 33 ids, 5 replies) join in order
  let inBatches = -1;
  assert.deepStrictEqual(readLayers(root, root, ids, 'aufs', hints, { minParallel: 1, helperBatch: 7, onHelper: (n) => (inBatches = n) }), expected);
  assert.equal(inBatches, delivered);
  assert.ok(got.every((l) => l.json === null || Buffer.isBuffer(l.json)));
  // the damage is in the records the helper read too
  const codes = new Set(got.slice(ids.length - delivered).flatMap((l) => l.problems.map((p) => p.code)));
  for (const c of ['E_JSON_INVALID', 'E_JSON_MISSING', 'W_TAR_SPLIT_UNREADABLE', 'E_DIFF_MISSING', 'E_AUFS_LAYERS_MISSING']) assert.ok(codes.has(c), c);
});

test('a helper that fails, stays silent or answers the wrong records is not used', () => {
  const { root, ids } = variedRoot(30);
  const hints = hintsOf(root);
  const expected = ids.map((id) => readLayer(root, root, id, 'aufs', hints));
  const helpers = {
    throws: badHelper("throw new Error('helper broke');\n"),
    silent: badHelper('setTimeout(() => {}, 60_000);\n'),
    // a complete-looking answer with too few records
    wrong: badHelper(`import { workerData } from 'node:worker_threads';
      workerData.port.postMessage({ ok: true, layers: [], last: true });
      const flag = new Int32Array(workerData.done);
      Atomics.store(flag, 0, 1);
      Atomics.notify(flag, 0);\n`),
    // real records in a first reply, then a failure
    batchThenThrow: badHelper(`import { workerData } from 'node:worker_threads';
      const { readLayer } = await import(${JSON.stringify(GRAPH_AUFS_URL)});
      const layers = workerData.ids.slice(0, 3).map((id) => readLayer(workerData.root, workerData.realRoot, id, workerData.driver));
      workerData.port.postMessage({ ok: true, layers, last: false });
      throw new Error('helper broke after a reply');\n`),
    // real records marked last, but not all of them
    shortLast: badHelper(`import { workerData } from 'node:worker_threads';
      const { readLayer } = await import(${JSON.stringify(GRAPH_AUFS_URL)});
      const layers = workerData.ids.slice(0, 3).map((id) => readLayer(workerData.root, workerData.realRoot, id, workerData.driver));
      workerData.port.postMessage({ ok: true, layers, last: true });\n`),
  };
  for (const [what, workerUrl] of Object.entries(helpers)) {
    let delivered = -1;
    const got = readLayers(root, root, ids, 'aufs', hints, { minParallel: 1, workerUrl, graceMs: 300, onHelper: (n) => (delivered = n) });
    assert.equal(delivered, 0, what);
    assert.deepStrictEqual(got, expected, what);
  }
  // one that fails to load (missing, or throwing as it loads) is given up at once, not after
  // the default grace period of several seconds
  const missing = new URL('missing-helper.mjs', helpers.throws);
  for (const [what, workerUrl] of Object.entries({ missing, throws: helpers.throws })) {
    const started = performance.now();
    const got = readLayers(root, root, ids, 'aufs', hints, { minParallel: 1, workerUrl });
    assert.deepStrictEqual(got, expected, what);
    assert.ok(performance.now() - started < 2000, `${what}: fell back after ${Math.round(performance.now() - started)} ms`);
  }
});

test(`openStore of a root over ${PARALLEL_MIN_LAYERS} layers is the same on one thread and on two`, () => {
  const { root } = variedRoot(PARALLEL_MIN_LAYERS + 40);
  const two = openStore(root);
  process.env.LEGACY2OCI_STORE_THREADS = '1';
  try {
    const one = openStore(root);
    assert.deepStrictEqual([...two.layers.entries()], [...one.layers.entries()]);
    assert.deepStrictEqual([...two.images.entries()], [...one.images.entries()]);
    assert.deepStrictEqual(two.problems, one.problems);
  } finally {
    delete process.env.LEGACY2OCI_STORE_THREADS;
  }
});
