// Concurrency: two exports and a migrate writing into one layout at once all land, and index.json
// is a valid OCI index at every instant (it is replaced atomically under OUT/index.json.lock: a
// poller reads it in a tight loop the whole time). A stale lock (killed owner, reused pid, another
// host, an unparseable one) is detected and broken; a live one is waited for, never broken; many
// processes breaking the same stale lock at once still all land.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLegacyRoot, type EntrySpec } from '../helpers/fixture-builder.js';
import { PROJECT_ROOT, needTools } from '../helpers/env.js';
import { assertCleanExit, badBlobs, leftovers, rmrf, runCli, sleep } from './harness.js';
import { caseLayer } from './hostile-root.js';

const tools = needTools('tar-split');
const HAS_MIGRATE = existsSync(join(PROJECT_ROOT, 'dist', 'src', 'cli', 'migrate.js'));
const REF_ANN = 'org.opencontainers.image.ref.name';

let work = '';
let root = '';
const IMAGES = ['conc/a', 'conc/b', 'conc/c', 'conc/d'];

function text(label: string, lines: number): EntrySpec {
  return { type: 'file', path: `data/${label}`, content: Array.from({ length: lines }, (_, i) => `${label} ${i} ${(i * 40503) % 65536}\n`).join('') };
}

before(() => {
  if (tools) return;
  work = mkdtempSync(join(tmpdir(), 'l2o-hard-conc-'));
  const base = caseLayer('conc-base', [text('base', 40_000)]);
  const tops = IMAGES.map((n) => caseLayer(`conc-${n.slice(-1)}`, [text(n.slice(-1), 20_000)], { parent: base.id }));
  root = buildLegacyRoot({
    name: 'conc', mtime: 1450000000, layerMtime: 1430000000, layers: [base, ...tops],
    repositories: Object.fromEntries(IMAGES.map((n, i) => [n, { latest: tops[i]!.id }])),
  }, join(work, 'docker')).root;
});

after(() => {
  if (work) rmrf(work);
});

interface Poll { reads: number; problems: string[]; stop: () => void }

/**
 * Read index.json in a tight loop until stopped: every read must be a complete OCI index whose
 * manifests are all already in blobs/ (blobs are committed before the index names them).
 */
function pollIndex(out: string): Poll {
  const poll: Poll = { reads: 0, problems: [], stop: () => {} };
  let running = true;
  poll.stop = () => { running = false; };
  const tick = () => {
    if (!running) return;
    let bytes: Buffer | null = null;
    try { bytes = readFileSync(join(out, 'index.json')); } catch { /* not created yet */ }
    if (bytes !== null) {
      poll.reads++;
      try {
        const doc = JSON.parse(bytes.toString('utf8'));
        if (doc.schemaVersion !== 2 || !Array.isArray(doc.manifests)) throw new Error('not an OCI index');
        for (const m of doc.manifests) {
          if (!/^sha256:[a-f0-9]{64}$/.test(m.digest)) throw new Error(`bad digest ${m.digest}`);
          if (!existsSync(join(out, 'blobs', 'sha256', m.digest.slice(7)))) throw new Error(`${m.digest} named before its blob exists`);
        }
      } catch (err) {
        if (poll.problems.length < 5) poll.problems.push(`${(err as Error).message}: ${bytes.toString('utf8').slice(0, 200)}`);
      }
    }
    setImmediate(tick);
  };
  tick();
  return poll;
}

function refsOf(out: string): string[] {
  return JSON.parse(readFileSync(join(out, 'index.json'), 'utf8')).manifests.map((m: any) => m.annotations?.[REF_ANN]).sort();
}

function migrateConfig(dir: string, out: string): string {
  const p = join(dir, 'migrate.toml');
  writeFileSync(p, [
    `output = ${JSON.stringify(out)}`, 'layout = "shared"', 'jobs = 2',
    '[[host]]', 'name = "conc"', `root = ${JSON.stringify(root)}`, 'prefix = "migrated/"',
  ].join('\n') + '\n');
  return p;
}

/** A pid that is certainly dead now. */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(r.stdout.toString().trim());
}

function exportArgs(refs: string[], out: string, extra: string[] = []): string[] {
  return ['export', ...refs, out, '--root', root, '--jobs', '1', '--quiet', ...extra];
}

