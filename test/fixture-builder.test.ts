// The fixture builder, checked with third-party tools only: GNU tar (list, compare, extract),
// Debian's tar-split (asm) and umoci (unpack with OCI whiteout semantics).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT, needTools, run } from './helpers/env.js';
import {
  type BuiltHost, type HostSpec, type LayerSpec, type TarEntry,
  buildLegacyRoot, displayPath, imageChain, loadHostSpec, specLayerEntries, under,
} from './helpers/fixture-builder.js';
import { diffTrees, expectedMergedTree, readTree } from './helpers/merged-tree.js';

const HOSTS_DIR = join(PROJECT_ROOT, 'fixtures', 'hosts');
const DEMO_DIR = join(PROJECT_ROOT, 'fixtures', 'demo');
const NEED_TARSPLIT = needTools('tar-split');
const NEED_UMOCI = needTools('tar-split', 'umoci');
const IS_ROOT = process.getuid?.() === 0;

/** Damage after which tar-split reassembly must fail (or at least not give the original tar). */
const BREAKS_ASM = new Set(['truncate-tar-data', 'modify-diff-file', 'truncate-diff-file', 'remove-diff-dir', 'remove-graph-dir']);

const sha256 = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

/** tar-split asm of one layer from its aufs diff dir; null when tar-split refuses. */
function reassemble(root: string, id: string, out: string): Buffer | null {
  const r = spawnSync('tar-split', ['asm', '--input', join(root, 'graph', id, 'tar-data.json.gz'), '--path', join(root, 'aufs', 'diff', id), '--output', out]);
  return r.status === 0 ? readFileSync(out) : null;
}

// ───────────────────── `tar -tvf` parsing (GNU tar's own listing) ─────────────────────

interface Listed { type: string; mode: number; uid: number; gid: number; size: string; mtime: string; name: Buffer; link?: Buffer }

const TYPE_CHAR: Record<TarEntry['type'], string> = { file: '-', dir: 'd', symlink: 'l', hardlink: 'h', fifo: 'p', char: 'c', block: 'b' };

/** "rwsr-xr-t" → 0o5755-style bits. */
function parsePerms(p: string): number {
  let m = 0;
  for (let i = 0; i < 9; i++) if (!'-ST'.includes(p[i])) m |= 1 << (8 - i);
  if ('sS'.includes(p[2])) m |= 0o4000;
  if ('sS'.includes(p[5])) m |= 0o2000;
  if ('tT'.includes(p[8])) m |= 0o1000;
  return m;
}

function listTar(tarPath: string): Listed[] {
  const out = run('tar', ['--list', '--verbose', '--numeric-owner', '--full-time', '--utc', '--quoting-style=literal', `--file=${tarPath}`], { env: { ...process.env, LC_ALL: 'C' } });
  // names are raw bytes: split the listing as latin1 so every byte survives
  return out.toString('latin1').split('\n').filter(Boolean).map((line) => {
    const m = /^(.)(.{9}) (\d+)\/(\d+) +(\d+|\d+,\d+) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) (.*)$/s.exec(line);
    if (!m) throw new Error(`cannot parse tar listing line: ${line}`);
    let name = m[7];
    let link: string | undefined;
    const sep = m[1] === 'l' ? ' -> ' : m[1] === 'h' ? ' link to ' : null;
    if (sep) [name, link] = [name.slice(0, name.indexOf(sep)), name.slice(name.indexOf(sep) + sep.length)];
    return {
      type: m[1], mode: parsePerms(m[2]), uid: Number(m[3]), gid: Number(m[4]), size: m[5], mtime: m[6],
      name: Buffer.from(name.replace(/\/$/, ''), 'latin1'), link: link === undefined ? undefined : Buffer.from(link, 'latin1'),
    };
  });
}

function utcStamp(t: number): string {
  return new Date(t * 1000).toISOString().replace('T', ' ').slice(0, 19);
}

/** The listing GNU tar must print for a layer, from the spec (names, types, modes, owners, sizes, mtimes, links). */
function expectedListing(layer: LayerSpec, built: BuiltHost): Listed[] {
  return built.layers[layer.id].tarEntries.map((t) => ({
    type: TYPE_CHAR[t.type],
    mode: t.type === 'symlink' ? 0o777 : t.mode,
    uid: t.uid, gid: t.gid,
    size: t.type === 'char' || t.type === 'block' ? `${t.major},${t.minor}` : String(t.size),
    mtime: utcStamp(t.mtime),
    name: t.name,
    link: t.linkTarget,
  }));
}

const show = (l: Listed) =>
  `${l.type} ${l.mode.toString(8)} ${l.uid}:${l.gid} ${l.size} ${l.mtime} ${displayPath(l.name)}${l.link ? ` → ${displayPath(l.link)}` : ''}`;

