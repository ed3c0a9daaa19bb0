// Resume: a migration killed mid-way (kill -9, or Ctrl-C) and run again ends with the very layout
// and report a clean run gives, redoing only what the journal does not have; locks left by killed
// runs never block the rerun, a live run's lock does (exit 2, nothing done).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { cli, cliJson } from '../helpers/cli.js';
import { needTools, PROJECT_ROOT } from '../helpers/env.js';
import { buildHost, cleanupHosts, tempDir, type FixtureHost } from '../helpers/layouts.js';
import { buildLegacyRoot, type BuiltHost } from '../helpers/fixture-builder.js';
import { processStartTime } from '../../src/process-info.js';
import { bigHostSpec, layoutPrint, q, writeConfig } from './helpers.js';

after(cleanupHosts);
const skip = needTools('tar-split');

const BIG_LAYERS = 10;
let big: BuiltHost | null = null;
let demoHost: FixtureHost | null = null;
function hosts(): { big: BuiltHost; demo: FixtureHost } {
  big ??= buildLegacyRoot(bigHostSpec(BIG_LAYERS, 6 << 20), join(tempDir('big'), 'docker'));
  demoHost ??= buildHost('demo/demo-host.json');
  return { big, demo: demoHost };
}

function config(dir: string): string {
  const h = hosts();
  return writeConfig(dir, [
    'jobs = 1',
    'parallel_hosts = 1',
    '[[host]]', 'name = "big"', `root = ${q(h.big.root)}`,
    '[[host]]', 'name = "demo"', `root = ${q(h.demo.built.root)}`,
  ].join('\n') + '\n');
}

function journalLayers(layout: string): number {
  try {
    return readFileSync(join(layout, '.legacy2oci', 'journal.jsonl'), 'utf8').split('\n').filter((l) => l.includes('"t":"layer"')).length;
  } catch {
    return 0;
  }
}

interface Child { pid: number; kill(sig: NodeJS.Signals): void; exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }> }

