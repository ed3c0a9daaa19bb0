// Full disk and I/O errors, on a real filesystem that runs out: a 4 MiB tmpfs mounted in a private
// mount namespace (full-disk-scenario.ts does the mounting and the runs and reports what it saw).
//   - the free-space pre-check refuses with E_NO_SPACE (exit 2) and writes nothing;
//   - when the estimate is fooled (layersize says 1 byte), the write hits ENOSPC: a clear coded
//     failure naming ENOSPC, no partial blob under a digest name, no temp file, no lock left, and the
//     layout as it stands still validates; the same for a `.tar` OUT (no partial archive);
//   - with space again (remount 64 MiB) a rerun completes to the same layout as a run elsewhere;
//   - on a read-only filesystem (EROFS): exit 2 for a new OUT, a coded failure for an existing one,
//     which is left untouched.
// Needs root and mount rights; skipped with a message where mounting is not permitted.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLegacyRoot } from '../helpers/fixture-builder.js';
import { needTools, PROJECT_ROOT } from '../helpers/env.js';
import { canMount, fingerprint, rmrf, runCli, runCmd } from './harness.js';
import { caseLayer } from './hostile-root.js';

const tools = needTools('tar-split');
const mountSkip = tools ? false : canMount() ? false : 'needs root and permission to mount a tmpfs in a private mount namespace (unshare -m)';
const REF = 'disk/full:latest';

let work = '';
let steps: Record<string, any> = {};
let reference: Record<string, string> = {};

before(async () => {
  if (tools || mountSkip) return;
  work = mkdtempSync(join(tmpdir(), 'l2o-hard-disk-'));
  const entries = [
    { type: 'file' as const, path: 'data/big1', content: { repeat: 'a line that fills the disk\n', times: 150_000 } },
    { type: 'file' as const, path: 'data/big2', content: { repeat: 'another line, more bytes\n', times: 100_000 } },
  ];
  const honest = caseLayer('disk-full', entries);
  const lying = caseLayer('disk-full', entries, { layersize: 1 });
  // 2.5 MB: its blob fits the 4 MiB disk, but not a second copy of it in the archive
  const small = caseLayer('disk-small', [{ type: 'file', path: 'data/half', content: { repeat: 'half of the disk, roughly\n', times: 100_000 } }], { layersize: 1 });
  const spec = (l: typeof honest, more: typeof honest[] = []) => ({
    name: 'disk', mtime: 1450000000, layerMtime: 1430000000, layers: [l, ...more],
    repositories: { 'disk/full': { latest: l.id }, ...(more.length ? { 'disk/small': { latest: small.id } } : {}) },
  });
  const honestRoot = buildLegacyRoot(spec(honest), join(work, 'honest', 'docker')).root;
  const lyingRoot = buildLegacyRoot(spec(lying, [small]), join(work, 'lying', 'docker')).root;

  const refOut = join(work, 'reference');
  const rr = await runCli(['export', REF, refOut, '--root', lyingRoot, '--compress', 'none', '--jobs', '1', '--quiet'], { timeoutMs: 120_000 });
  assert.equal(rr.status, 0, rr.stderr);
  reference = fingerprint(refOut);

  const scenario = join(PROJECT_ROOT, 'dist', 'test', 'hardening', 'full-disk-scenario.js');
  const r = await runCmd('unshare', ['-m', '--propagation', 'private', process.execPath, scenario, JSON.stringify({ mnt: join(work, 'mnt'), honestRoot, lyingRoot, ref: REF })], { timeoutMs: 300_000 });
  let doc: any;
  try { doc = JSON.parse(r.stdout); } catch { throw new Error(`scenario output is not JSON (exit ${r.status}):\n${r.stdout}\n${r.stderr}`); }
  if (doc.scenarioError) throw new Error(`scenario failed: ${doc.scenarioError}`);
  steps = Object.fromEntries(doc.map((s: any) => [s.name, s]));
});

after(() => {
  if (work) rmrf(work);
});

function show(s: any): string {
  return `exit ${s.status}\n--- stdout:\n${s.stdout}\n--- stderr:\n${s.stderr}`;
}

