// The defect corpus: a good layout built by GNU tar + gzip -n + node:crypto (fixture.ts),
// then one defect per case. Each must be caught with its rule id and nothing else at error
// level. Covers every row of the defect matrix in oci-and-consumers.md §3 and §3.3.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { validateLayout, formatText, type ValidateOptions, type ValidationReport } from '../../src/oci/validate/index.js';
import { needTools } from '../helpers/env.js';
import { appendEntries, gnuTar, gzipN, LAYER1, LAYER2, MT, REF, REF_ANN, sha256, TestLayout, zstdC, type BuildOptions } from './fixture.js';

const skip = needTools('tar', 'gzip', 'zstd');

function show(r: ValidationReport): string {
  return formatText(r, 'layout');
}

function expectError(r: ValidationReport, rule: string): void {
  const errors = r.findings.filter((f) => f.severity === 'error');
  assert.ok(errors.some((f) => f.rule === rule), `expected an error ${rule}, got:\n${show(r)}`);
  assert.deepEqual(errors.filter((f) => f.rule !== rule).map((f) => f.rule), [], `only ${rule} expected at error level:\n${show(r)}`);
  assert.equal(r.valid, false);
}

function expectWarning(r: ValidationReport, rule: string): void {
  assert.ok(r.findings.some((f) => f.rule === rule && f.severity === 'warning'), `expected a warning ${rule}, got:\n${show(r)}`);
  assert.equal(r.errors, 0, show(r));
  assert.equal(r.valid, true);
}

interface Case {
  name: string;
  rule: string;
  warning?: boolean;
  base?: BuildOptions;
  opts?: ValidateOptions;
  mutate: (l: TestLayout) => void;
}

/** Replace a tar with crafted entries appended (GNU tar base), regzip and relink. */
function withEntries(l: TestLayout, i: number, entries: Parameters<typeof appendEntries>[1], tree?: Parameters<typeof gnuTar>[0]): void {
  const tar = appendEntries(tree ? gnuTar(tree) : l.layers[i].tar, entries);
  l.layers[i] = { ...l.layers[i], tar, blob: gzipN(tar) };
  l.relink();
}

const flipMtime = (b: Buffer): Buffer => {
  const c = Buffer.from(b);
  c.writeUInt32LE(12345, 4); // gzip MTIME: still valid gzip, same size, other digest
  return c;
};

/** Same JSON, keys in another order, same length. */
function reorder(json: Buffer): string {
  const o = JSON.parse(json.toString()) as Record<string, unknown>;
  return JSON.stringify(Object.fromEntries(Object.entries(o).reverse()));
}

