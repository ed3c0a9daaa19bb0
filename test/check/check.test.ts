// `legacy2oci check`: every layer replayed and verified, diffIDs / ChainIDs / Docker 1.10 image
// IDs computed (the same as export reports), changed files listed per corrupt layer, exit codes,
// and nothing written anywhere. Fixture hosts are built by GNU tar + `tar-split disasm`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLegacyRoot, derivedId, type BuiltHost, type HostSpec, type LayerSpec } from '../helpers/fixture-builder.js';
import { cli, cliJson } from '../helpers/cli.js';
import { hasTool, needTools, PROJECT_ROOT, run } from '../helpers/env.js';
import { treeHash } from '../helpers/tree-hash.js';
import { chainIDs } from '../../src/oci/docker-config.js';
import type { CheckReport } from '../../src/check/check.js';

const skip = needTools('tar', 'tar-split');
let work = '';
let host: BuiltHost;

const id = (name: string): string => derivedId(`check-${name}`);
function layer(name: string, parent: string | null, entries: LayerSpec['entries'], extra: Partial<LayerSpec> = {}): LayerSpec {
  return {
    id: id(name),
    ...(parent ? { parent: id(parent) } : {}),
    format: 'pax',
    json: { created: '2015-06-01T00:00:00Z', dockerVersion: '1.9.1', architecture: 'amd64', os: 'linux', containerCmd: ['/bin/sh', '-c', `build ${name}`] },
    entries,
    ...extra,
  };
}

const SPEC: HostSpec = {
  name: 'check',
  mtime: 1450000000,
  layerMtime: 1430000000,
  layers: [
    layer('base', null, [
      { type: 'file', path: 'bin/tool', mode: '755', content: { repeat: 'binary-ish \u0001\u0002 content ', times: 80_000 } },
      { type: 'file', path: 'etc/os-release', content: 'NAME=test\n' },
      { type: 'symlink', path: 'bin/sh', target: 'tool' },
    ]),
    layer('ok', 'base', [{ type: 'file', path: 'app/main.py', content: 'print("hi")\n' }, { type: 'whiteout', path: 'etc/os-release' }]),
    layer('old', 'base', [{ type: 'file', path: 'app/old.txt', content: 'from Docker 1.7\n' }], { tarData: false }),
    layer('bad', 'base', [
      { type: 'file', path: 'app/a.txt', content: 'original content of a\n' },
      { type: 'file', path: 'app/b.txt', content: 'original content of b\n' },
      { type: 'file', path: 'app/c.txt', content: 'unchanged\n' },
    ]),
    layer('meta', 'base', [{ type: 'file', path: 'app/m.txt', content: { repeat: 'metadata damaged ', times: 5000 } }]),
    layer('gone', 'base', [{ type: 'file', path: 'x', content: 'x\n' }]),
    layer('orphan', 'gone', [{ type: 'file', path: 'y', content: 'y\n' }]),
  ],
  repositories: {
    'ok/app': { '1': id('ok') },
    'old/app': { '1': id('old') },
    'bad/app': { '1': id('bad') },
    'meta/app': { '1': id('meta') },
    'broken/app': { '1': id('orphan') },
  },
  damage: [
    { kind: 'modify-diff-file', layer: id('bad'), path: 'app/a.txt' },
    { kind: 'truncate-diff-file', layer: id('bad'), path: 'app/b.txt', size: 3 },
    { kind: 'truncate-tar-data', layer: id('meta') },
    { kind: 'remove-graph-dir', layer: id('gone') },
  ],
};

