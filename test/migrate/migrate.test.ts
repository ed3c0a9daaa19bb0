// `legacy2oci migrate` over several fixture hosts at once: the demo host, the generated host with
// broken images, the real Docker 1.x root and a directory that is no Docker root. Checks the report,
// failure isolation, that every per-host layout is exactly what `export` writes for the same images,
// that a rerun of a finished migration writes nothing (and --verify repairs a damaged blob), and the
// shared layout with prefixes, images = "all", include/exclude, name conflicts and docker_save.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { cli, cliJson } from '../helpers/cli.js';
import { needShared, needTools, run } from '../helpers/env.js';
import { buildHost, cleanupHosts, tempDir, type FixtureHost } from '../helpers/layouts.js';
import { realRoot, REAL, REAL_TGZ } from '../helpers/real-root.js';
import { treeHash } from '../helpers/tree-hash.js';
import { defaultCompression, formatCompression } from '../../src/engine/compression/registry.js';
import { layoutPrint, q, snapshot, writeConfig } from './helpers.js';

after(cleanupHosts);
const skipGenerated = needTools('tar-split');
const skipAll = skipGenerated || needShared(REAL_TGZ);

let demoHost: FixtureHost | null = null;
let brokenHost: FixtureHost | null = null;
const demo = () => (demoHost ??= buildHost('demo/demo-host.json'));
const broken = () => (brokenHost ??= buildHost('hosts/broken.json'));

function withoutRun(report: any): any {
  const { run: _run, ...rest } = report;
  return rest;
}

const BROKEN_FAILED = ['broken/corrupt-json:latest', 'broken/cycle:latest', 'broken/missing-diff:latest', 'broken/missing-parent:latest'];