function noHangNoCrash(s: any): void {
  assert.equal(s.timedOut, false, `hung: ${show(s)}`);
  assert.equal(s.signal, null, `killed: ${show(s)}`);
  assert.doesNotMatch(s.stderr, /^\s+at |TypeError|RangeError|node:internal/m, `crashed: ${show(s)}`);
}

describe('full disk and I/O errors (tmpfs in a private mount namespace)', { skip: tools || mountSkip }, () => {
  it('the free-space pre-check refuses with E_NO_SPACE (exit 2) and writes nothing', () => {
    const s = steps.preflight;
    noHangNoCrash(s);
    assert.equal(s.status, 2, show(s));
    assert.match(s.stderr, /E_NO_SPACE: .*not enough free space/, show(s));
    assert.equal(s.outExists, false, 'OUT was created although nothing could be done');
  });

  it('ENOSPC while writing a layer: a coded failure naming ENOSPC, no partial blob, no temp file, no lock, the layout still validates', () => {
    const s = steps.enospc;
    noHangNoCrash(s);
    assert.equal(s.status, 1, show(s));
    const report = JSON.parse(s.stdout);
    assert.equal(report.failed.length, 1, show(s));
    assert.match(report.failed[0].code, /^E_(NO_SPACE|OUTPUT_NOSPACE)$/, show(s));
    assert.match(report.failed[0].reason, /ENOSPC/, show(s));
    assert.deepEqual(s.badBlobs, [], 'a partial blob under a digest name');
    assert.deepEqual(s.leftovers, [], 'temp files or the lock left on the full disk');
    assert.equal(s.validate?.status, 0, `the layout as it stands does not validate: ${s.validate?.stdout}`);
  });

  it('ENOSPC reports the documented code E_NO_SPACE', () => {
    assert.equal(JSON.parse(steps.enospc.stdout).failed[0].code, 'E_NO_SPACE');
  });

  it('ENOSPC with a .tar OUT, in a layer blob or while packing the archive: no archive, no staging dir, no temp file left', () => {
    for (const name of ['enospc-tar', 'enospc-tar-pack']) {
      const s = steps[name];
      noHangNoCrash(s);
      assert.equal(s.status, 1, `${name}: ${show(s)}`);
      assert.match(s.stdout + s.stderr, /E_(NO_SPACE|OUTPUT_NOSPACE)\b.*ENOSPC|ENOSPC.*E_(NO_SPACE|OUTPUT_NOSPACE)|E_NO_SPACE: .*no space/s, `${name}: ${show(s)}`);
      assert.deepEqual(s.dirAfter.filter((n: string) => n.startsWith('image.tar')), [], `${name}: left next to the archive: ${s.dirAfter}`);
    }
    // the second one really ran out while packing (its blob fitted)
    assert.match(steps['enospc-tar-pack'].stderr, /E_NO_SPACE: .*cannot write the archive.*ENOSPC/, show(steps['enospc-tar-pack']));
  });

  it('with space again, a rerun completes to the same layout as a run on a roomy disk', () => {
    const s = steps['rerun-with-space'];
    noHangNoCrash(s);
    assert.equal(s.status, 0, show(s));
    assert.deepEqual(s.leftovers, []);
    assert.equal(s.validate?.status, 0, s.validate?.stdout);
    assert.deepEqual(s.fingerprint, reference);
  });

  it('a read-only filesystem (EROFS): exit 2 for a new OUT; a coded failure for an existing layout, left as it was', () => {
    const n = steps['erofs-new'];
    noHangNoCrash(n);
    assert.equal(n.status, 2, show(n));
    assert.match(n.stderr, /E_PERMISSION: .*EROFS/, show(n));
    const e = steps['erofs-existing'];
    noHangNoCrash(e);
    assert.equal(e.status, 1, show(e));
    const report = JSON.parse(e.stdout);
    assert.match(report.failed[0].reason, /EROFS/, show(e));
    assert.deepEqual(e.fingerprint, reference, 'the existing layout changed');
  });
});