describe('concurrency', { skip: tools }, () => {
  for (const round of [1, 2]) {
    it(`round ${round}: two exports${HAS_MIGRATE ? ' and a migrate' : ''} into one layout at once all land; index.json valid at every instant`, async (t) => {
      const out = join(work, `shared-${round}`);
      const poll = pollIndex(out);
      const runs = [
        runCli(exportArgs(['conc/a', 'conc/b'], out), { timeoutMs: 180_000 }),
        runCli(exportArgs(['conc/c', 'conc/d'], out, ['--docker-save']), { timeoutMs: 180_000 }),
      ];
      const expected = [...IMAGES.map((n) => `${n}:latest`)];
      if (HAS_MIGRATE) {
        runs.push(runCli(['migrate', migrateConfig(mkdtempSync(join(work, 'cfg-')), out), '--quiet'], { timeoutMs: 180_000 }));
        expected.push(...IMAGES.map((n) => `migrated/${n}:latest`));
      } else t.diagnostic('dist/src/cli/migrate.js not built: migrate left out of this round');
      const results = await Promise.all(runs);
      poll.stop();
      results.forEach((r, i) => {
        assertCleanExit(r, `writer ${i}`);
        assert.equal(r.status, 0, `writer ${i} failed: ${r.stderr}`);
      });
      assert.deepEqual(poll.problems, [], 'index.json was seen invalid or ahead of its blobs');
      assert.ok(poll.reads > 50, `the poller read index.json only ${poll.reads} times`);
      t.diagnostic(`index.json read ${poll.reads} times while the writers ran`);
      assert.deepEqual(refsOf(out), expected.sort());
      assert.deepEqual(badBlobs(out), []);
      assert.deepEqual(leftovers(out), []);
      const v = await runCli(['validate', out], { timeoutMs: 120_000 });
      assert.equal(v.status, 0, v.stdout);
    });
  }

  /** A layout with an index.json.lock written by hand, then one export into it. */
  async function exportPastLock(name: string, lockText: string, opts: { ageMs?: number } = {}) {
    const out = join(work, `lock-${name}`);
    mkdirSync(join(out, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(out, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    writeFileSync(join(out, 'index.json'), '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
    const lock = join(out, 'index.json.lock');
    writeFileSync(lock, lockText);
    if (opts.ageMs) {
      const t = (Date.now() - opts.ageMs) / 1000;
      utimesSync(lock, t, t);
    }
    return { out, lock };
  }

  it('a lock left by a killed export on this host (dead pid) is broken at once', async () => {
    const { out, lock } = await exportPastLock('dead', `${deadPid()} ${hostname()} ${Date.now()} deadbeef -\n`);
    const r = await runCli(exportArgs(['conc/a'], out), { timeoutMs: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.ok(r.ms < 20_000, `took ${r.ms} ms`);
    assert.equal(existsSync(lock), false);
    assert.deepEqual(refsOf(out), ['conc/a:latest']);
    assert.deepEqual(leftovers(out), []);
  });

  it('a lock whose pid is alive but belongs to a process started later (pid reused) is broken', async () => {
    // this test process is alive, but not the one started at clock tick 1
    const { out } = await exportPastLock('reused', `${process.pid} ${hostname()} ${Date.now()} deadbeef 1\n`);
    const r = await runCli(exportArgs(['conc/a'], out), { timeoutMs: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(refsOf(out), ['conc/a:latest']);
  });

  it('an empty or unparseable lock (an owner killed mid-write by an older version) is broken once it is 10 s old', async () => {
    const { out } = await exportPastLock('empty', '', { ageMs: 60_000 });
    const r = await runCli(exportArgs(['conc/a'], out), { timeoutMs: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(refsOf(out), ['conc/a:latest']);
    const g = await exportPastLock('garbage', '\x00\xff garbage', { ageMs: 60_000 });
    assert.equal((await runCli(exportArgs(['conc/a'], g.out), { timeoutMs: 60_000 })).status, 0);
  });

  it('a lock from another host is broken only when older than 10 minutes', async () => {
    const old = await exportPastLock('foreign-old', `4242 some-other-host ${Date.now() - 11 * 60_000} deadbeef -\n`, { ageMs: 11 * 60_000 });
    assert.equal((await runCli(exportArgs(['conc/a'], old.out), { timeoutMs: 60_000 })).status, 0);
    assert.deepEqual(refsOf(old.out), ['conc/a:latest']);
  });

  it('a live lock is waited for, never broken: the export lands once the owner releases it', async () => {
    const owner = spawn('sleep', ['60'], { stdio: 'ignore' });
    try {
      const start = readFileSync(`/proc/${owner.pid}/stat`, 'utf8');
      const startTicks = start.slice(start.lastIndexOf(')') + 2).split(' ')[19];
      const { out, lock } = await exportPastLock('live', `${owner.pid} ${hostname()} ${Date.now()} cafe ${startTicks}\n`);
      const foreign = await exportPastLock('foreign-fresh', `4242 some-other-host ${Date.now()} cafe -\n`);
      const pending = runCli(exportArgs(['conc/a'], out), { timeoutMs: 60_000 });
      const pendingForeign = runCli(exportArgs(['conc/a'], foreign.out), { timeoutMs: 60_000 });
      await sleep(2500);
      assert.equal(readFileSync(lock, 'utf8').split(' ')[0], String(owner.pid), 'the live lock was broken');
      assert.equal(readFileSync(foreign.lock, 'utf8').split(' ')[1], 'some-other-host', 'a fresh lock of another host was broken');
      assert.deepEqual(refsOf(out), []);
      writeFileSync(lock, '');
      rmrf(lock);
      rmrf(foreign.lock);
      const [r, rf] = await Promise.all([pending, pendingForeign]);
      assert.equal(r.status, 0, r.stderr);
      assert.equal(rf.status, 0, rf.stderr);
      assert.ok(r.ms >= 2500, 'the export did not wait for the lock');
      assert.deepEqual(refsOf(out), ['conc/a:latest']);
    } finally {
      owner.kill('SIGKILL');
    }
  });

  it('six exports breaking the same stale lock at once: exactly one owner at a time, all six land', async () => {
    const { out } = await exportPastLock('breakers', `${deadPid()} ${hostname()} ${Date.now()} deadbeef -\n`);
    const names = ['x/one', 'x/two', 'x/three', 'x/four', 'x/five', 'x/six'];
    const poll = pollIndex(out);
    const results = await Promise.all(names.map((n, i) => runCli(exportArgs([IMAGES[i % IMAGES.length]!], out, ['--name', `${n}:latest`]), { timeoutMs: 120_000 })));
    poll.stop();
    for (const r of results) assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(poll.problems, []);
    assert.deepEqual(refsOf(out), names.map((n) => `${n}:latest`).sort());
    assert.deepEqual(leftovers(out), []);
  });
});
