// Crash safety. `export` is killed with SIGKILL at seeded random moments while it adds two images
// to a layout that already holds a third; after each kill the layout as it stands must validate
// (no partial blob under a digest name, index.json whole, the third image still there), and a
// rerun must complete to the very layout a clean run gives (stale temps and locks of the dead run
// cleaned up). SIGINT and SIGTERM must remove this run's temp files and lock, exit 130 / 143, and
// leave a layout a rerun completes. A `.tar` OUT killed mid-way is never half-written.
//
// Replay a failing schedule with L2O_KILL_SEED=<seed> (and L2O_KILLS=<n> for more kills).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLegacyRoot, type EntrySpec } from '../helpers/fixture-builder.js';
import { needTools, run } from '../helpers/env.js';
import { treeHash } from '../helpers/tree-hash.js';
import { BIN, assertCleanExit, badBlobs, fingerprint, leftovers, prng, rmrf, runCli, type RunResult } from './harness.js';
import { caseLayer } from './hostile-root.js';

const tools = needTools('tar-split');
const SEED = Number(process.env.L2O_KILL_SEED ?? 0x5eed_2024);
const KILLS = Number(process.env.L2O_KILLS ?? 20);

let work = '';
let root = '';
/** the layout every run must end with: crash/c exported, then crash/a + crash/b (--docker-save) */
let reference: Record<string, string> = {};
/** OUT holding only crash/c, copied before each killed run */
let seeded = '';
/** how long an uninterrupted `export crash/a crash/b` takes here */
let fullMs = 0;

/**
 * Node 20.20 aborts (SIGABRT, "FATAL ERROR: v8::Module::IsGraphAsync") when a worker thread is
 * terminated while piscina is still loading the worker module through require(esm); a signal that
 * lands while a layer worker starts used to hit it. Counted, and a test below requires zero.
 */
const TEARDOWN_CRASH = /v8::Module::IsGraphAsync/;
let teardownCrashes = 0;
/**
 * Whether a signal was handled by the export's own handler (which the caller then checks), or not:
 * the known teardown crash (counted), or the default action of the signal itself, which is what
 * happens when it lands before the handlers are installed or after the export is done and has
 * removed them (nothing is half-written at either moment).
 */
function handledByExport(k: { status: number | null; signal: NodeJS.Signals | null; stderr: string; killed: boolean }, signal: NodeJS.Signals): boolean {
  if (!k.killed) return false;
  if (k.signal === 'SIGABRT' && TEARDOWN_CRASH.test(k.stderr)) {
    teardownCrashes++;
    return false;
  }
  // exit 0: the run was over before the signal took effect
  return k.signal !== signal && !(k.signal === null && k.status === 0);
}

const ADD_ARGS = (out: string) => ['export', 'crash/a:latest', 'crash/b:latest', out, '--root', root, '--jobs', '2', '--docker-save', '--quiet'];

/** Some MiB of text that compresses, but not to nothing (lines differ). */
function bigText(label: string, lines: number): EntrySpec {
  const body = Array.from({ length: lines }, (_, i) => `${label} line ${i} ${(i * 2654435761) % 4294967296} ${'x'.repeat(i % 61)}\n`).join('');
  return { type: 'file', path: `data/${label}.log`, content: body };
}

before(async () => {
  if (tools) return;
  work = mkdtempSync(join(tmpdir(), 'l2o-hard-crash-'));
  const base = caseLayer('crash-base', [bigText('base', 60_000), { type: 'file', path: 'etc/motd', content: 'crash test\n' }]);
  const mid = caseLayer('crash-mid', [bigText('mid', 40_000)], { parent: base.id });
  const topA = caseLayer('crash-top-a', [bigText('a', 30_000)], { parent: mid.id });
  const topB = caseLayer('crash-top-b', [bigText('b', 30_000)], { parent: mid.id });
  const other = caseLayer('crash-c', [bigText('c', 10_000)]);
  root = buildLegacyRoot({
    name: 'crash', mtime: 1450000000, layerMtime: 1430000000, layers: [base, mid, topA, topB, other],
    repositories: { 'crash/a': { latest: topA.id }, 'crash/b': { latest: topB.id }, 'crash/c': { latest: other.id } },
  }, join(work, 'docker')).root;

  seeded = join(work, 'seeded');
  const s = await runCli(['export', 'crash/c:latest', seeded, '--root', root, '--quiet'], { timeoutMs: 120_000 });
  assert.equal(s.status, 0, s.stderr);
  const ref = join(work, 'reference');
  cpSync(seeded, ref, { recursive: true });
  const started = Date.now();
  const r = await runCli(ADD_ARGS(ref), { timeoutMs: 120_000 });
  fullMs = Date.now() - started;
  assert.equal(r.status, 0, r.stderr);
  reference = fingerprint(ref);
  const v = await runCli(['validate', ref, '--deep'], { timeoutMs: 120_000 });
  assert.equal(v.status, 0, `the reference layout does not validate: ${v.stdout}`);
});