function startMigrate(cfg: string): Child {
  const child = spawn(process.execPath, [join(PROJECT_ROOT, 'bin', 'legacy2oci.js'), 'migrate', cfg, '--quiet'], {
    env: { ...process.env, CI: 'true' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (c) => { stderr += c; });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((res) => {
    child.on('exit', (code, signal) => res({ code, signal, stderr }));
  });
  return { pid: child.pid!, kill: (s) => child.kill(s), exited };
}

async function waitFor(what: string, pred: () => boolean, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** Files anywhere under dir whose name marks a temp or a lock. */
function leftovers(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (/\.tmp-|\.lock$|^lock$|\.stale-/.test(e.name)) out.push(p.slice(dir.length + 1));
    }
  };
  walk(dir);
  return out.sort();
}

function imagesOf(report: any): unknown {
  return report.hosts.map((h: any) => ({ name: h.name, status: h.status, images: h.images, totals: h.totals }));
}

let clean: { out: string; report: any } | null = null;
function cleanRun(): { out: string; report: any } {
  if (clean) return clean;
  const dir = tempDir('clean');
  const r = cliJson(['migrate', config(dir)], { timeoutMs: 600_000 });
  assert.equal(r.status, 0, r.stderr);
  clean = { out: join(dir, 'out'), report: r.json };
  return clean;
}

test('kill -9 mid-way, then rerun: only the missing work is done and the layout equals a clean run', { skip, timeout: 900_000 }, async (t) => {
  const dir = tempDir('killed');
  const cfg = config(dir);
  const out = join(dir, 'out');
  const child = startMigrate(cfg);
  // kill while a layer blob is half-written: two layers journaled and a temp file in blobs/
  const blobs = join(out, 'big', 'blobs', 'sha256');
  await waitFor('two journaled layers and a blob being written', () => journalLayers(join(out, 'big')) >= 2 && existsSync(blobs) && readdirSync(blobs).some((n) => n.startsWith('.tmp-')));
  child.kill('SIGKILL');
  const exit = await child.exited;
  assert.equal(exit.signal, 'SIGKILL', exit.stderr);
  const journaled = journalLayers(join(out, 'big'));
  assert.ok(journaled < BIG_LAYERS, `killed mid-way (${journaled}/${BIG_LAYERS} layers journaled)`);
  assert.equal(existsSync(join(out, 'migrate-report.json')), false, 'the killed run never finished');
  assert.ok(existsSync(join(out, 'big', '.legacy2oci', 'lock')), 'the killed run left its lock');
  assert.ok(leftovers(out).some((f) => f.startsWith('big/blobs/sha256/.tmp-')), 'a half-written blob was left');
  t.diagnostic(`killed with ${journaled}/${BIG_LAYERS} layers journaled; left behind: ${leftovers(out).join(', ')}`);

  const rerun = cliJson(['migrate', cfg], { timeoutMs: 600_000 });
  assert.equal(rerun.status, 0, rerun.stderr);
  assert.ok(rerun.json.run.layersFromJournal >= journaled, `journaled layers reused (${rerun.json.run.layersFromJournal})`);
  assert.ok(rerun.json.run.layersProcessed <= BIG_LAYERS + 13 - journaled, `only missing layers redone (${rerun.json.run.layersProcessed})`);
  assert.deepEqual(leftovers(out), [], 'no temp file or lock left');

  const c = cleanRun();
  for (const name of ['big', 'demo']) assert.deepEqual(layoutPrint(join(out, name)), layoutPrint(join(c.out, name)), `${name}: resumed layout differs from a clean run`);
  assert.deepEqual(imagesOf(rerun.json), imagesOf(c.report));
  assert.equal(cli(['validate', join(out, 'big')]).status, 0);
});

test('Ctrl-C mid-way: exit 130, own temp files and lock removed, rerun completes like a clean run', { skip, timeout: 900_000 }, async () => {
  const dir = tempDir('sigint');
  const cfg = config(dir);
  const out = join(dir, 'out');
  const child = startMigrate(cfg);
  await waitFor('a journaled layer', () => journalLayers(join(out, 'big')) >= 1);
  child.kill('SIGINT');
  const exit = await child.exited;
  assert.equal(exit.code, 130, exit.stderr);
  assert.match(exit.stderr, /interrupted \(SIGINT\)/);
  assert.deepEqual(leftovers(out).filter((f) => f.includes(`-${child.pid}-`) || f.endsWith('lock')), [], 'the interrupted run cleaned up after itself');
  const rerun = cliJson(['migrate', cfg], { timeoutMs: 600_000 });
  assert.equal(rerun.status, 0, rerun.stderr);
  const c = cleanRun();
  for (const name of ['big', 'demo']) assert.deepEqual(layoutPrint(join(out, name)), layoutPrint(join(c.out, name)));
});

test('locks: a live run blocks (E_LOCKED, exit 2, nothing done); locks of dead runs never do', { skip }, async () => {
  const h = hosts();
  const dir = tempDir('locks');
  const cfg = writeConfig(dir, `[[host]]\nname = "demo"\nroot = ${q(h.demo.built.root)}\n`);
  const layout = join(dir, 'out', 'demo');
  mkdirSync(join(layout, '.legacy2oci'), { recursive: true });
  const lock = join(layout, '.legacy2oci', 'lock');

  // a live process holds it
  const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
  try {
    writeFileSync(lock, JSON.stringify({ pid: sleeper.pid, host: hostname(), start: processStartTime(sleeper.pid!), at: Date.now() }));
    const r = cli(['migrate', cfg]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /E_LOCKED: .*another migrate is running/);
    assert.deepEqual(readdirSync(layout), ['.legacy2oci'], 'nothing done');
    assert.equal(existsSync(join(dir, 'out', 'migrate-report.json')), false);
  } finally {
    sleeper.kill('SIGKILL');
  }
  await new Promise((r) => sleeper.on('exit', r));

  // the same lock, its owner dead; plus an index lock of a dead export
  const dead = spawnSync('true').pid;
  writeFileSync(lock, JSON.stringify({ pid: dead, host: hostname(), start: '1', at: Date.now() }));
  writeFileSync(join(layout, 'index.json.lock'), `${dead} ${hostname()} ${Date.now()}`);
  const ok = cliJson(['migrate', cfg]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.deepEqual(leftovers(join(dir, 'out')), []);
  assert.equal(cli(['validate', layout]).status, 0);

  // a pid now used by an unrelated live process (its start time differs) is not the owner either
  writeFileSync(lock, JSON.stringify({ pid: process.pid, host: hostname(), start: 'not-my-start', at: Date.now() }));
  const again = cliJson(['migrate', cfg]);
  assert.equal(again.status, 0, again.stderr);
  assert.equal(again.json.run.imagesFromJournal, 2);
  assert.deepEqual(leftovers(join(dir, 'out')), []);
});
