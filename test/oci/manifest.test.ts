// Manifest / index / docker-save builders: canonical bytes, annotations, names, merge order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import {
  ANNOTATIONS,
  buildDockerRepositories,
  buildDockerSaveManifest,
  buildIndex,
  buildIndexEntry,
  buildManifest,
  descriptorOf,
  familiarName,
  fullyQualify,
  layerDescriptor,
  manifestAnnotations,
  mergeDockerSaveManifest,
  mergeIndex,
  parseReference,
  refNameIsValid,
  registryDigestFromChecksum,
  type Descriptor,
} from '../../src/oci/manifest.js';
import { splitReference } from '../../src/reference-split.js';
import { MEDIA_TYPES, compressionOfLayerType, isLayerType, isOciLayerType, ociLayerType } from '../../src/oci/media-types.js';
import { L2OError } from '../../src/errors.js';

const sha = (s: string) => 'sha256:' + createHash('sha256').update(s).digest('hex');
const ID = 'a'.repeat(64);
const D1 = sha('one');
const D2 = sha('two');
const D3 = sha('three');

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof L2OError, `expected an L2OError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

test('media types: one table, layer helpers', () => {
  const cases: Array<[string, boolean, boolean, string | undefined]> = [
    [MEDIA_TYPES.ociLayer, true, true, 'none'],
    [MEDIA_TYPES.ociLayerGzip, true, true, 'gzip'],
    [MEDIA_TYPES.ociLayerZstd, true, true, 'zstd'],
    [MEDIA_TYPES.ociLayerNondistributableGzip, true, true, 'gzip'],
    [MEDIA_TYPES.dockerLayerGzip, false, true, 'gzip'],
    [MEDIA_TYPES.dockerForeignLayerGzip, false, true, 'gzip'],
    [MEDIA_TYPES.ociConfig, false, false, undefined],
    ['application/vnd.oci.image.layer.v1.tar+bzip2', false, false, undefined],
    ['__proto__', false, false, undefined],
  ];
  for (const [mt, oci, layer, compression] of cases) {
    assert.equal(isOciLayerType(mt), oci, mt);
    assert.equal(isLayerType(mt), layer, mt);
    assert.equal(compressionOfLayerType(mt), compression, mt);
  }
  assert.equal(ociLayerType('gzip'), MEDIA_TYPES.ociLayerGzip);
  assert.equal(ociLayerType('none'), 'application/vnd.oci.image.layer.v1.tar');
});

test('buildManifest: canonical bytes with layer and manifest annotations', () => {
  const config = descriptorOf(MEDIA_TYPES.ociConfig, Buffer.from('{}'));
  const layer = layerDescriptor({ mediaType: MEDIA_TYPES.ociLayerGzip, digest: D1, size: 10, legacyId: ID, checksum: `${D2}\n`, source: 'tar-split' });
  const bytes = buildManifest({ config, layers: [layer], annotations: manifestAnnotations({ legacyId: ID, dockerImageId: D3, configFixed: ['a', 'b'] }) });
  assert.equal(
    bytes.toString(),
    `{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",` +
      `"config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"${sha('{}')}","size":2},` +
      `"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"${D1}","size":10,"annotations":{` +
      `"io.github.legacy2oci.layer.id":"${ID}","io.github.legacy2oci.layer.registry-digest":"${D2}","io.github.legacy2oci.layer.source":"tar-split"}}],` +
      `"annotations":{"io.github.legacy2oci.config.fixed":"a; b","io.github.legacy2oci.docker.image-id":"${D3}","io.github.legacy2oci.image.id":"${ID}"}}`,
  );
  // no annotations: no key at all
  assert.equal(buildManifest({ config, layers: [] }).toString().includes('annotations'), false);
  assertCode(() => layerDescriptor({ mediaType: MEDIA_TYPES.ociLayer, digest: 'sha256:ABC', size: 1 }), 'E_DIGEST_INVALID');
  assertCode(() => layerDescriptor({ mediaType: MEDIA_TYPES.ociLayer, digest: D1, size: -1 }), 'E_SIZE_INVALID');
});

