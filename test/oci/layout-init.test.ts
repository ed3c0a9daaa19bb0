// initLayout from several writers at once: each may find a directory of the new layout made by
// another between its own failed mkdir and its retry; that is success, not EEXIST (seen in the
// concurrency hardening test: "cannot create the OCI layout (EEXIST ... mkdir '…/blobs')").
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';

const work = mkdtempSync(join(tmpdir(), 'l2o-layout-init-'));
after(() => rmSync(work, { recursive: true, force: true }));

const LAYOUT_URL = new URL('../../src/oci/layout.js', import.meta.url).href;

/** Each worker waits for the start flag, then makes every layout in `outs` (nested two deep). */
const WORKER = `
const { workerData, parentPort } = require('node:worker_threads');
import(workerData.layoutUrl).then(({ initLayout }) => {
  const flag = new Int32Array(workerData.start);
  parentPort.postMessage({ ready: true });
  Atomics.wait(flag, 0, 0);
  const failures = [];
  for (const out of workerData.outs) {
    try { initLayout(out); } catch (err) { failures.push(String(err.message)); }
  }
  parentPort.postMessage({ failures });
});`;

test('writers making the same new layout at once all succeed', async () => {
  const outs = Array.from({ length: 200 }, (_, i) => join(work, `r${i}`, 'nested', 'layout'));
  const start = new SharedArrayBuffer(4);
  const workers = Array.from({ length: 4 }, () => new Worker(WORKER, { eval: true, workerData: { layoutUrl: LAYOUT_URL, outs, start } }));
  const results = workers.map((w) => new Promise<string[]>((resolve, reject) => {
    w.on('message', (m: { ready?: boolean; failures?: string[] }) => { if (m.failures) resolve(m.failures); });
    w.on('error', reject);
  }));
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  Atomics.store(new Int32Array(start), 0, 1);
  Atomics.notify(new Int32Array(start), 0);
  const failures = (await Promise.all(results)).flat();
  await Promise.all(workers.map((w) => w.terminate()));
  assert.deepEqual(failures, []);
  for (const out of outs) {
    assert.ok(existsSync(join(out, 'blobs', 'sha256')), out);
    assert.ok(existsSync(join(out, 'index.json')), out);
    assert.ok(existsSync(join(out, 'oci-layout')), out);
  }
});