const CASES: Case[] = [
  // ---- §3 defect matrix
  { name: 'layer-digest: blob bytes differ, valid gzip, same size', rule: 'blob-digest', mutate: (l) => l.overwriteBlob(l.manifest.layers[0].digest, flipMtime(l.layers[0].blob)) },
  {
    name: 'layer-corrupt: one byte flipped',
    rule: 'blob-digest',
    mutate: (l) => {
      const b = Buffer.from(l.layers[0].blob);
      b[Math.floor(b.length / 2)] ^= 0xff;
      l.overwriteBlob(l.manifest.layers[0].digest, b);
    },
  },
  { name: 'config-digest: keys reordered, same size', rule: 'blob-digest', mutate: (l) => l.overwriteBlob(l.configDigest, reorder(l.readBlob(l.configDigest))) },
  { name: 'manifest-digest: keys reordered, same size', rule: 'blob-digest', mutate: (l) => l.overwriteBlob(l.manifestDigest, reorder(l.readBlob(l.manifestDigest))) },
  { name: 'layer-size +1', rule: 'blob-size', mutate: (l) => l.editManifest((m) => (m.layers[1].size += 1)) },
  { name: 'manifest-size +1 in index.json', rule: 'blob-size', mutate: (l) => l.editIndex((i) => (i.manifests[0].size += 1)) },
  { name: 'config-size -1', rule: 'blob-size', mutate: (l) => l.editManifest((m) => (m.config.size -= 1)) },
  { name: 'missing-layer', rule: 'blob-missing', mutate: (l) => unlinkSync(l.path(l.blobRel(l.manifest.layers[1].digest))) },
  { name: 'missing-config', rule: 'blob-missing', mutate: (l) => unlinkSync(l.path(l.blobRel(l.configDigest))) },
  { name: 'missing-manifest', rule: 'blob-missing', mutate: (l) => unlinkSync(l.path(l.blobRel(l.manifestDigest))) },
  { name: 'layer-mediatype tar+bogus', rule: 'layer-media-type-unknown', mutate: (l) => l.editManifest((m) => (m.layers[0].mediaType = 'application/vnd.oci.image.layer.v1.tar+bogus')) },
  { name: 'config-mediatype bogus', rule: 'config-media-type-unknown', mutate: (l) => l.editManifest((m) => (m.config.mediaType = 'application/vnd.example.bogus')) },
  { name: 'manifest-mediatype in the index.json entry', rule: 'descriptor-media-type-mismatch', mutate: (l) => l.editIndex((i) => (i.manifests[0].mediaType = 'application/vnd.example.bogus')) },
  { name: 'manifest-field-mediatype (inside the manifest)', rule: 'manifest-media-type', mutate: (l) => l.editManifest((m) => (m.mediaType = 'application/vnd.example.bogus')) },
  { name: 'diffid: wrong diff_ids[0]', rule: 'diffid-mismatch', mutate: (l) => l.editConfig((c) => (c.rootfs.diff_ids[0] = sha256('something else'))) },
  { name: 'diffid-count: one too few', rule: 'diffid-count', mutate: (l) => l.editConfig((c) => c.rootfs.diff_ids.pop()) },
  {
    name: 'not-gzip: +gzip type on a plain tar',
    rule: 'layer-not-gzip',
    mutate: (l) => {
      l.layers[1] = { ...l.layers[1], blob: l.layers[1].tar };
      l.relink();
    },
  },
  { name: 'no-oci-layout', rule: 'layout-missing', mutate: (l) => unlinkSync(l.path('oci-layout')) },
  { name: 'bad-layout-version 2.0.0', rule: 'layout-version', mutate: (l) => writeFileSync(l.path('oci-layout'), '{"imageLayoutVersion":"2.0.0"}') },
  { name: 'bad-digest-format sha256:XYZ', rule: 'digest-format', mutate: (l) => l.editIndex((i) => (i.manifests[0].digest = 'sha256:XYZ')) },
  { name: 'uppercase-digest', rule: 'digest-uppercase', mutate: (l) => l.editIndex((i) => (i.manifests[0].digest = i.manifests[0].digest.toUpperCase().replace('SHA256', 'sha256'))) },
  { name: 'schema-version 1 in the manifest', rule: 'schema-version', mutate: (l) => l.editManifest((m) => (m.schemaVersion = 1)) },
  { name: 'config-no-os', rule: 'config-os', mutate: (l) => l.editConfig((c) => delete c.os) },
  { name: 'config-no-architecture', rule: 'config-architecture', mutate: (l) => l.editConfig((c) => delete c.architecture) },

  // ---- issue rules beyond the matrix
  { name: 'schema-version 1 in index.json', rule: 'schema-version', mutate: (l) => l.editIndex((i) => (i.schemaVersion = 1)) },
  { name: 'index.json is not JSON', rule: 'json-invalid', mutate: (l) => l.writeIndex('{"schemaVersion": 2,') },
  { name: 'manifest blob is not JSON (relinked)', rule: 'json-invalid', mutate: (l) => l.writeManifest('not json at all') },
  {
    name: 'config blob is not JSON (relinked)',
    rule: 'json-invalid',
    base: { dockerManifest: false },
    mutate: (l) => {
      const c = l.putBlob('{broken');
      l.editManifest((m) => (m.config = { ...m.config, ...c }));
    },
  },
  { name: 'oci-layout is not JSON', rule: 'json-invalid', mutate: (l) => writeFileSync(l.path('oci-layout'), 'imageLayoutVersion=1.0.0') },
  { name: 'index.json missing', rule: 'index-missing', mutate: (l) => unlinkSync(l.path('index.json')) },
  { name: 'index.json mediaType field wrong', rule: 'index-media-type', mutate: (l) => l.editIndex((i) => (i.mediaType = MT.manifest)) },
  {
    name: 'descriptor says index, document is a manifest',
    rule: 'descriptor-media-type-mismatch',
    mutate: (l) => l.editIndex((i) => (i.manifests[0].mediaType = MT.index)),
  },
  { name: 'sha512 digest with the wrong length', rule: 'digest-format', mutate: (l) => l.editIndex((i) => (i.manifests[0].digest = 'sha512:' + 'ab'.repeat(32))) },
  { name: 'unregistered digest algorithm', rule: 'digest-algorithm', mutate: (l) => l.editIndex((i) => (i.manifests[0].digest = 'md5:d41d8cd98f00b204e9800998ecf8427e')) },
  { name: 'bad digest in config diff_ids', rule: 'digest-format', mutate: (l) => l.editConfig((c) => (c.rootfs.diff_ids[1] = 'sha256:nothex')) },
  { name: 'size is not an integer', rule: 'json-schema', mutate: (l) => l.editManifest((m) => (m.layers[0].size = '12')) },
  { name: 'manifest without layers array', rule: 'json-schema', base: { dockerManifest: false }, mutate: (l) => l.editManifest((m) => delete m.layers) },
  { name: 'rootfs.type is not layers', rule: 'rootfs-type', mutate: (l) => l.editConfig((c) => (c.rootfs.type = 'tarballs')) },
  { name: 'ref.name outside the grammar', rule: 'refname-grammar', base: { ref: 'bad ref!' }, mutate: () => {} },
  {
    name: 'ref.name used twice',
    rule: 'refname-duplicate',
    mutate: (l) => l.editIndex((i) => i.manifests.push({ ...i.manifests[0] })),
  },
  { name: '--ref names an absent entry', rule: 'ref-not-found', opts: { ref: 'nope' }, mutate: () => {} },
  {
    name: '+zstd type on gzip data',
    rule: 'layer-not-zstd',
    mutate: (l) => {
      l.layers[0] = { ...l.layers[0], mediaType: MT.zstd };
      l.relink();
    },
  },
  {
    name: 'uncompressed tar type on gzip data',
    rule: 'layer-not-tar',
    mutate: (l) => {
      l.layers[0] = { ...l.layers[0], mediaType: MT.tar };
      l.relink();
    },
  },
  {
    name: 'gzip stream truncated (relinked)',
    rule: 'layer-decompress',
    mutate: (l) => {
      l.layers[0] = { ...l.layers[0], blob: l.layers[0].blob.subarray(0, l.layers[0].blob.length - 20) };
      l.relink();
    },
  },
  {
    name: 'zstd stream truncated (relinked)',
    rule: 'layer-decompress',
    mutate: (l) => {
      const z = zstdC(l.layers[0].tar);
      l.layers[0] = { ...l.layers[0], mediaType: MT.zstd, blob: z.subarray(0, z.length - 10) };
      l.relink();
    },
  },
  {
    name: 'descriptor data does not match',
    rule: 'descriptor-data',
    mutate: (l) => l.editManifest((m) => (m.config.data = Buffer.from('{}').toString('base64'))),
  },
  { name: 'blobs/ missing', rule: 'blobs-dir-missing', base: { dockerManifest: false }, mutate: (l) => {
    rmSync(l.path('blobs'), { recursive: true });
    l.editIndex((i) => (i.manifests = []));
  } },

  // ---- layer content (--deep)
  {
    name: 'tar header checksum broken (relinked)',
    rule: 'tar-corrupt',
    mutate: (l) => {
      const tar = Buffer.from(l.layers[0].tar);
      tar[512 + 10] ^= 0x01; // inside the second entry's header (bin/sh)
      l.layers[0] = { ...l.layers[0], tar, blob: gzipN(tar) };
      l.relink();
    },
  },
  {
    name: 'tar truncated inside an entry (relinked)',
    rule: 'tar-corrupt',
    mutate: (l) => {
      const tar = l.layers[0].tar.subarray(0, 512 + 100);
      l.layers[0] = { ...l.layers[0], tar, blob: gzipN(tar) };
      l.relink();
    },
  },
  { name: "entry path with '..'", rule: 'tar-path-escape', mutate: (l) => withEntries(l, 1, [{ name: '../escaped', data: 'x' }]) },
  { name: 'absolute entry path', rule: 'tar-path-escape', mutate: (l) => withEntries(l, 1, [{ name: '/etc/abs', data: 'x' }]) },
  { name: 'duplicate path in one layer', rule: 'tar-duplicate-path', mutate: (l) => withEntries(l, 1, [{ name: 'etc/hostname', data: 'again\n' }]) },
  {
    name: 'duplicate path in a Docker-written layer is a warning',
    rule: 'tar-duplicate-path',
    warning: true,
    base: { configExtra: { docker_version: '1.9.1' } },
    mutate: (l) => withEntries(l, 1, [{ name: 'etc/hostname', data: 'again\n' }]),
  },
  { name: 'whiteout with content', rule: 'whiteout-malformed', mutate: (l) => withEntries(l, 1, [{ name: 'etc/.wh.passwd', data: 'not empty' }]) },
  { name: 'whiteout that is a directory', rule: 'whiteout-malformed', mutate: (l) => withEntries(l, 1, [{ name: 'etc/.wh.sub/', type: '5', mode: 0o755 }]) },
  { name: 'whiteout of a whiteout', rule: 'whiteout-malformed', mutate: (l) => withEntries(l, 1, [{ name: 'etc/.wh..wh.hostname' }]) },
  {
    name: 'whiteout stored as a hard link (aufs) is a warning',
    rule: 'whiteout-hardlink',
    warning: true,
    mutate: (l) => withEntries(l, 1, [{ name: 'data/.wh.gone', type: '1', linkname: 'etc/.wh.delete-me' }]),
  },
  {
    name: 'aufs .wh..wh.plnk entries are a warning',
    rule: 'aufs-meta-entry',
    warning: true,
    mutate: (l) => withEntries(l, 1, [{ name: '.wh..wh.plnk/', type: '5', mode: 0o700 }, { name: '.wh..wh.plnk/260.1234', data: '' }]),
  },
  { name: 'hard link to a later entry', rule: 'hardlink-target', mutate: (l) => withEntries(l, 1, [{ name: 'data/link', type: '1', linkname: 'data/zlater' }, { name: 'data/zlater', data: 'x' }]) },
  { name: 'hard link to a directory', rule: 'hardlink-target', mutate: (l) => withEntries(l, 1, [{ name: 'data/link', type: '1', linkname: 'etc' }]) },
  {
    name: 'hard link to a file of a lower layer is a warning',
    rule: 'hardlink-target',
    warning: true,
    mutate: (l) => withEntries(l, 1, [{ name: 'data/link', type: '1', linkname: 'bin/sh' }]),
  },

  // ---- docker save manifest.json
  { name: 'manifest.json not an array', rule: 'docker-manifest-invalid', mutate: (l) => l.writeDockerManifest('{}') },
  {
    name: 'manifest.json Layers one short',
    rule: 'docker-manifest-layer-count',
    mutate: (l) => {
      l.dockerManifest![0].Layers.pop();
      l.writeDockerManifest();
    },
  },
  {
    name: 'manifest.json Layers in the wrong order',
    rule: 'docker-manifest-diffid',
    mutate: (l) => {
      l.dockerManifest![0].Layers.reverse();
      l.writeDockerManifest();
    },
  },
  {
    name: 'manifest.json names a missing file',
    rule: 'docker-manifest-file',
    mutate: (l) => {
      l.dockerManifest![0].Config = 'nope.json';
      l.writeDockerManifest();
    },
  },
  {
    name: 'manifest.json path outside the layout',
    rule: 'docker-manifest-file',
    mutate: (l) => {
      l.dockerManifest![0].Layers[0] = '../../etc/passwd';
      l.writeDockerManifest();
    },
  },
  {
    name: 'manifest.json bad RepoTags',
    rule: 'docker-manifest-repotag',
    mutate: (l) => {
      l.dockerManifest![0].RepoTags = ['Not A Tag'];
      l.writeDockerManifest();
    },
  },
  {
    name: 'manifest.json and index.json disagree about the tag',
    rule: 'docker-manifest-config',
    mutate: (l) => {
      const other = l.putBlob(JSON.stringify({ ...l.config, created: '2020-01-01T00:00:00Z' }));
      l.dockerManifest![0].Config = l.blobRel(other.digest);
      l.writeDockerManifest();
    },
  },

  // ---- warnings: spec-valid or accepted by real consumers (exit 0)
  { name: 'no ref.name', rule: 'refname-missing', warning: true, base: { ref: null, dockerManifest: false }, mutate: () => {} },
  { name: 'extra blob', rule: 'blob-unreferenced', warning: true, mutate: (l) => l.putBlob('an extra blob\n') },
  { name: 'file under blobs/ not named after a digest', rule: 'blob-name', warning: true, mutate: (l) => writeFileSync(l.path('blobs/sha256/README'), 'x') },
  { name: 'history/layer count mismatch', rule: 'history-count', warning: true, mutate: (l) => l.editConfig((c) => c.history.pop()) },
  { name: 'null optional config fields', rule: 'config-null-field', warning: true, mutate: (l) => l.editConfig((c) => Object.assign(c.config, { Entrypoint: null, Volumes: null })) },
  { name: 'Docker media types', rule: 'docker-media-type', warning: true, base: { docker: true }, mutate: () => {} },
  {
    name: 'platform on the index entry differs from the config',
    rule: 'platform-mismatch',
    warning: true,
    mutate: (l) => l.editIndex((i) => (i.manifests[0].platform = { os: 'linux', architecture: 'arm64' })),
  },
  {
    name: 'index entry of an unknown type (an artifact blob) is a warning',
    rule: 'descriptor-media-type-unknown',
    warning: true,
    mutate: (l) => {
      const b = l.putBlob('opaque bytes');
      l.editIndex((i) => i.manifests.push({ mediaType: 'application/vnd.example.thing', ...b, annotations: { [REF_ANN]: 'thing' } }));
    },
  },
  {
    name: 'nondistributable layer with urls, not in the layout',
    rule: 'blob-external',
    warning: true,
    base: { dockerManifest: false },
    mutate: (l) => {
      l.editManifest((m) => {
        m.layers[1].mediaType = 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip';
        m.layers[1].urls = ['https://example.test/layer'];
      });
      unlinkSync(l.path(l.blobRel(l.manifest.layers[1].digest)));
    },
  },
  {
    name: 'image manifest without layers',
    rule: 'manifest-no-layers',
    warning: true,
    base: { dockerManifest: false },
    mutate: (l) => {
      l.editConfig((c) => {
        c.rootfs.diff_ids = [];
        c.history = [];
      });
      l.editManifest((m) => (m.layers = []));
    },
  },
  {
    name: 'zstd command missing: layer not deep-checked',
    rule: 'zstd-unavailable',
    warning: true,
    opts: { zstdCommand: '/nonexistent/zstd' },
    mutate: (l) => {
      l.layers[0] = { ...l.layers[0], mediaType: MT.zstd, blob: zstdC(l.layers[0].tar) };
      l.relink();
    },
  },
];