test('registry digest from graph/<id>/checksum: only plain sha256 digests', () => {
  assert.equal(registryDigestFromChecksum(D1), D1);
  assert.equal(registryDigestFromChecksum(Buffer.from(D1)), D1);
  assert.equal(registryDigestFromChecksum(`tarsum.dev+sha256:${'0'.repeat(64)}`), undefined);
  assert.equal(registryDigestFromChecksum(`tarsum+sha256:${'0'.repeat(64)}`), undefined);
  assert.equal(registryDigestFromChecksum(''), undefined);
  assert.equal(registryDigestFromChecksum(null), undefined);
  assert.equal(layerDescriptor({ mediaType: MEDIA_TYPES.ociLayer, digest: D1, size: 1, checksum: 'tarsum.v1+sha256:x' }).annotations, undefined);
});

test('names: fullyQualify / familiarName (Docker normalisation)', () => {
  const cases: Array<[string, string, string]> = [
    ['busybox', 'docker.io/library/busybox', 'busybox'],
    ['busybox:latest', 'docker.io/library/busybox:latest', 'busybox:latest'],
    ['training/webapp', 'docker.io/training/webapp', 'training/webapp'],
    ['training/webapp:latest', 'docker.io/training/webapp:latest', 'training/webapp:latest'],
    ['library/busybox', 'docker.io/library/busybox', 'busybox'],
    ['docker.io/library/busybox', 'docker.io/library/busybox', 'busybox'],
    ['index.docker.io/training/webapp', 'docker.io/training/webapp', 'training/webapp'],
    ['index.docker.io/busybox', 'docker.io/library/busybox', 'busybox'],
    ['localhost:5000/x', 'localhost:5000/x', 'localhost:5000/x'],
    ['localhost:5000/x/y:1', 'localhost:5000/x/y:1', 'localhost:5000/x/y:1'],
    ['localhost/x', 'localhost/x', 'localhost/x'],
    ['example.test/legacy/tiny:v1', 'example.test/legacy/tiny:v1', 'example.test/legacy/tiny:v1'],
    ['docker.io/library/a/b', 'docker.io/library/a/b', 'library/a/b'],
    [`busybox@${D1}`, `docker.io/library/busybox@${D1}`, `busybox@${D1}`],
  ];
  for (const [input, full, familiar] of cases) {
    assert.equal(fullyQualify(input), full, `fullyQualify(${input})`);
    assert.equal(familiarName(input), familiar, `familiarName(${input})`);
    assert.equal(familiarName(fullyQualify(input)), familiar, `round trip ${input}`);
  }
  assert.deepEqual(parseReference('localhost:5000/x/y:1'), { domain: 'localhost:5000', path: 'x/y', tag: '1' });
  assert.deepEqual(splitReference('localhost:5000/x/y:1'), { name: 'localhost:5000/x/y', tag: '1' });
  assert.deepEqual(splitReference(`busybox@${D1}`), { name: 'busybox', digest: D1 });
  assert.deepEqual(splitReference('localhost:5000/x'), { name: 'localhost:5000/x' });
  assert.deepEqual(splitReference(`localhost:5000/x:2@${D1}`), { name: 'localhost:5000/x', tag: '2', digest: D1 });
});

test('refNameIsValid: the OCI ref.name grammar', () => {
  const cases: Array<[string, boolean]> = [
    ['v1.0', true],
    ['latest', true],
    ['training/webapp:latest', true],
    ['busybox:latest', true],
    ['example.test/legacy/tiny:v1', true],
    ['localhost:5000/x/y:1', true],
    [`busybox@${D1}`, true],
    ['a--b', true],
    ['a+b', true],
    ['A/B', true],
    ['', false],
    ['a__b', false],
    ['a---b', false],
    ['-a', false],
    ['a-', false],
    ['a//b', false],
    ['/a', false],
    ['a/', false],
    ['a b', false],
    ['é', false],
    ['a:_b', false],
  ];
  for (const [name, want] of cases) assert.equal(refNameIsValid(name), want, JSON.stringify(name));
});

const PLATFORM = { architecture: 'amd64', os: 'linux' };

