// Hybrid roots: a legacy graph/ beside a Docker 1.10+ image/<driver>/ store.
// 1. Real: a legacy vfs root (fixture host + cp + GNU tar) on which dockerd 20.10 was then started
//    (it ignores graph/; 1.10–18.09 would have migrated it) and built an image: both stores listed,
//    each image once, saying which store it is in; images of both export.
// 2. Migration-shaped: an aufs root with an image/aufs store holding two graph images as Docker
//    1.10's migration left them (layer cache-id = the graph id, tar-split copied, tags in
//    repositories.json): listed once, as 1.10+ images carrying their legacy id; tags merged; the
//    legacy id still resolves; the stored config is exported verbatim.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, cliJson } from '../helpers/cli.js';
import { needTools, run } from '../helpers/env.js';
import { buildHost, cleanupHosts, tempDir } from '../helpers/layouts.js';
import { diffTrees, expectedMergedTree, readTree } from '../helpers/merged-tree.js';
import { buildDriverRoot } from '../helpers/driver-fixtures.js';
import { imageFacts, needDockerd, startSandbox } from '../helpers/dockerd.js';

after(cleanupHosts);
const tools = needTools('tar-split', 'umoci');
const sha = (s: string | Buffer) => createHash('sha256').update(s).digest('hex');