describe('defect corpus', { skip }, () => {
  for (const c of CASES) {
    test(`${c.name} -> ${c.rule}`, async () => {
      const l = new TestLayout(c.base);
      try {
        c.mutate(l);
        const r = await validateLayout(l.dir, c.opts);
        if (c.warning) expectWarning(r, c.rule);
        else expectError(r, c.rule);
        if (c.warning) {
          const strict = await validateLayout(l.dir, { ...c.opts, strict: true });
          assert.equal(strict.valid, false, `--strict must fail on ${c.rule}`);
        }
      } finally {
        l.cleanup();
      }
    });
  }
});

describe('where findings point', { skip }, () => {
  test('a layer finding names the blob, digest, ref and path', async () => {
    const l = new TestLayout();
    try {
      withEntries(l, 1, [{ name: '../escaped\nline', data: 'x' }]);
      const r = await validateLayout(l.dir);
      expectError(r, 'tar-path-escape');
      const f = r.findings.find((x) => x.rule === 'tar-path-escape')!;
      assert.equal(f.file, l.blobRel(l.manifest.layers[1].digest));
      assert.equal(f.digest, l.manifest.layers[1].digest);
      assert.equal(f.ref, REF);
      assert.equal(f.path, '../escaped\nline');
      assert.doesNotMatch(formatText(r, 'x'), /escaped\nline/, 'text output stays one line per finding');
    } finally {
      l.cleanup();
    }
  });

  test('an index blob that names itself (content not matching its digest) stops at index-cycle', async () => {
    const l = new TestLayout({ dockerManifest: false });
    try {
      const fake = sha256('placeholder');
      l.overwriteBlob(fake, JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests: [{ mediaType: MT.index, digest: fake, size: 1 }] }));
      l.editIndex((i) => i.manifests.push({ mediaType: MT.index, digest: fake, size: l.readBlob(fake).length, annotations: { [REF_ANN]: 'loop' } }));
      const r = await validateLayout(l.dir);
      assert.deepEqual([...new Set(r.findings.filter((f) => f.severity === 'error').map((f) => f.rule))].sort(), ['blob-digest', 'index-cycle'], show(r));
    } finally {
      l.cleanup();
    }
  });
});