test('buildIndexEntry: ref.name, containerd name, our ids, platform', () => {
  const e = buildIndexEntry({ manifestDigest: D1, manifestSize: 123, name: 'training/webapp', tag: 'latest', legacyId: ID, dockerImageId: D2, platform: PLATFORM });
  assert.deepEqual(e, {
    mediaType: MEDIA_TYPES.ociManifest,
    digest: D1,
    size: 123,
    platform: PLATFORM,
    annotations: {
      [ANNOTATIONS.refName]: 'training/webapp:latest',
      [ANNOTATIONS.containerdName]: 'docker.io/training/webapp:latest',
      [ANNOTATIONS.legacyImageId]: ID,
      [ANNOTATIONS.dockerImageId]: D2,
    },
  });
  const local = buildIndexEntry({ manifestDigest: D1, manifestSize: 1, name: 'localhost:5000/x/y', tag: '1', platform: PLATFORM });
  assert.equal(local.annotations?.[ANNOTATIONS.refName], 'localhost:5000/x/y:1');
  assert.equal(local.annotations?.[ANNOTATIONS.containerdName], 'localhost:5000/x/y:1');
  const legacy = buildIndexEntry({ manifestDigest: D1, manifestSize: 1, name: 'library/busybox', tag: 'latest', platform: PLATFORM });
  assert.equal(legacy.annotations?.[ANNOTATIONS.refName], 'busybox:latest');
  assert.equal(legacy.annotations?.[ANNOTATIONS.containerdName], 'docker.io/library/busybox:latest');
  const byDigest = buildIndexEntry({ manifestDigest: D1, manifestSize: 1, name: 'busybox', digest: D3, platform: PLATFORM });
  assert.equal(byDigest.annotations?.[ANNOTATIONS.refName], `busybox@${D3}`);
  assert.deepEqual(buildIndexEntry({ manifestDigest: D1, manifestSize: 1, ref: 'localhost:5000/x/y:1', platform: PLATFORM }), local);
  assert.deepEqual(buildIndexEntry({ manifestDigest: D1, manifestSize: 1, ref: `busybox@${D3}`, platform: PLATFORM }), byDigest);
  assertCode(() => buildIndexEntry({ manifestDigest: D1, manifestSize: 1, ref: 'localhost:5000/x', platform: PLATFORM }), 'E_REF_INVALID');
  const untagged = buildIndexEntry({ manifestDigest: D1, manifestSize: 1, legacyId: ID, platform: PLATFORM });
  assert.deepEqual(Object.keys(untagged.annotations ?? {}), [ANNOTATIONS.legacyImageId]);
  assertCode(() => buildIndexEntry({ manifestDigest: D1, manifestSize: 1, name: 'a__b', tag: 'x', platform: PLATFORM }), 'E_REF_INVALID');
  assertCode(() => buildIndexEntry({ manifestDigest: D1, manifestSize: 1, name: 'a', platform: PLATFORM }), 'E_REF_INVALID');
  assertCode(() => buildIndexEntry({ manifestDigest: D1, manifestSize: 1, name: 'a:b', tag: 'c', platform: PLATFORM }), 'E_REF_INVALID');
});

function entry(name: string | undefined, digest: string): Descriptor {
  return name === undefined
    ? buildIndexEntry({ manifestDigest: digest, manifestSize: 100, platform: PLATFORM })
    : buildIndexEntry({ manifestDigest: digest, manifestSize: 100, name, tag: 'latest', platform: PLATFORM });
}

function refsOf(index: Buffer): Array<string | undefined> {
  const parsed = JSON.parse(index.toString()) as { manifests: Descriptor[] };
  return parsed.manifests.map((m) => m.annotations?.[ANNOTATIONS.refName]);
}