after(() => {
  if (work) rmrf(work);
});

function indexRefs(out: string): string[] {
  const index = JSON.parse(readFileSync(join(out, 'index.json'), 'utf8'));
  return index.manifests.map((m: any) => m.annotations?.['org.opencontainers.image.ref.name']).sort();
}

/**
 * The checks on a layout left by an interrupted run, before any rerun: every digest-named file
 * re-hashed here, then our validator (--shallow: structure, references, sizes and digests; the
 * layer tars themselves are checked --deep once, on the reference every rerun must equal).
 */
async function checkAsItStands(out: string, what: string): Promise<void> {
  assert.deepEqual(badBlobs(out), [], `${what}: a file under a digest name does not hash to it`);
  const v = await runCli(['validate', out, '--shallow', '--json'], { timeoutMs: 120_000 });
  assertCleanExit(v, `validate ${what}`);
  assert.equal(v.status, 0, `${what}: the layout as it stands does not validate\n${v.stdout.slice(0, 3000)}`);
  const refs = indexRefs(out);
  assert.ok(refs.includes('crash/c:latest'), `${what}: the image already in the layout was lost (${refs})`);
}

/** Rerun to completion: same final layout as a clean run, nothing left over. */
async function rerunAndCompare(out: string, what: string): Promise<void> {
  const r = await runCli(ADD_ARGS(out), { timeoutMs: 120_000 });
  assertCleanExit(r, `rerun ${what}`);
  assert.equal(r.status, 0, `rerun ${what}: ${r.stderr}`);
  assert.deepEqual(leftovers(out), [], `${what}: temp or lock files left after the rerun`);
  assert.deepEqual(fingerprint(out), reference, `${what}: the rerun did not end with the same layout as a clean run`);
}

/**
 * Start an export and kill it after `delayMs` (or let it finish if it is faster). With `afterTempIn`,
 * the delay counts from the moment a temp blob first appears there: the run is then surely past
 * its start-up, with its signal handlers installed and a blob half-written.
 */
function killAfter(args: string[], delayMs: number, signal: NodeJS.Signals, afterTempIn?: string): Promise<{ status: number | null; signal: NodeJS.Signals | null; stderr: string; killed: boolean }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, CI: 'true' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    let killed = false;
    let done = false;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      timer = setTimeout(() => {
        if (done) return;
        killed = true;
        p.kill(signal);
      }, delayMs);
    };
    if (afterTempIn === undefined) arm();
    else {
      const poll = () => {
        if (done) return;
        let names: string[] = [];
        try { names = readdirSync(afterTempIn); } catch { /* not yet */ }
        if (names.some((n) => n.startsWith('.tmp-'))) arm();
        else setTimeout(poll, 2);
      };
      poll();
    }
    p.on('close', (status, sig) => {
      done = true;
      if (timer) clearTimeout(timer);
      resolve({ status, signal: sig, stderr, killed });
    });
  });
}