before(() => {
  if (skip) return;
  work = mkdtempSync(join(tmpdir(), 'l2o-check-'));
  host = buildLegacyRoot(SPEC, join(work, 'docker'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('legacy2oci check', { skip }, () => {
  test('a clean image: exit 0, original diffIDs, ChainIDs, and the image ID export computes', () => {
    const r = cliJson<CheckReport>(['check', 'ok/app:1', '--root', host.root]);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.json.ok, true);
    assert.equal(r.json.images.length, 1);
    const img = r.json.images[0];
    assert.deepEqual(img.refs, ['ok/app:1']);
    assert.deepEqual(img.layers, [id('base'), id('ok')]);
    assert.deepEqual(img.diffIDs, [host.layers[id('base')].diffID, host.layers[id('ok')].diffID]);
    assert.deepEqual(img.chainIDs, chainIDs(img.diffIDs));
    assert.equal(img.status, 'ok');
    for (const l of r.json.layers) {
      assert.equal(l.status, 'ok');
      assert.equal(l.source, 'tar-split');
      assert.equal(l.size, host.layers[l.legacyId].tarSize);
    }
    const out = join(work, 'export-ok');
    const e = cliJson<any>(['export', 'ok/app:1', out, '--root', host.root, '--compress', 'none', '--quiet']);
    assert.equal(e.status, 0, e.stderr);
    assert.equal(e.json.images[0].dockerImageID, img.dockerImageID);
    assert.deepEqual(e.json.images[0].chainIDs, img.chainIDs);
  });

  test('a layer from before tar-split: regenerated, a warning, exit 0', () => {
    const r = cliJson<CheckReport>(['check', 'old/app:1', '--root', host.root]);
    assert.equal(r.status, 0, r.stderr);
    const old = r.json.layers.find((l) => l.legacyId === id('old'))!;
    assert.equal(old.status, 'no-tar-split');
    assert.equal(old.source, 'regenerated');
    assert.match(old.reason!, /no tar-split metadata/);
    assert.equal(r.json.images[0].status, 'no-tar-split');
    assert.equal(r.json.totals.noTarSplit, 1);
  });

  test('the whole root: corrupt layers with every changed file, damaged metadata, a broken chain; exit 1', () => {
    const r = cliJson<CheckReport>(['check', '--root', host.root]);
    assert.equal(r.status, 1, r.stderr);
    assert.equal(r.json.ok, false);
    const bad = r.json.layers.find((l) => l.legacyId === id('bad'))!;
    assert.equal(bad.status, 'corrupt');
    assert.equal(bad.corruption, 'files');
    assert.match(bad.reason!, /^tar-split: (crc|size) mismatch for app\/[ab]\.txt/);
    assert.deepEqual(bad.changedFiles!.map((c) => [c.path, c.problem]), [['app/a.txt', 'content-changed'], ['app/b.txt', 'size-changed']]);
    assert.notEqual(bad.diffID, host.layers[id('bad')].diffID, 'regenerated from the changed files');
    const meta = r.json.layers.find((l) => l.legacyId === id('meta'))!;
    assert.equal(meta.status, 'corrupt');
    assert.equal(meta.corruption, 'metadata');
    assert.match(meta.metadataError!, /gzip|unexpected end/);
    const broken = r.json.failed.find((f) => f.id === id('orphan'));
    assert.equal(broken?.code, 'E_PARENT_MISSING');
    assert.equal(r.json.totals.corrupt, 2);
    // every tagged image and no intermediate one; base is checked once
    assert.deepEqual(r.json.images.map((i) => i.refs[0]).sort(), ['bad/app:1', 'meta/app:1', 'ok/app:1', 'old/app:1']);
    assert.equal(r.json.layers.filter((l) => l.legacyId === id('base')).length, 1);
    assert.equal(r.json.images.find((i) => i.refs[0] === 'bad/app:1')!.status, 'corrupt');

    const text = cli(['check', '--root', host.root, '--quiet']);
    assert.equal(text.status, 1);
    assert.match(text.stdout, /CORRUPT/);
    assert.match(text.stdout, /content-changed\s+app\/a\.txt/);
    assert.match(text.stdout, /size-changed\s+app\/b\.txt: recorded 22 bytes, the file has 3/);
    assert.match(text.stdout, /FAILED .*E_PARENT_MISSING/);
  });

  test('writes nothing: the root is unchanged, the working directory stays empty, no file is opened for writing', () => {
    const before = treeHash(host.root);
    const cwd = mkdtempSync(join(work, 'cwd-'));
    const r = cli(['check', '--root', host.root, '--quiet'], { cwd });
    assert.equal(r.status, 1);
    assert.equal(treeHash(host.root), before);
    assert.deepEqual(readdirSync(cwd), []);
    if (hasTool('strace')) {
      const log = join(work, 'check.strace');
      run('sh', ['-c', `strace -f -qq -e trace=open,openat,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat,link,linkat,symlink,symlinkat,truncate,ftruncate -o ${log} ${process.execPath} bin/legacy2oci.js check --root ${host.root} --quiet > /dev/null || true`], { cwd: PROJECT_ROOT });
      const writes = readFileSync(log, 'utf8').split('\n').filter((l) => /O_WRONLY|O_RDWR|O_CREAT|mkdir|rename|unlink|link\(|truncate/.test(l) && !/= -1 E/.test(l));
      assert.deepEqual(writes, []);
    }
  });

  test('unknown reference: reported, exit 1; bad flags: exit 2', () => {
    const r = cliJson<CheckReport>(['check', 'nope/nope:1', '--root', host.root]);
    assert.equal(r.status, 1);
    assert.equal(r.json.failed[0].code, 'E_REF_NOT_FOUND');
    assert.equal(cli(['check', '--bogus', '--root', host.root]).status, 2);
    assert.equal(cli(['check', '--root', join(work, 'no-such-root')]).status, 2);
  });

  test('--jobs does not change the result', () => {
    const a = cliJson<CheckReport>(['check', '--root', host.root, '--jobs', '1']).json;
    const b = cliJson<CheckReport>(['check', '--root', host.root, '--jobs', '3']).json;
    const strip = (x: CheckReport) => ({ ...x, totals: { ...x.totals, elapsedMs: 0 } });
    assert.deepEqual(strip(a), strip(b));
  });
});