test('several hosts: failures isolated, report, layouts identical to export, idempotent rerun, --verify repairs', { skip: skipAll }, (t) => {
  const d = demo();
  const b = broken();
  const real = realRoot();
  const notRoot = tempDir('not-a-root');
  const dir = tempDir('migrate-multi');
  const cfg = writeConfig(dir, [
    'jobs = 2',
    'parallel_hosts = 3',
    '[[host]]', 'name = "demo"', `root = ${q(d.built.root)}`,
    '[[host]]', 'name = "broken"', `root = ${q(b.built.root)}`,
    '[[host]]', 'name = "real"', `root = ${q(real)}`,
    '[[host]]', 'name = "nowhere"', `root = ${q(notRoot)}`,
  ].join('\n') + '\n');
  const roots = [d.built.root, b.built.root, real];
  const before = roots.map(treeHash);
  const out = join(dir, 'out');

  // --dry-run: the plan, and nothing written
  const plan = cliJson(['migrate', cfg, '--dry-run']);
  assert.equal(plan.status, 1, 'a host that cannot be read is a failure even in the plan');
  assert.equal(existsSync(out), false, '--dry-run writes nothing');
  const pDemo = plan.json.hosts[0];
  assert.equal(pDemo.status, 'planned');
  assert.deepEqual(pDemo.images.map((i: any) => [i.refs[0], i.status]), [['training/webapp:latest', 'planned'], ['ubuntu:14.04', 'planned']]);
  assert.equal(pDemo.plan.uniqueLayers, 13);
  assert.equal(pDemo.plan.pendingLayers, 13);
  assert.ok(pDemo.plan.bytesToRead > 0);
  assert.deepEqual(plan.json.hosts[1].images.filter((i: any) => i.status === 'failed').map((i: any) => i.refs[0]).sort(), BROKEN_FAILED);
  const dry = cli(['migrate', cfg, '--dry-run']);
  assert.match(dry.stdout, /unique layers\s+13/);
  assert.match(dry.stdout, /FAILED E_NOT_DOCKER_ROOT/);

  // the run
  const r = cliJson(['migrate', cfg]);
  assert.equal(r.status, 1, r.stderr);
  const report = r.json;
  assert.deepEqual(JSON.parse(readFileSync(join(out, 'migrate-report.json'), 'utf8')), report, 'report file = --json output');
  assert.equal(report.schemaVersion, 1);
  assert.equal(report.compression, formatCompression(defaultCompression()), 'no compress key: export\'s default');
  assert.deepEqual(report.hosts.map((h: any) => [h.name, h.status]), [['demo', 'exported'], ['broken', 'partial'], ['real', 'exported'], ['nowhere', 'failed']]);
  assert.equal(report.hosts[3].code, 'E_NOT_DOCKER_ROOT');
  assert.deepEqual(roots.map(treeHash), before, 'migrate wrote into a root');

  const [hDemo, hBroken, hReal] = report.hosts;
  const webapp = hDemo.images.find((i: any) => i.refs[0] === 'training/webapp:latest');
  assert.equal(webapp.status, 'exported');
  assert.equal(webapp.legacyId, '02a8815912ca800f99b7d912485e8c618260e27c6de8d7a161b356b322d5c121');
  assert.equal(webapp.layers.length, 13);
  assert.ok(webapp.layers.every((l: any) => l.source === 'tar-split' && l.diffID === d.built.layers[l.legacyId]!.diffID));
  assert.equal(webapp.configDigest, webapp.dockerImageID, 'byte-exact config: digest = Docker 1.10 image ID');
  const failed = hBroken.images.filter((i: any) => i.status === 'failed');
  assert.deepEqual(failed.map((i: any) => i.refs[0]).sort(), BROKEN_FAILED);
  for (const f of failed) assert.ok(/^E_/.test(f.code) && f.reason, JSON.stringify(f));
  const regen = hBroken.images.find((i: any) => i.refs[0] === 'broken/truncated-tardata:latest');
  assert.equal(regen.status, 'exported');
  assert.ok(regen.layers.some((l: any) => l.source === 'regenerated' && l.reason), 'regenerated layers carry their reason');
  const busybox = hReal.images.find((i: any) => i.refs[0] === 'busybox:latest');
  assert.deepEqual(busybox.layers.map((l: any) => l.diffID), [REAL.baseDiffID, REAL.emptyDiffID]);
  assert.equal(report.totals.failed, 4);
  assert.equal(report.totals.exported, report.hosts.reduce((s: number, h: any) => s + h.totals.exported, 0));
  assert.equal(report.totals.hostsFailed, 1);
  assert.ok(report.run.layersProcessed > 0 && report.run.elapsedMs >= 0);

  // every layout: valid, and byte for byte what `export` writes for the same images
  for (const h of report.hosts.slice(0, 3)) {
    assert.equal(h.layout, join(out, h.name));
    const v = cli(['validate', h.layout]);
    assert.equal(v.status, 0, `${h.name}: ${v.stdout}${v.stderr}`);
    const refs = h.images.filter((i: any) => i.status !== 'skipped').flatMap((i: any) => i.refs);
    const exp = join(tempDir('export-cmp'), 'layout');
    const e = cli(['export', ...refs, exp, '--root', h.root, '--quiet']);
    assert.equal(e.status, h.status === 'exported' ? 0 : 1, e.stderr);
    assert.deepEqual(layoutPrint(h.layout), layoutPrint(exp), `${h.name}: migrate and export layouts differ`);
    assert.ok(existsSync(join(h.layout, '.legacy2oci', 'journal.jsonl')));
  }

  // after the run the plan has nothing left to do
  const plan2 = cliJson(['migrate', cfg, '--dry-run']);
  assert.deepEqual(plan2.json.hosts.slice(0, 3).map((h: any) => h.plan.pendingLayers), [0, 0, 0]);

  // a rerun of a finished migration writes nothing and says the same
  const snap = snapshot(out);
  const t0 = Date.now();
  const again = cliJson(['migrate', cfg]);
  const rerunMs = Date.now() - t0;
  assert.equal(again.status, 1);
  assert.deepEqual(snapshot(out), snap, 'the rerun wrote, replaced, added or removed a file');
  assert.deepEqual(withoutRun(again.json), withoutRun(report));
  assert.equal(again.json.run.layersProcessed, 0);
  assert.equal(again.json.run.bytesWritten, 0);
  assert.equal(again.json.run.imagesFromJournal, report.totals.exported);
  t.diagnostic(`rerun of a finished 4-host migration: ${rerunMs} ms (whole CLI process)`);
  const human = cli(['migrate', cfg]);
  assert.match(human.stdout, /report: .*migrate-report\.json \(unchanged\)/);
  assert.match(human.stdout, /FAILED broken\/cycle:latest: E_CHAIN_CYCLE/);

  // --verify re-hashes, and still writes nothing when all is well
  const verified = cliJson(['migrate', cfg, '--verify']);
  assert.equal(verified.status, 1);
  assert.equal(verified.json.run.verify, true);
  assert.deepEqual(snapshot(out), snap);

  // a blob damaged behind our back (same size): trusted by a plain rerun, repaired by --verify
  const layout = join(out, 'demo');
  const goodPrint = layoutPrint(layout);
  const victim = webapp.layers.reduce((a: any, l: any) => (l.size > a.size ? l : a));
  const blob = join(layout, 'blobs', 'sha256', victim.digest.slice('sha256:'.length));
  const bytes = readFileSync(blob);
  bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
  writeFileSync(blob, bytes);
  assert.equal(cliJson(['migrate', cfg]).json.run.layersProcessed, 0, 'without --verify the journal is trusted');
  assert.notEqual(cli(['validate', layout]).status, 0, 'the damage is real');
  const repaired = cliJson(['migrate', cfg, '--verify']);
  assert.equal(repaired.status, 1);
  assert.equal(repaired.json.run.layersProcessed, 1, 'only the damaged layer is redone');
  assert.deepEqual(layoutPrint(layout), goodPrint);
  assert.equal(cli(['validate', layout]).status, 0);
  assert.deepEqual(withoutRun(repaired.json), withoutRun(report));
});

