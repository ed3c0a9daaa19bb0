// `npm run bench` at a tiny size, so the script never rots: it generates a host (GNU tar +
// tar-split), runs every kind of measurement it knows (legacy2oci export and check, the tar |
// hash/compress baselines, skopeo, one huge layer, ls), and writes the JSON it documents.
// No timing is asserted here: the real runs are not tests.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseSize } from '../../scripts/bench.js';
import { hasTool, needTools, PROJECT_ROOT } from '../helpers/env.js';

const skip = needTools('tar', 'tar-split');
let work = '';
before(() => {
  work = mkdtempSync(join(tmpdir(), 'l2o-bench-test-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('sizes', () => {
  assert.equal(parseSize('2G'), 2 * 2 ** 30);
  assert.equal(parseSize('200M'), 200 * 2 ** 20);
  assert.equal(parseSize('1.5g'), 1.5 * 2 ** 30);
  assert.equal(parseSize('512k'), 512 * 1024);
  assert.equal(parseSize('4096'), 4096);
  assert.throws(() => parseSize('lots'));
});

test('a tiny run: every scenario, a table, the JSON', { skip, timeout: 300_000 }, () => {
  const out = join(work, 'result.json');
  const r = spawnSync(process.execPath, [join(PROJECT_ROOT, 'dist', 'scripts', 'bench.js'), '--size', '2M', '--jobs', '2', '--out', out, '--work', join(work, 'w'), '--quiet'], { encoding: 'utf8', timeout: 280_000 });
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /\| run +\| time s \| MB\/s \|/);
  assert.match(r.stdout, /targets/);
  const j = JSON.parse(readFileSync(out, 'utf8'));
  assert.equal(j.schemaVersion, 1);
  assert.equal(j.host.layers.length, 20);
  assert.equal(j.host.layers.filter((l: { tarSplit: boolean }) => !l.tarSplit).length, 2);
  const ids = j.runs.map((x: { id: string }) => x.id);
  for (const c of ['none', 'gzip:1', 'gzip:6']) assert.ok(ids.includes(`host:l2o:${c}:j2`), c);
  assert.ok(ids.includes('host:l2o:check:j2'));
  assert.ok(ids.includes('host:base:tar-sha256'));
  assert.ok(ids.includes('single:l2o:gzip:6:j2'));
  assert.ok(ids.includes('ls:l2o:ls') && ids.includes('ls:base:cat'));
  if (hasTool('igzip')) assert.ok(ids.includes('host:l2o:gzip:fast:j2'));
  if (hasTool('zstd')) assert.ok(ids.includes('host:l2o:zstd:3:j2'));
  if (hasTool('pigz')) assert.ok(ids.includes('host:base:pigz-6'));
  if (hasTool('skopeo')) assert.ok(ids.includes('host:skopeo:gzip'));
  for (const run of j.runs) {
    assert.equal(run.exitCode, 0, run.id);
    assert.ok(run.seconds > 0, run.id);
    if (run.kind === 'legacy2oci' && run.scenario !== 'ls') {
      assert.ok(run.peakRssMB > 10 && run.peakRssMB < 300, `${run.id}: RSS ${run.peakRssMB}`);
      if (run.compression !== 'check') assert.ok(run.outputBytes > 0, run.id);
    }
  }
  const none = j.runs.find((x: { id: string }) => x.id === 'host:l2o:none:j2');
  // uncompressed output: the same tars (two of them regenerated, so about the same size)
  assert.ok(Math.abs(none.outputBytes - j.host.inputBytes) < j.host.inputBytes * 0.05, `${none.outputBytes} vs ${j.host.inputBytes}`);
  assert.ok(j.targets.length >= 9);
  for (const t of j.targets) assert.ok(['string'].includes(typeof t.measured) && 'met' in t, t.name);
  // the generated host is kept with --work and reused by the next run
  assert.ok(existsSync(join(work, 'w', 'host.json')));
});