describe('crash safety', { skip: tools }, () => {
  it(`SIGKILL at ${KILLS} seeded random moments (seed ${SEED}): the layout validates as it stands, and a rerun ends with the clean-run layout`, async (t) => {
    t.diagnostic(`an uninterrupted run takes ${fullMs} ms here`);
    const rand = prng(SEED);
    const rootHash = treeHash(root);
    // uniform over the whole run, a little past its end so that "just finished" is covered too;
    // drawn up front so that the schedule depends on the seed only
    const delays = Array.from({ length: KILLS }, () => Math.floor(rand() * fullMs * 1.1));
    let midRun = 0;
    const one = async (i: number) => {
      const out = join(work, `kill-${i}`);
      cpSync(seeded, out, { recursive: true });
      const what = `kill #${i} at ${delays[i]} ms of ~${fullMs} ms (seed ${SEED})`;
      const k = await killAfter(ADD_ARGS(out), delays[i]!, 'SIGKILL');
      if (k.killed && k.signal === 'SIGKILL') midRun++;
      else assert.equal(k.status, 0, `${what}: finished on its own but failed: ${k.stderr}`);
      await checkAsItStands(out, what);
      await rerunAndCompare(out, what);
      rmSync(out, { recursive: true, force: true });
    };
    // two kill-and-rerun cycles at a time, each on its own layout
    let next = 0;
    await Promise.all([0, 1].map(async () => {
      while (next < KILLS) await one(next++);
    }));
    t.diagnostic(`${midRun} of ${KILLS} kills landed mid-run`);
    assert.ok(midRun >= Math.floor(KILLS / 4), `only ${midRun} of ${KILLS} kills landed mid-run (the export took ~${fullMs} ms)`);
    assert.equal(treeHash(root), rootHash, 'the root changed');
  });

  it('SIGINT / SIGTERM at 8 seeded moments while layer workers write: exit 130 / 143, this run\'s temp files and lock removed (workers are stopped before the cleanup), a rerun resumes to the clean-run layout', async () => {
    const rand = prng(SEED ^ 0x51);
    const handled = { SIGINT: 0, SIGTERM: 0 };
    const reran = new Set<string>();
    for (let i = 0; i < 8; i++) {
      const out = join(work, `sig-${i}`);
      cpSync(seeded, out, { recursive: true });
      const signal = i % 2 ? 'SIGTERM' : 'SIGINT';
      const what = `#${i} ${signal}`;
      const k = await killAfter(ADD_ARGS(out), Math.floor(rand() * fullMs * 0.4), signal, join(out, 'blobs', 'sha256'));
      if (handledByExport(k, signal)) {
        handled[signal]++;
        assert.equal(k.status, signal === 'SIGINT' ? 130 : 143, `${what}: exit ${k.status} (signal ${k.signal})\n${k.stderr}`);
        assert.match(k.stderr, /interrupted/);
        assert.deepEqual(leftovers(out), [], `${what}: temp files or the lock left behind`);
        // the first interrupted run of each signal is also validated and resumed
        if (!reran.has(signal)) {
          reran.add(signal);
          await checkAsItStands(out, what);
          await rerunAndCompare(out, what);
        }
      }
      assert.deepEqual(badBlobs(out), [], `${what}: a partial blob under a digest name`);
      rmSync(out, { recursive: true, force: true });
    }
    assert.ok(handled.SIGINT >= 1 && handled.SIGTERM >= 1, `too few signals landed while the export ran: ${JSON.stringify(handled)}`);
  });

  it('no signal ended in a crash of the worker teardown (workers load without require(esm), see src/engine/pool.ts)', () => {
    assert.equal(teardownCrashes, 0, `${teardownCrashes} signal(s) ended in the teardown crash`);
  });

  it('a .tar OUT killed at random moments is absent or whole, never half-written; the rerun cleans the dead staging dir', async () => {
    const rand = prng(SEED ^ 0x7a7);
    const refTar = join(work, 'ref.tar');
    const rr = await runCli(['export', 'crash/a:latest', refTar, '--root', root, '--jobs', '2', '--quiet'], { timeoutMs: 120_000 });
    assert.equal(rr.status, 0, rr.stderr);
    const tarMs = rr.ms;
    const refBytes = readFileSync(refTar);
    for (let i = 0; i < 2; i++) {
      const dir = join(work, `tar-${i}`);
      const out = join(dir, 'image.tar');
      run('mkdir', ['-p', dir]);
      const delay = Math.floor(rand() * tarMs);
      await killAfter(['export', 'crash/a:latest', out, '--root', root, '--jobs', '2', '--quiet'], delay, i % 2 ? 'SIGKILL' : 'SIGTERM');
      if (existsSync(out)) assert.ok(readFileSync(out).equals(refBytes), `kill at ${delay} ms: ${out} exists but is not the complete archive`);
      const again: RunResult = await runCli(['export', 'crash/a:latest', out, '--root', root, '--jobs', '2', '--quiet'], { timeoutMs: 120_000 });
      assert.equal(again.status, 0, again.stderr);
      assert.ok(readFileSync(out).equals(refBytes), 'the rerun archive differs from a clean run');
      assert.deepEqual(readdirSync(dir), ['image.tar'], `kill at ${delay} ms: staging or temp files left next to the archive after the rerun`);
    }
  });
});