test('shared layout: prefixes, images = "all", include/exclude, name conflicts, docker_save', { skip: skipAll }, () => {
  const d = demo();
  const real = realRoot();
  const dir = tempDir('migrate-shared');
  const cfg = writeConfig(dir, [
    'output = "shared"',
    'layout = "shared"',
    'jobs = 2',
    'docker_save = true',
    '[[host]]', 'name = "demo-a"', `root = ${q(d.built.root)}`, 'include = ["training/*"]', 'prefix = "registry.example.com/legacy/"',
    '[[host]]', 'name = "demo-b"', `root = ${q(d.built.root)}`, 'exclude = ["**:14.04"]',
    '[[host]]', 'name = "real"', `root = ${q(real)}`, 'images = "all"',
    '[[host]]', 'name = "real-copy"', `root = ${q(real)}`,
  ].join('\n') + '\n');
  const r = cliJson(['migrate', cfg]);
  assert.equal(r.status, 0, r.stderr);
  const layout = join(dir, 'shared');
  const hosts = Object.fromEntries(r.json.hosts.map((h: any) => [h.name, h]));
  assert.ok(r.json.hosts.every((h: any) => h.layout === layout));
  assert.deepEqual(hosts['demo-a'].images.map((i: any) => [i.refs[0], i.status]), [
    ['registry.example.com/legacy/training/webapp:latest', 'exported'],
    ['registry.example.com/legacy/ubuntu:14.04', 'skipped'],
  ]);
  assert.match(hosts['demo-a'].images[1].reason, /matches no include pattern \(training\/\*\)/);
  assert.deepEqual(hosts['demo-b'].images.map((i: any) => [i.refs[0], i.status]), [['training/webapp:latest', 'exported'], ['ubuntu:14.04', 'skipped']]);
  assert.match(hosts['demo-b'].images[1].reason, /excluded by pattern \*\*:14\.04/);
  // images = "all": the intermediate base layer of busybox is exported too, unnamed
  const realImages = hosts.real.images;
  assert.deepEqual(realImages.map((i: any) => [i.refs[0] ?? null, i.status]), [['busybox:latest', 'exported'], [null, 'exported']]);
  assert.equal(realImages[1].legacyId, REAL.busyboxBase);
  // the same name from a later host is not exported over the first one
  assert.equal(hosts['real-copy'].status, 'exported');
  assert.deepEqual(hosts['real-copy'].images.map((i: any) => i.status), ['skipped']);
  assert.match(hosts['real-copy'].images[0].reason, /exported by host real into the shared layout/);
  assert.ok(hosts['real-copy'].warnings.some((w: string) => /busybox:latest: not exported from this host, host real exports that name/.test(w)));

  const index = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8'));
  const names = index.manifests.map((m: any) => m.annotations['org.opencontainers.image.ref.name'] ?? `<${m.annotations['io.github.legacy2oci.image.id'].slice(0, 12)}>`);
  assert.deepEqual(names, ['busybox:latest', 'registry.example.com/legacy/training/webapp:latest', 'training/webapp:latest', `<${REAL.busyboxBase.slice(0, 12)}>`]);
  const saved = JSON.parse(readFileSync(join(layout, 'manifest.json'), 'utf8'));
  assert.deepEqual(saved.flatMap((i: any) => i.RepoTags ?? []).sort(), ['busybox:latest', 'registry.example.com/legacy/training/webapp:latest', 'training/webapp:latest']);
  const v = cli(['validate', layout]);
  assert.equal(v.status, 0, v.stdout + v.stderr);
  assert.ok(existsSync(join(layout, 'migrate-report.json')), 'the report of a shared layout sits in it');
  assert.deepEqual(readdirSync(join(layout, '.legacy2oci')), ['journal.jsonl'], 'one journal, no lock left');

  // rerun: nothing written
  const snap = snapshot(layout);
  const again = cliJson(['migrate', cfg]);
  assert.equal(again.status, 0);
  assert.equal(again.json.run.layersProcessed, 0);
  assert.deepEqual(snapshot(layout), snap);
  if (!needTools('skopeo')) run('skopeo', ['inspect', `oci:${layout}:registry.example.com/legacy/training/webapp:latest`]);
});