// ───────────────────── per-host checks ─────────────────────

/** Builds a spec into a fresh temp dir for one describe block. */
function withBuiltHost(specPath: string): { get: () => { spec: HostSpec; built: BuiltHost; tmp: string } } {
  let state: { spec: HostSpec; built: BuiltHost; tmp: string } | undefined;
  before(() => {
    const tmp = mkdtempSync(join(tmpdir(), 'l2o-fixture-'));
    const spec = loadHostSpec(specPath);
    state = { spec, tmp, built: buildLegacyRoot(spec, join(tmp, 'docker')) };
  });
  after(() => { if (state) rmSync(state.tmp, { recursive: true, force: true }); });
  return { get: () => state! };
}

function damageOf(built: BuiltHost, id: string): string[] {
  return built.layers[id].damaged;
}

for (const host of ['formats', 'whiteouts', 'broken']) {
  describe(`fixture host ${host}.json`, { skip: NEED_TARSPLIT }, () => {
    const ctx = withBuiltHost(join(HOSTS_DIR, `${host}.json`));

    it('keeps the original tars outside the root, hashing to the reported diffIDs', () => {
      const { built } = ctx.get();
      for (const l of Object.values(built.layers)) {
        assert.ok(!l.tarPath.startsWith(built.root + '/'), `${l.tarPath} is inside the root`);
        const tar = readFileSync(l.tarPath);
        assert.equal(tar.length, l.tarSize);
        assert.equal(sha256(tar), l.diffID);
      }
    });

    it('tar-split asm of every intact layer reproduces the original tar byte for byte', () => {
      const { built, tmp } = ctx.get();
      let checked = 0;
      for (const l of Object.values(built.layers)) {
        if (!l.tarData || l.damaged.some((d) => BREAKS_ASM.has(d))) continue;
        const out = reassemble(built.root, l.id, join(tmp, 'asm.tar'));
        assert.ok(out, `tar-split asm failed for ${l.id}`);
        assert.equal(sha256(out), l.diffID, `layer ${l.id}`);
        checked++;
      }
      assert.ok(checked > 0);
    });

    it('writes no tar-data for pre-1.8 layers', () => {
      const { built } = ctx.get();
      for (const l of Object.values(built.layers)) {
        if (l.damaged.includes('remove-graph-dir')) continue;
        assert.equal(existsSync(join(built.root, 'graph', l.id, 'tar-data.json.gz')), l.tarData, l.id);
      }
    });

    it('GNU tar lists exactly the entries the spec describes', () => {
      const { spec, built } = ctx.get();
      for (const layer of spec.layers) {
        const actual = listTar(built.layers[layer.id].tarPath).map(show);
        const expected = expectedListing(layer, built).map(show);
        assert.deepEqual(actual, expected, `layer ${layer.id} (${layer.format})`);
      }
    });

    it('extracts each tar into aufs/diff/<id> exactly (GNU tar --compare), whiteouts aside', () => {
      const { built } = ctx.get();
      for (const l of Object.values(built.layers)) {
        if (l.damaged.length > 0) continue;
        const r = spawnSync('tar', ['--compare', `--file=${l.tarPath}`, `--directory=${join(built.root, 'aufs', 'diff', l.id)}`, '--numeric-owner', ...(built.asRoot ? ['--xattrs'] : [])], { env: { ...process.env, LC_ALL: 'C' } });
        // whiteouts relinked to .wh..wh.aufs share its inode and hence its mtime; without root the
        // extracted files are ours, not the tar's owners; everything else must match
        const problems = r.stdout.toString('latin1').split('\n')
          .filter((s) => s && !/\.wh\./.test(s) && (built.asRoot || !/: [UG]id differs$/.test(s)));
        assert.deepEqual(problems, [], `layer ${l.id}: ${r.stderr}`);
      }
    });

    it('gives every diff dir aufs\'s own .wh..wh.aufs, .wh..wh.plnk/ and .wh..wh.orph/', () => {
      const { spec, built } = ctx.get();
      for (const l of spec.layers) {
        if ((l.aufsMeta ?? true) === false || damageOf(built, l.id).includes('remove-diff-dir')) continue;
        const diff = join(built.root, 'aufs', 'diff', l.id);
        assert.equal(lstatSync(join(diff, '.wh..wh.aufs')).mode & 0o7777, 0o444);
        for (const d of ['.wh..wh.plnk', '.wh..wh.orph']) {
          const st = lstatSync(join(diff, d));
          assert.ok(st.isDirectory() && (st.mode & 0o7777) === 0o700, `${l.id}/${d}`);
        }
        assert.ok(lstatSync(join(built.root, 'aufs', 'mnt', l.id)).isDirectory());
      }
    });

    it('hard-links whiteouts and opaque markers to .wh..wh.aufs where the spec says so', () => {
      const { spec, built } = ctx.get();
      for (const l of spec.layers) {
        if (damageOf(built, l.id).includes('remove-diff-dir')) continue;
        const diff = join(built.root, 'aufs', 'diff', l.id);
        const baseIno = lstatSync(join(diff, '.wh..wh.aufs')).ino;
        const { entries } = specLayerEntries(spec, l, built.asRoot);
        for (const e of entries.filter((x) => x.role === 'whiteout' || x.role === 'opaque')) {
          const ino = lstatSync(under(diff, e.name)).ino;
          assert.equal(ino === baseIno, l.linkWhiteouts ?? false, `${l.id}: ${displayPath(e.name)}`);
        }
      }
    });

    it('writes aufs/layers/<id> with the ancestors nearest first, one "\\n"-ended line each', () => {
      const { built } = ctx.get();
      for (const l of Object.values(built.layers)) {
        const text = readFileSync(join(built.root, 'aufs', 'layers', l.id), 'utf8');
        if (l.damaged.includes('layers-file')) {
          assert.notEqual(text, l.ancestors.map((a) => `${a}\n`).join(''));
          continue;
        }
        assert.equal(text, l.ancestors.map((a) => `${a}\n`).join(''), l.id);
      }
    });

    it('writes repositories-aufs as json.Marshal did (sorted keys, no newline) with every tag', () => {
      const { spec, built } = ctx.get();
      const raw = readFileSync(join(built.root, 'repositories-aufs'), 'utf8');
      assert.ok(!raw.endsWith('\n'));
      assert.deepEqual(JSON.parse(raw), { Repositories: spec.repositories });
      const names = Object.keys(JSON.parse(raw).Repositories);
      assert.deepEqual(names, [...names].sort());
      for (const [ref, id] of Object.entries(built.tags)) assert.ok(built.layers[id], `${ref} → ${id}`);
    });

    it('has graph/_tmp/ and a json for every intact layer', () => {
      const { built } = ctx.get();
      assert.ok(lstatSync(join(built.root, 'graph', '_tmp')).isDirectory());
      for (const l of Object.values(built.layers)) {
        if (l.damaged.includes('remove-graph-dir') || l.damaged.includes('corrupt-json')) continue;
        const json = JSON.parse(readFileSync(join(built.root, 'graph', l.id, 'json'), 'utf8'));
        if ('id' in json) assert.equal(json.id, l.id);
      }
    });
  });
}

