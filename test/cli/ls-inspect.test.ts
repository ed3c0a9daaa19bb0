import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, cliJson } from '../helpers/cli.js';
import { MiniRoot, fakeId } from '../helpers/mini-root.js';
import { needShared } from '../helpers/env.js';
import { realRoot, REAL, REAL_TGZ } from '../helpers/real-root.js';
import { treeHash } from '../helpers/tree-hash.js';

const roots: MiniRoot[] = [];
after(() => roots.forEach((r) => r.cleanup()));

test('ls on the real root: one tagged image, table and JSON, root untouched', { skip: needShared(REAL_TGZ) }, () => {
  const root = realRoot();
  const before = treeHash(root);
  const table = cli(['ls', '--root', root]);
  assert.equal(table.status, 0, table.stderr);
  assert.match(table.stdout, /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\s+LAYERS\s+STATUS$/m);
  assert.match(table.stdout, /^busybox\s+latest\s+1cee97b18f87\s+2018-12-26 08:20\s+1\.15 MB\s+2\s+ok$/m);
  assert.equal(table.stdout.trim().split('\n').length, 2);
  const { status, json } = cliJson(['ls', '--root', root]);
  assert.equal(status, 0);
  assert.equal(json.schemaVersion, 1);
  assert.deepEqual(json.images.map((i: any) => i.id), [REAL.busyboxTop]);
  assert.deepEqual(json.images[0].repoTags, ['busybox:latest']);
  assert.equal(json.containers.length, 3);
  const all = cliJson(['ls', '--all', '--root', root]).json;
  assert.deepEqual(all.images.map((i: any) => i.id), [REAL.busyboxTop, REAL.busyboxBase]);
  assert.equal(all.images[1].intermediate, true);
  // LEGACY2OCI_ROOT is honoured
  assert.equal(cli(['ls'], { env: { LEGACY2OCI_ROOT: root } }).status, 0);
  assert.equal(treeHash(root), before, 'ls wrote into the root');
});

test('inspect on the real root: chain base→top, tar-split, config summary', { skip: needShared(REAL_TGZ) }, () => {
  const root = realRoot();
  const before = treeHash(root);
  const { status, json } = cliJson(['inspect', 'busybox:latest', '--root', root]);
  assert.equal(status, 0);
  assert.deepEqual(json.layers.map((l: any) => l.id), [REAL.busyboxBase, REAL.busyboxTop]);
  assert.ok(json.layers.every((l: any) => l.tarSplit === 'ok'));
  assert.deepEqual(json.config.cmd, ['sh']);
  assert.equal(json.config.dockerVersion, '18.06.1-ce');
  assert.match(json.layers[0].createdBy, /ADD file:ce026b62/);
  const text = cli(['inspect', '1cee', '--root', root]);
  assert.equal(text.status, 0);
  assert.match(text.stdout, /Names\s+busybox:latest/);
  assert.match(text.stdout, /1\s+df557f39d413a1408f5c28d8aab2892f927237ec22e903ef04b331305130ab38/);
  assert.equal(treeHash(root), before, 'inspect wrote into the root');
});

test('bad roots and references: one-line errors and documented exit codes', () => {
  const missing = cli(['ls', '--root', '/nonexistent/l2o-root']);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /^legacy2oci ls: E_ROOT_NOT_FOUND: \/nonexistent\/l2o-root: no such directory\n$/);
  const notDocker = cli(['ls', '--root', '/tmp']);
  assert.equal(notDocker.status, 2);
  assert.match(notDocker.stderr, /E_NOT_DOCKER_ROOT/);
  assert.equal(cli(['ls', '--bogus']).status, 2);
  assert.equal(cli(['frobnicate']).status, 2);
  assert.equal(cli(['inspect']).status, 2);
  const r = new MiniRoot();
  roots.push(r);
  r.add({ id: fakeId('a') }).write({ Repositories: { a: { latest: fakeId('a') } } });
  const nf = cli(['inspect', 'nope:1', '--root', r.root]);
  assert.equal(nf.status, 1);
  assert.match(nf.stderr, /E_REF_NOT_FOUND: no image named nope:1/);
});

test('one broken image never hides the others; broken images make exit code 1', () => {
  const r = new MiniRoot();
  roots.push(r);
  const A = fakeId('ok'), B = fakeId('broken'), C = fakeId('corrupt-gzip');
  const good = gzipSync(Buffer.from('{"type":2,"payload":"","position":0}\n'.repeat(50)));
  r.add({ id: A, tarData: good })
    .add({ id: B, parent: fakeId('gone'), aufsLayers: `${fakeId('gone')}\n`, tarData: good })
    .add({ id: C, tarData: good })
    .write({ Repositories: { good: { latest: A }, bad: { latest: B }, gz: { latest: C } } });
  // truncate C's tar-split data: still gzip magic, but corrupt — found by inspect's full read
  const p = join(r.root, 'graph', C, 'tar-data.json.gz');
  writeFileSync(p, readFileSync(p).subarray(0, 20));
  const before = treeHash(r.root);
  const ls = cliJson(['ls', '--root', r.root]);
  assert.equal(ls.status, 1);
  const byId = new Map(ls.json.images.map((i: any) => [i.id, i]));
  assert.equal((byId.get(A) as any).status, 'ok');
  assert.equal((byId.get(B) as any).status, 'broken');
  const table = cli(['ls', '--root', r.root]);
  assert.match(table.stdout, /^bad\s+latest\s+\S+\s+.*BROKEN: parent-missing$/m);
  assert.match(table.stdout, /^good\s+latest\s+.*ok$/m);
  const ins = cliJson(['inspect', 'gz', '--root', r.root]);
  assert.equal(ins.status, 0);
  assert.equal(ins.json.layers[0].tarSplit, 'corrupt');
  assert.equal(ins.json.status, 'warning');
  assert.equal(cliJson(['inspect', 'bad', '--root', r.root]).status, 1);
  assert.equal(treeHash(r.root), before);
});