test('on_error = "stop": after a failed host no other starts; "continue" carries on', { skip: skipGenerated }, () => {
  const d = demo();
  const notRoot = tempDir('not-a-root');
  const dir = tempDir('migrate-stop');
  const hostsToml = ['[[host]]', 'name = "nowhere"', `root = ${q(notRoot)}`, '[[host]]', 'name = "demo"', `root = ${q(d.built.root)}`].join('\n');
  const stop = cliJson(['migrate', writeConfig(dir, `parallel_hosts = 1\non_error = "stop"\n${hostsToml}\n`, 'stop.toml')]);
  assert.equal(stop.status, 1);
  assert.deepEqual(stop.json.hosts.map((h: any) => [h.name, h.status]), [['nowhere', 'failed'], ['demo', 'skipped']]);
  assert.ok(stop.json.hosts[1].images.every((i: any) => i.status === 'skipped' && /on_error = "stop" and host nowhere failed/.test(i.reason)));
  assert.equal(existsSync(join(dir, 'out', 'demo')), false, 'the skipped host wrote nothing');

  const cont = cliJson(['migrate', writeConfig(dir, `parallel_hosts = 1\n${hostsToml}\n`, 'continue.toml')]);
  assert.equal(cont.status, 1);
  assert.deepEqual(cont.json.hosts.map((h: any) => [h.name, h.status]), [['nowhere', 'failed'], ['demo', 'exported']]);
  assert.equal(cli(['validate', join(dir, 'out', 'demo')]).status, 0);
  assert.ok(statSync(join(dir, 'out', 'migrate-report.json')).isFile());
});