// ───────────────────── damage ─────────────────────

describe('fixture host broken.json: the damage is real', { skip: NEED_TARSPLIT }, () => {
  const ctx = withBuiltHost(join(HOSTS_DIR, 'broken.json'));
  const layerWith = (built: BuiltHost, kind: string) => Object.values(built.layers).find((l) => l.damaged.includes(kind))!;

  it('tar-split asm fails for a truncated tar-data, a changed file, a truncated file and a missing diff dir', () => {
    const { built, tmp } = ctx.get();
    for (const kind of ['truncate-tar-data', 'modify-diff-file', 'truncate-diff-file', 'remove-diff-dir']) {
      const l = layerWith(built, kind);
      const out = reassemble(built.root, l.id, join(tmp, 'asm.tar'));
      assert.ok(out === null || sha256(out) !== l.diffID, `${kind}: tar-split still reproduced the tar`);
    }
  });

  it('removes the parent graph dir, cuts the json, and closes the parent cycle', () => {
    const { built, spec } = ctx.get();
    assert.ok(!existsSync(join(built.root, 'graph', layerWith(built, 'remove-graph-dir').id)));
    const corrupt = layerWith(built, 'corrupt-json');
    assert.throws(() => JSON.parse(readFileSync(join(built.root, 'graph', corrupt.id, 'json'), 'utf8')));
    const cycleBase = layerWith(built, 'json-parent');
    const top = spec.layers.find((l) => l.parent === cycleBase.id)!;
    assert.equal(JSON.parse(readFileSync(join(built.root, 'graph', cycleBase.id, 'json'), 'utf8')).parent, top.id);
    assert.equal(JSON.parse(readFileSync(join(built.root, 'graph', top.id, 'json'), 'utf8')).parent, cycleBase.id);
  });

  it('leaves stray graph dirs, *-removing dirs and a graph/_tmp leftover', () => {
    const { built } = ctx.get();
    assert.ok(existsSync(join(built.root, 'graph', 'not-a-layer-id', 'json')));
    assert.ok(existsSync(join(built.root, 'graph', 'B99F289820440C0B43B780FC16AAEB29EC77BA5A815D86438035EE23C26784F7', 'json')));
    assert.ok(existsSync(join(built.root, 'aufs', 'diff', '1c13104572840108a7d7a8f0ef8b787645564ed695fb8448f17463c4116f4354-removing')));
    assert.ok(existsSync(join(built.root, 'graph', '_tmp', '3f2b7c9d1e4a5b6c')));
  });
});