describe('hybrid roots', { skip: tools }, () => {
  test('real: dockerd 20.10 started on a legacy vfs root; both stores listed once each, both export', { skip: needDockerd() }, () => {
    const h = buildHost('hosts/whiteouts.json');
    const sb = startSandbox('vfs', 'hybrid', (root) => { buildDriverRoot(h.spec, h.built, 'vfs', root); });
    let facts;
    try {
      const ctx = join(sb.dir, 'ctx');
      mkdirSync(ctx);
      writeFileSync(join(ctx, 'f'), 'new\n');
      writeFileSync(join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY f /f\n');
      sb.docker(['build', '-q', '--network=none', '-t', 'new/img:1', ctx]);
      facts = imageFacts(sb, 'new/img:1');
      sb.stop();

      const ls = cliJson(['ls', '--root', sb.root]);
      assert.equal(ls.status, 0, ls.stderr);
      assert.deepEqual(ls.json.stores.map((s: any) => `${s.kind}/${s.driver}`), ['graph/vfs', 'image-store/vfs']);
      assert.ok(ls.json.problems.some((p: any) => p.code === 'W_HYBRID_ROOT'));
      const tags = ls.json.images.flatMap((i: any) => i.repoTags);
      assert.equal(new Set(tags).size, tags.length, 'no duplicates');
      const fresh = ls.json.images.find((i: any) => i.repoTags.includes('new/img:1'));
      assert.equal(fresh.store, 'image-store');
      assert.equal(`sha256:${fresh.id}`, facts.id);
      const legacy = ls.json.images.find((i: any) => i.repoTags.includes('fixture/whiteouts:latest'));
      assert.equal(legacy.store, 'graph');
      const table = cli(['ls', '--root', sb.root]);
      assert.match(table.stdout, /STORE/);
      assert.match(table.stdout, /image\/vfs/);
      assert.match(table.stdout, /graph\/vfs/);

      const out = join(tempDir('hybrid-out'), 'layout');
      const r = cliJson(['export', 'new/img:1', 'fixture/whiteouts:latest', out, '--root', sb.root]);
      assert.equal(r.status, 0, r.stderr);
      const n = r.json.images.find((i: any) => i.refs.includes('new/img:1'));
      assert.equal(n.configDigest, facts.id);
      assert.deepEqual(n.layers.map((l: any) => l.diffID), facts.diffIDs);
      const w = r.json.images.find((i: any) => i.refs.includes('fixture/whiteouts:latest'));
      for (const l of w.layers) assert.equal(l.diffID, h.built.layers[l.legacyId]!.diffID);
      const bundle = join(tempDir('hybrid-bundle'), 'b');
      run('umoci', ['unpack', '--image', `${out}:fixture/whiteouts:latest`, bundle]);
      assert.deepEqual(diffTrees(expectedMergedTree(h.spec, w.legacyId), readTree(join(bundle, 'rootfs'))), []);
    } finally {
      sb.remove();
    }
  });

  test('migration-shaped: graph images Docker 1.10 migrated are listed once, under their 1.10+ id', () => {
    const h = buildHost('hosts/whiteouts.json');
    const root = h.built.root;
    const store = join(root, 'image', 'aufs');
    const migrated = new Map<string, string>(); // legacy id → 1.10+ image id
    for (const ref of ['fixture/whiteouts:latest', 'fixture/whiteouts:v2']) {
      const top = h.built.tags[ref]!;
      const chain = [...h.built.layers[top]!.ancestors].reverse().concat(top);
      const diffIDs = chain.map((id) => h.built.layers[id]!.diffID);
      let chainID = '';
      chain.forEach((id, i) => {
        const parent = chainID;
        chainID = i === 0 ? diffIDs[0]! : `sha256:${sha(`${parent} ${diffIDs[i]}`)}`;
        const l = join(store, 'layerdb', 'sha256', chainID.slice(7));
        mkdirSync(l, { recursive: true });
        writeFileSync(join(l, 'diff'), diffIDs[i]!);
        writeFileSync(join(l, 'cache-id'), id);
        writeFileSync(join(l, 'size'), '0');
        if (i > 0) writeFileSync(join(l, 'parent'), parent);
        copyFileSync(join(root, 'graph', id, 'tar-data.json.gz'), join(l, 'tar-split.json.gz'));
      });
      // a config as a daemon stored it (not computed by the code under test): bytes kept verbatim;
      // the migration kept the image's creation time
      const created = JSON.parse(readFileSync(join(root, 'graph', top, 'json'), 'utf8')).created as string;
      const config = `{"architecture":"amd64","config":{"Cmd":["/bin/sh"]},"created":"${created}","history":[],"os":"linux","rootfs":{"type":"layers","diff_ids":${JSON.stringify(diffIDs)}},"note":"migrated ${ref}"}`;
      const id = sha(config);
      mkdirSync(join(store, 'imagedb', 'content', 'sha256'), { recursive: true });
      writeFileSync(join(store, 'imagedb', 'content', 'sha256', id), config);
      migrated.set(top, id);
      if (ref.endsWith(':latest')) {
        // built on it after the upgrade with only an ENV: the same layers, another image
        const envConfig = config.replace('"Cmd":["/bin/sh"]', '"Cmd":["/bin/sh"],"Env":["A=1"]').replace(created, '2017-01-01T00:00:00Z');
        writeFileSync(join(store, 'imagedb', 'content', 'sha256', sha(envConfig)), envConfig);
        migrated.set('env', sha(envConfig));
      }
    }
    const envId = migrated.get('env')!;
    migrated.delete('env');
    const latest = migrated.get(h.built.tags['fixture/whiteouts:latest']!)!;
    writeFileSync(join(store, 'repositories.json'), JSON.stringify({ Repositories: { 'fixture/whiteouts': { 'fixture/whiteouts:latest': `sha256:${latest}`, 'fixture/whiteouts:env': `sha256:${envId}` } } }));

    const ls = cliJson(['ls', '--all', '--root', root]);
    assert.equal(ls.status, 0, ls.stderr);
    const ids = ls.json.images.map((i: any) => i.id);
    assert.equal(new Set(ids).size, ids.length);
    for (const [legacyId, newId] of migrated) {
      assert.ok(!ids.includes(legacyId), `graph image ${legacyId.slice(0, 12)} listed once, as its 1.10+ image`);
      const row = ls.json.images.find((i: any) => i.id === newId);
      assert.equal(row.store, 'image-store');
      assert.equal(row.legacyId, legacyId);
    }
    // v2 was only in repositories-aufs: the tag follows its image to the 1.10+ record
    const v2 = ls.json.images.find((i: any) => i.repoTags.includes('fixture/whiteouts:v2'));
    assert.equal(v2.id, migrated.get(h.built.tags['fixture/whiteouts:v2']!));
    const env = ls.json.images.find((i: any) => i.repoTags.includes('fixture/whiteouts:env'));
    assert.equal(env.id, envId);
    assert.equal(env.legacyId, null, 'same layers, later image: not the migrated one');
    const other = ls.json.images.find((i: any) => i.repoTags.includes('localhost:5000/x/y:1'));
    assert.equal(other.store, 'graph');
    const tags = ls.json.images.flatMap((i: any) => i.repoTags);
    assert.equal(new Set(tags).size, tags.length);

    // the legacy id still resolves, to the same image; its stored config is exported verbatim
    const out = join(tempDir('mig-out'), 'layout');
    const r = cliJson(['export', h.built.tags['fixture/whiteouts:latest']!, out, '--root', root]);
    assert.equal(r.status, 0, r.stderr);
    const img = r.json.images[0];
    assert.equal(img.configDigest, `sha256:${latest}`);
    assert.equal(img.dockerImageID, `sha256:${latest}`);
    assert.ok(img.layers.every((l: any) => l.source === 'tar-split'));
    const ins = cliJson(['inspect', 'fixture/whiteouts:latest', '--root', root]);
    assert.equal(ins.json.legacyId, h.built.tags['fixture/whiteouts:latest']);
  });
});