test('mergeIndex: same ref.name replaced, others kept, canonical order', () => {
  const first = mergeIndex(null, [entry('b', D1), entry('a', D2), entry(undefined, D3)]);
  assert.deepEqual(refsOf(first), ['a:latest', 'b:latest', undefined]);
  assert.match(first.toString(), /^\{"schemaVersion":2,"mediaType":"application\/vnd\.oci\.image\.index\.v1\+json","manifests":\[\{"mediaType":/);
  const second = mergeIndex(first, [entry('a', D3), entry(undefined, D3)]);
  const parsed = JSON.parse(second.toString()) as { manifests: Descriptor[] };
  assert.deepEqual(parsed.manifests.map((m) => [m.annotations?.[ANNOTATIONS.refName], m.digest]), [['a:latest', D3], ['b:latest', D1], [undefined, D3]]);
  // a foreign entry with unknown fields is kept (canonicalised), index annotations too
  const foreign = Buffer.from(`{"schemaVersion":2,"manifests":[{"size":5,"digest":"${D2}","mediaType":"x/y","zz":{"b":1,"a":2},"annotations":{"org.opencontainers.image.ref.name":"other"}}],"annotations":{"k":"v"}}`);
  const merged = mergeIndex(foreign, [entry('a', D1)]).toString();
  assert.ok(merged.includes(`{"mediaType":"x/y","digest":"${D2}","size":5,"annotations":{"org.opencontainers.image.ref.name":"other"},"zz":{"a":2,"b":1}}`), merged);
  assert.ok(merged.endsWith('],"annotations":{"k":"v"}}'));
  assert.deepEqual(mergeIndex(Buffer.from(''), []), buildIndex([]));
  assert.equal(buildIndex([]).toString(), '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[]}');
  assertCode(() => mergeIndex(Buffer.from('{"manifests":[]}'), []), 'E_INDEX_INVALID');
  assertCode(() => mergeIndex(Buffer.from('{'), []), 'E_INDEX_INVALID');
  assertCode(() => mergeIndex(Buffer.from('[' .repeat(20000)), []), 'E_INDEX_INVALID');
});

test('mergeIndex: the same set of images gives the same index.json whatever the export order (property)', () => {
  const digests = [D1, D2, D3, sha('4'), sha('5')];
  const arbEntries = fc.uniqueArray(
    fc.record({ name: fc.option(fc.stringMatching(/^[a-z0-9]{1,4}(\/[a-z0-9]{1,3})?$/), { nil: undefined }), digest: fc.constantFrom(...digests) }),
    { selector: (e) => (e.name === undefined ? `@${e.digest}` : e.name), maxLength: 12 },
  );
  fc.assert(
    fc.property(arbEntries, fc.func(fc.integer()), fc.integer({ min: 1, max: 4 }), (specs, rnd, batches) => {
      const all = specs.map((s) => entry(s.name, s.digest));
      const once = mergeIndex(null, all);
      // another order, split into several exports merged one after the other
      const shuffled = all.map((e, i) => [rnd(i), i, e] as const).sort((x, y) => x[0] - y[0] || x[1] - y[1]).map((x) => x[2]);
      let index: Buffer | null = null;
      const size = Math.ceil(shuffled.length / batches) || 1;
      for (let i = 0; i < shuffled.length; i += size) index = mergeIndex(index, shuffled.slice(i, i + size));
      if (index === null) index = mergeIndex(null, []);
      assert.deepEqual(index, once);
      // merging the same entries again changes nothing
      assert.deepEqual(mergeIndex(once, shuffled), once);
    }),
  );
});

test('docker save manifest.json and repositories', () => {
  const m = buildDockerSaveManifest([
    { config: D2, repoTags: ['training/webapp:latest', `busybox@${D1}`], layers: [D1, D3] },
    { config: D1, repoTags: ['busybox:latest'], layers: [D1] },
    { config: D3, repoTags: [], layers: [] },
  ]);
  const h = (d: string) => d.slice(7);
  assert.equal(
    m.toString(),
    `[{"Config":"blobs/sha256/${h(D1)}","RepoTags":["busybox:latest"],"Layers":["blobs/sha256/${h(D1)}"]},` +
      `{"Config":"blobs/sha256/${h(D2)}","RepoTags":["training/webapp:latest"],"Layers":["blobs/sha256/${h(D1)}","blobs/sha256/${h(D3)}"]},` +
      `{"Config":"blobs/sha256/${h(D3)}","RepoTags":null,"Layers":[]}]`,
  );
  // merging moves a tag to its new image and replaces an item with the same config
  const merged = JSON.parse(mergeDockerSaveManifest(m, [{ config: D3, repoTags: ['busybox:latest'], layers: [D2] }]).toString()) as Array<{ Config: string; RepoTags: string[] | null; Layers: string[] }>;
  assert.deepEqual(merged.map((x) => [x.Config.slice(-6), x.RepoTags, x.Layers.length]), [
    [h(D3).slice(-6), ['busybox:latest'], 1],
    [h(D2).slice(-6), ['training/webapp:latest'], 2],
    [h(D1).slice(-6), null, 1],
  ]);
  assertCode(() => mergeDockerSaveManifest(Buffer.from('{}'), []), 'E_DOCKER_MANIFEST_INVALID');
  const repos = buildDockerRepositories([
    { name: 'training/webapp', tag: 'latest', id: ID },
    { name: 'library/busybox', tag: '9', id: ID },
    { name: 'busybox', tag: '10', id: `sha256:${ID}` },
  ]);
  assert.equal(repos.toString(), `{"busybox":{"10":"${ID}","9":"${ID}"},"training/webapp":{"latest":"${ID}"}}`);
});