// ───────────────────── merged trees vs umoci ─────────────────────

/**
 * umoci (a third-party OCI unpacker) stacks the original tars and unpacks them; the rootfs must
 * equal expectedMergedTree. This checks the merge helper, not our exporter.
 */
function umociRootfs(built: BuiltHost, spec: HostSpec, imageId: string, work: string): string {
  const layout = join(work, 'oci');
  rmSync(work, { recursive: true, force: true });
  run('umoci', ['init', '--layout', layout]);
  run('umoci', ['new', '--image', `${layout}:img`]);
  for (const l of imageChain(spec, imageId).reverse()) {
    run('umoci', ['raw', 'add-layer', '--no-history', '--image', `${layout}:img`, built.layers[l.id].tarPath]);
  }
  run('umoci', ['unpack', ...(IS_ROOT ? [] : ['--rootless']), '--image', `${layout}:img`, join(work, 'bundle')]);
  return join(work, 'bundle', 'rootfs');
}

for (const [file, dir] of [['formats.json', HOSTS_DIR], ['whiteouts.json', HOSTS_DIR], ['demo-host.json', DEMO_DIR]] as const) {
  describe(`merged trees of ${file} match umoci's unpack`, { skip: NEED_UMOCI || (!IS_ROOT && 'umoci unpack needs root to keep owners') }, () => {
    const ctx = withBuiltHost(join(dir, file));
    it('for every tagged image', () => {
      const { spec, built, tmp } = ctx.get();
      const xattrNames = ['security.capability'];
      for (const [ref, id] of Object.entries(built.tags)) {
        const rootfs = umociRootfs(built, spec, id, join(tmp, 'umoci'));
        const diff = diffTrees(expectedMergedTree(spec, id, { xattrNames }), readTree(rootfs, { xattrNames }));
        assert.deepEqual(diff, [], `${ref}:\n${diff.join('\n')}`);
      }
    });
  });
}

// ───────────────────── the committed demo host ─────────────────────

interface DemoExpected {
  image: { id: string; tags: string[] };
  tags: Record<string, string>;
  chain: string[];
  layers: Record<string, { diffID: string; tarSize: number; tarData: boolean }>;
}

describe('committed demo host (fixtures/demo)', { skip: NEED_TARSPLIT }, () => {
  const expected = JSON.parse(readFileSync(join(DEMO_DIR, 'expected.json'), 'utf8')) as DemoExpected;
  let tmp = '';
  before(() => { tmp = mkdtempSync(join(tmpdir(), 'l2o-demo-')); });
  after(() => rmSync(tmp, { recursive: true, force: true }));

  it('expected.json describes training/webapp:latest with its 12 ancestors', () => {
    assert.equal(expected.image.id, '02a8815912ca800f99b7d912485e8c618260e27c6de8d7a161b356b322d5c121');
    assert.ok(expected.image.tags.includes('training/webapp:latest'));
    assert.equal(expected.chain.length, 13);
  });

  it('demo-root.tar.gz, extracted by GNU tar and reassembled by tar-split, gives the expected diffIDs', () => {
    const dest = join(tmp, 'committed');
    mkdirSync(dest);
    run('tar', ['-xzf', join(DEMO_DIR, 'demo-root.tar.gz'), '-C', dest, ...(IS_ROOT ? [] : ['--no-same-owner'])]);
    const root = join(dest, 'docker');
    const layersFile = readFileSync(join(root, 'aufs', 'layers', expected.image.id), 'utf8');
    assert.equal(layersFile, expected.chain.slice(1).map((id) => `${id}\n`).join(''));
    for (const [id, l] of Object.entries(expected.layers)) {
      const out = reassemble(root, id, join(tmp, 'asm.tar'));
      assert.ok(out, `tar-split asm failed for ${id}`);
      assert.equal(out.length, l.tarSize, id);
      assert.equal(sha256(out), l.diffID, id);
    }
  });

  it('a fresh build of demo-host.json gives the same diffIDs, sizes and tags as expected.json', { skip: !IS_ROOT && 'the demo host has non-root owners, which only root can stage' }, () => {
    const built = buildLegacyRoot(loadHostSpec(join(DEMO_DIR, 'demo-host.json')), join(tmp, 'fresh', 'docker'));
    assert.deepEqual(built.tags, expected.tags);
    for (const [id, l] of Object.entries(expected.layers)) {
      assert.equal(built.layers[id].diffID, l.diffID, id);
      assert.equal(built.layers[id].tarSize, l.tarSize, id);
    }
    assert.deepEqual(Object.keys(built.layers).sort(), Object.keys(expected.layers).sort());
  });
});