describe('good layouts', { skip }, () => {
  test('the test-built layout is valid with no findings, deep and shallow, pool and inline', async () => {
    const l = new TestLayout();
    try {
      for (const opts of [{}, { deep: false }, { jobs: 0 }, { ref: REF }] as ValidateOptions[]) {
        const r = await validateLayout(l.dir, opts);
        assert.deepEqual(r.findings, [], show(r));
        assert.equal(r.valid, true);
      }
      const r = await validateLayout(l.dir);
      assert.equal(r.stats.layers, 2);
      assert.equal(r.stats.manifests, 1);
      assert.equal(r.stats.dockerManifest, true);
      assert.ok(r.stats.tarEntries >= 18, `tarEntries ${r.stats.tarEntries}`);
    } finally {
      l.cleanup();
    }
  });

  test('a layout with zstd, plain tar and gzip layers is valid', async () => {
    const l = new TestLayout({ layers: [LAYER1, LAYER2, { 'opt/': null, 'opt/x': 'x\n' }] });
    try {
      l.layers[0] = { ...l.layers[0], mediaType: MT.zstd, blob: zstdC(l.layers[0].tar) };
      l.layers[1] = { ...l.layers[1], mediaType: MT.tar, blob: l.layers[1].tar };
      l.relink();
      const r = await validateLayout(l.dir);
      assert.deepEqual(r.findings, [], show(r));
    } finally {
      l.cleanup();
    }
  });

  test('nested index and two tags for one manifest are valid', async () => {
    const l = new TestLayout({ dockerManifest: false });
    try {
      const inner = l.putBlob(JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests: [{ ...l.index.manifests[0], annotations: undefined, platform: { os: 'linux', architecture: 'amd64' } }] }));
      l.editIndex((i) => i.manifests.push({ mediaType: MT.index, ...inner, annotations: { [REF_ANN]: 'multi' } }, { ...i.manifests[0], annotations: { [REF_ANN]: 'v1' } }));
      const r = await validateLayout(l.dir);
      assert.deepEqual(r.findings, [], show(r));
      assert.equal(r.stats.indexes, 2);
    } finally {
      l.cleanup();
    }
  });

  test('--ref checks only that entry', async () => {
    const l = new TestLayout({ dockerManifest: false });
    try {
      // a second, broken entry under another name
      l.editIndex((i) => i.manifests.push({ mediaType: MT.manifest, digest: sha256('gone'), size: 4, annotations: { [REF_ANN]: 'broken' } }));
      assert.equal((await validateLayout(l.dir, { ref: REF })).valid, true);
      expectError(await validateLayout(l.dir, { ref: 'broken' }), 'blob-missing');
      expectError(await validateLayout(l.dir), 'blob-missing');
    } finally {
      l.cleanup();
    }
  });
});
