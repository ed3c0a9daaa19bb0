// ls / inspect on the generated fixture hosts and the demo host (built by GNU tar + tar-split).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cli, cliJson } from '../helpers/cli.js';
import { needTools } from '../helpers/env.js';
import { buildHost, cleanupHosts } from '../helpers/layouts.js';
import { treeHash } from '../helpers/tree-hash.js';

after(cleanupHosts);
const skip = needTools('tar-split');

test('demo host: ls lists training/webapp:latest (13 layers) and ubuntu:14.04; the container is not an image', { skip }, () => {
  const h = buildHost('demo/demo-host.json');
  const before = treeHash(h.built.root);
  const { status, json } = cliJson(['ls', '--root', h.built.root]);
  assert.equal(status, 0);
  const byTag = new Map(json.images.map((i: any) => [i.repoTags[0], i]));
  const webapp = byTag.get('training/webapp:latest') as any;
  assert.equal(webapp.id, '02a8815912ca800f99b7d912485e8c618260e27c6de8d7a161b356b322d5c121');
  assert.equal(webapp.layers, 13);
  assert.equal(webapp.status, 'ok');
  assert.deepEqual(webapp.chain[0], 'e9e06b06e14c2f7d8df0251e3bb852c3a10a70639498163d4f180a823c18fdfc');
  assert.ok(byTag.has('ubuntu:14.04'));
  assert.equal(json.images.length, 2);
  assert.deepEqual(json.containers.map((c: any) => c.image), [webapp.id]);
  const all = cliJson(['ls', '--all', '--root', h.built.root]).json;
  assert.equal(all.images.length, 13);
  const ins = cliJson(['inspect', 'training/webapp', '--root', h.built.root]).json;
  assert.deepEqual(ins.layers.map((l: any) => l.id), webapp.chain);
  assert.deepEqual(ins.config.exposedPorts, ['5000/tcp']);
  assert.ok(ins.layers.every((l: any) => l.tarSplit === 'ok'));
  assert.equal(treeHash(h.built.root), before);
});

test('broken host: every damage shows up in STATUS, the good image stays ok', { skip }, () => {
  const h = buildHost('hosts/broken.json');
  const { status, json } = cliJson(['ls', '--root', h.built.root]);
  assert.equal(status, 1);
  const st = (ref: string) => {
    const img = json.images.find((i: any) => i.repoTags.includes(ref));
    assert.ok(img, ref);
    return { status: img.status, codes: img.problems.map((p: any) => p.code) };
  };
  assert.equal(st('broken/good:latest').status, 'ok');
  assert.ok(st('broken/missing-parent:latest').codes.includes('E_PARENT_MISSING'));
  assert.ok(st('broken/cycle:latest').codes.includes('E_CHAIN_CYCLE'));
  assert.ok(st('broken/missing-diff:latest').codes.includes('E_DIFF_MISSING'));
  assert.ok(st('broken/corrupt-json:latest').codes.includes('E_JSON_INVALID'));
  assert.ok(st('broken/layers-mismatch:latest').codes.includes('W_AUFS_LAYERS_MISMATCH'));
  // corrupt tar-split gzip is found by inspect's full read
  const ins = cliJson(['inspect', 'broken/truncated-tardata', '--root', h.built.root]).json;
  assert.ok(ins.layers.some((l: any) => l.tarSplit === 'corrupt'));
  const table = cli(['ls', '--root', h.built.root]).stdout;
  assert.match(table, /^broken\/cycle\s+latest\s+\S+\s+.*BROKEN: chain-cycle/m);
  assert.ok(json.problems.some((p: any) => p.code === 'W_IGNORED_ENTRY'));
});

test('formats and whiteouts hosts: every tag resolves, digest refs included', { skip }, () => {
  for (const rel of ['hosts/formats.json', 'hosts/whiteouts.json']) {
    const h = buildHost(rel);
    const { status, json } = cliJson(['ls', '--root', h.built.root]);
    assert.equal(status, 0, rel);
    for (const [ref, id] of Object.entries(h.built.tags)) {
      const familiar = ref.replace(/^library\//, '');
      const img = json.images.find((i: any) => i.repoTags.includes(familiar) || i.repoDigests.includes(familiar));
      assert.ok(img, `${rel}: ${ref}`);
      assert.equal(img.id, id);
      assert.equal(cliJson(['inspect', familiar, '--root', h.built.root]).json.id, id);
    }
  }
});
