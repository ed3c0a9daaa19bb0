// The bad-input corpus, root level: broken or hostile metadata (ids with `/`, `..` or uppercase in
// repositories-*, aufs/layers and parent fields, parent cycles, a 1,000-layer chain, absurd sizes,
// deeply nested json, `__proto__`/`constructor` keys, invalid UTF-8, duplicate tags), whole roots
// that are empty, missing, multi-driver, or link out of themselves, bad OUT dirs, and files and
// dirs the tool may not read (run as an unprivileged user: root reads everything). Each case is a
// copy of one small good root, damaged one way, and lists the commands run on it with the exit
// code and error code each must give. Every run must also pass assertCleanExit (no hang, no
// stack trace, a code on failure), leave the root byte-identical (tree hash), never put the
// canary planted beside the root into OUT, and leave OUT valid when it has an index.json.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildLegacyRoot, derivedId } from '../helpers/fixture-builder.js';
import { hasTool, needTools, run } from '../helpers/env.js';
import { treeHash } from '../helpers/tree-hash.js';
import {
  NOBODY, assertCleanExit, canDropPrivileges, canaryMarker, layoutContains, parseJsonOut, rmrf, runCli, straceOpenedUnder, worldTemp, type RunResult,
} from './harness.js';
import { caseLayer, chownR, hostOf, mkfifo } from './hostile-root.js';

const tools = needTools('tar-split');
/** strace watches the cases that link out of the root (needed in CI, see corpus.test.ts) */
const straceSkip = !hasTool('strace');
const privSkip = canDropPrivileges() ? false : 'permission cases run as uid 65534 and need root to drop to it (root reads everything)';

const BASE_ID = derivedId('hardening:base');
const BASE_REF = 'good/base:latest';
const X = derivedId('hardening:meta-x');
const Y = derivedId('hardening:meta-y');

let work = '';
let baseRoot = '';
let marker: Buffer;

before(() => {
  if (tools) return;
  work = worldTemp('roots');
  marker = canaryMarker(work);
  writeFileSync(join(work, 'canary'), marker);
  const spec = hostOf('base', [caseLayer('base', [
    { type: 'file', path: 'etc/motd', content: 'a good layer\n' },
    { type: 'file', path: 'bin/sh', mode: '755', content: '#!stand-in\n' },
    { type: 'dir', path: 'srv/data' },
    { type: 'file', path: 'srv/data/file', content: 'data\n' },
  ])], 'good');
  baseRoot = buildLegacyRoot(spec, join(work, 'base', 'docker')).root;
});

after(() => {
  if (work) rmrf(work);
});

// ───────────────────────────── root surgery ─────────────────────────────

interface Meta {
  id: string;
  /** raw json; default a minimal valid v1 json naming `parent` */
  json?: string | Buffer | null;
  parent?: string;
  parentFile?: string;
  /** aufs/layers content; default the ancestors through `parent` (one level) */
  layersFile?: string | null;
  diff?: boolean;
}

/** A metadata-only graph entry (no tar-split data: regenerated from its empty diff dir). */
function meta(root: string, m: Meta): void {
  const g = join(root, 'graph', m.id);
  mkdirSync(g, { recursive: true });
  const json = m.json !== undefined ? m.json : JSON.stringify({
    id: m.id, ...(m.parent ? { parent: m.parent } : {}), created: '2015-06-01T00:00:00Z',
    container_config: { Cmd: ['/bin/sh', '-c', '#(nop) meta'] }, docker_version: '1.9.1', architecture: 'amd64', os: 'linux',
  });
  if (json !== null) writeFileSync(join(g, 'json'), json);
  if (m.parentFile !== undefined) writeFileSync(join(g, 'parent'), m.parentFile);
  const layers = m.layersFile !== undefined ? m.layersFile : m.parent && /^[a-f0-9]{64}$/.test(m.parent) ? `${m.parent}\n` : '';
  if (layers !== null) writeFileSync(join(root, 'aufs', 'layers', m.id), layers);
  if (m.diff !== false) mkdirSync(join(root, 'aufs', 'diff', m.id), { recursive: true });
}

function repositories(root: string, doc: unknown): void {
  writeFileSync(join(root, 'repositories-aufs'), typeof doc === 'string' || Buffer.isBuffer(doc) ? doc : JSON.stringify(doc));
}

/** repositories-aufs with the base tag plus `extra` repositories. */
function withTags(root: string, extra: Record<string, Record<string, string>>): void {
  repositories(root, { Repositories: { 'good/base': { latest: BASE_ID }, ...extra } });
}

// ───────────────────────────── cases ─────────────────────────────

interface Ctx { root: string; out: string; dir: string }

interface Run {
  args: (c: Ctx) => string[];
  status: 0 | 1 | 2;
  /** an error or problem code that must appear (report failed[], ls problems, stderr) */
  code?: string;
  check?: (r: RunResult, json: any, c: Ctx) => void;
}

interface RootCase {
  name: string;
  trap: string;
  /** damage a fresh copy of the base root (at c.root) */
  make: (c: Ctx) => void;
  runs: Run[];
  /** run as uid 65534 (the copy is given to that user, then damaged) */
  unprivileged?: boolean;
  /** a directory outside the root the case links to: strace proves nothing under it is opened */
  watch?: (c: Ctx) => string;
  todo?: string;
}

const ls = (status: 0 | 1 | 2, code?: string, check?: Run['check']): Run => ({ args: (c) => ['ls', '--all', '--json', '--root', c.root], status, code, check });
const exp = (ref: string, status: 0 | 1 | 2, code?: string, check?: Run['check']): Run => ({ args: (c) => ['export', ref, c.out, '--root', c.root, '--jobs', '1', '--quiet', '--json'], status, code, check });
const insp = (ref: string, status: 0 | 1 | 2, code?: string): Run => ({ args: (c) => ['inspect', ref, '--root', c.root, '--json'], status, code });
const rootProblem = (code: string): Run['check'] => (_r, json) => assert.ok(json.problems.some((p: any) => p.code === code), `root problem ${code} missing: ${JSON.stringify(json.problems)}`);
const imageProblem = (id: string, code: string): Run['check'] => (_r, json) => {
  const img = json.images.find((i: any) => i.id === id);
  assert.ok(img, `image ${id.slice(0, 12)} not listed`);
  assert.ok(img.problems.some((p: any) => p.code === code), `${code} missing: ${JSON.stringify(img.problems)}`);
};
/** One export of several refs: `bad` must fail with `code`, `good` must export (exit 1 overall). */
const expMixed = (bad: string, code: string, good: string): Run => ({
  args: (c) => ['export', bad, good, c.out, '--root', c.root, '--jobs', '1', '--quiet', '--json'],
  status: 1,
  code,
  check: (_r, j) => {
    assert.deepEqual(j.failed.map((f: any) => [f.requested, f.code]), [[bad, code]]);
    assert.equal(j.images.length, 1, 'the good image was not exported');
  },
});
const exportedId = (id: string): Run['check'] => (_r, json) => assert.deepEqual(json.images.map((i: any) => i.legacyId), [id]);
const nested = (depth: number) => '['.repeat(depth) + ']'.repeat(depth);

const rootCases: RootCase[] = [
  // ── whole roots ──
  {
    name: 'empty-root', trap: 'an empty directory', make: (c) => { rmrf(c.root); mkdirSync(c.root); },
    runs: [ls(2, 'E_NOT_DOCKER_ROOT'), insp('x', 2, 'E_NOT_DOCKER_ROOT'), exp('x', 2, 'E_NOT_DOCKER_ROOT', (_r, _j, c) => assert.ok(!existsSync(c.out), 'OUT created for nothing'))],
  },
  { name: 'root-missing', trap: 'the root does not exist', make: (c) => rmrf(c.root), runs: [ls(2, 'E_ROOT_NOT_FOUND'), exp(BASE_REF, 2, 'E_ROOT_NOT_FOUND')] },
  { name: 'root-is-file', trap: 'the root is a regular file', make: (c) => { rmrf(c.root); writeFileSync(c.root, 'x'); }, runs: [ls(2, 'E_ROOT_NOT_FOUND')] },
  { name: 'root-is-fifo', trap: 'the root is a FIFO', make: (c) => { rmrf(c.root); mkfifo(c.root); }, runs: [ls(2, 'E_ROOT_NOT_FOUND')] },
  {
    name: 'several-drivers', trap: 'repositories-aufs and repositories-devicemapper with a devicemapper/ dir (a driver switch)',
    make: (c) => { mkdirSync(join(c.root, 'devicemapper', 'metadata'), { recursive: true }); repositories(c.root, '{"Repositories":{"dm/only":{"latest":"' + X + '"}}}'); writeFileSync(join(c.root, 'repositories-devicemapper'), '{"Repositories":{}}'); withTags(c.root, {}); },
    runs: [ls(0, undefined, rootProblem('W_SEVERAL_DRIVERS')), exp(BASE_REF, 0)],
  },
  {
    name: 'other-driver-only', trap: 'only an overlay (v1) root', make: (c) => { rmrf(join(c.root, 'aufs')); rmSync(join(c.root, 'repositories-aufs')); mkdirSync(join(c.root, 'overlay')); writeFileSync(join(c.root, 'repositories-overlay'), '{"Repositories":{}}'); },
    runs: [ls(2, 'E_DRIVER_UNSUPPORTED'), exp(BASE_REF, 2, 'E_DRIVER_UNSUPPORTED')],
  },
  { name: 'hybrid-root', trap: 'a 1.10+ image/aufs store beside the legacy graph', make: (c) => mkdirSync(join(c.root, 'image', 'aufs', 'imagedb'), { recursive: true }), runs: [ls(0, undefined, rootProblem('W_HYBRID_ROOT')), exp(BASE_REF, 0)] },
  {
    name: 'graph-symlink-out', trap: 'graph/ is a symlink to a copy outside the root', watch: (c) => join(c.dir, 'graph-outside'),
    make: (c) => { renameSync(join(c.root, 'graph'), join(c.dir, 'graph-outside')); symlinkSync(join(c.dir, 'graph-outside'), join(c.root, 'graph')); },
    runs: [ls(2, 'E_OUTSIDE_ROOT'), exp(BASE_REF, 2, 'E_OUTSIDE_ROOT')],
  },
  {
    name: 'aufs-symlink-out', trap: 'aufs/ is a symlink to a copy outside the root', watch: (c) => join(c.dir, 'aufs-outside'),
    make: (c) => { renameSync(join(c.root, 'aufs'), join(c.dir, 'aufs-outside')); symlinkSync(join(c.dir, 'aufs-outside'), join(c.root, 'aufs')); },
    runs: [ls(2, 'E_OUTSIDE_ROOT'), exp(BASE_REF, 2, 'E_OUTSIDE_ROOT')],
  },
  {
    name: 'root-via-symlink', trap: '--root given as a symlink to the real root (fine: the real root is what is confined to)',
    make: (c) => { renameSync(c.root, `${c.root}.real`); symlinkSync(`${c.root}.real`, c.root); },
    runs: [ls(0), exp(BASE_REF, 0)],
  },
  // ── repositories-aufs ──
  {
    name: 'repo-id-slash', trap: 'a tag pointing at ../../../../etc/passwd', make: (c) => withTags(c.root, { 'bad/slash': { latest: '../../../../etc/passwd' } }),
    runs: [ls(1, undefined, rootProblem('E_BAD_ID')), expMixed('bad/slash:latest', 'E_REF_NOT_FOUND', BASE_REF)],
  },
  { name: 'repo-id-dotdot', trap: 'a tag pointing at ..', make: (c) => withTags(c.root, { 'bad/dotdot': { latest: '..' } }), runs: [ls(1, undefined, rootProblem('E_BAD_ID')), exp('bad/dotdot:latest', 1, 'E_REF_NOT_FOUND')] },
  { name: 'repo-id-upper', trap: 'a tag pointing at an uppercase id', make: (c) => withTags(c.root, { 'bad/upper': { latest: BASE_ID.toUpperCase() } }), runs: [ls(1, undefined, rootProblem('E_BAD_ID')), exp('bad/upper:latest', 1, 'E_REF_NOT_FOUND')] },
  {
    name: 'repo-names-bad', trap: 'repository names ../evil, UPPER/x, a//b, a 64-hex name, an empty name',
    make: (c) => withTags(c.root, { '../evil': { latest: BASE_ID }, 'UPPER/x': { latest: BASE_ID }, 'a//b': { latest: BASE_ID }, [BASE_ID]: { latest: BASE_ID }, '': { latest: BASE_ID } }),
    runs: [ls(0, undefined, (_r, j) => assert.equal(j.problems.filter((p: any) => p.code === 'W_BAD_REPOSITORY').length, 5)), exp(BASE_REF, 0)],
  },
  {
    name: 'repo-bad-tags', trap: 'tags ../x, a tag of 200 characters, an empty tag, a tag with a slash',
    make: (c) => withTags(c.root, { 'good/tags': { '../x': BASE_ID, ['t'.repeat(200)]: BASE_ID, '': BASE_ID, 'a/b': BASE_ID } }),
    runs: [ls(0, undefined, (_r, j) => assert.equal(j.problems.filter((p: any) => p.code === 'W_BAD_TAG').length, 4)), exp(BASE_REF, 0)],
  },
  {
    name: 'repo-proto-keys', trap: '__proto__ and constructor as repository, tag and top-level keys',
    make: (c) => repositories(c.root, `{"__proto__":{"polluted":1},"Repositories":{"__proto__":{"latest":"${BASE_ID}"},"constructor":{"latest":"${BASE_ID}"},"good/base":{"latest":"${BASE_ID}","__proto__":"${BASE_ID}","constructor":"${BASE_ID}"}}}`),
    runs: [
      ls(0, undefined, (_r, j) => {
        assert.deepEqual(j.images.find((i: any) => i.id === BASE_ID).repoTags.sort(), ['constructor:latest', 'good/base:__proto__', 'good/base:constructor', 'good/base:latest']);
        assert.ok(j.problems.some((p: any) => p.code === 'W_BAD_REPOSITORY' && p.message.includes('__proto__')));
      }),
      // a valid Docker tag, but not a valid OCI ref.name (two '_' in a row): a coded refusal, and --name gets it out
      exp('good/base:__proto__', 1, 'E_REF_INVALID'),
      { args: (c) => ['export', 'good/base:__proto__', c.out, '--name', 'good/base:proto', '--root', c.root, '--quiet', '--json'], status: 0, check: (_r, j) => assert.deepEqual(j.images[0].refs, ['good/base:proto']) },
      exp('good/base:constructor', 0),
    ],
  },
  {
    name: 'repo-invalid-utf8', trap: 'a repository name with a raw 0xff byte (invalid UTF-8)',
    make: (c) => repositories(c.root, Buffer.concat([Buffer.from('{"Repositories":{"caf'), Buffer.from([0xe9, 0xff]), Buffer.from(`":{"latest":"${BASE_ID}"},"good/base":{"latest":"${BASE_ID}"}}}`)])),
    runs: [ls(0, undefined, rootProblem('W_BAD_REPOSITORY')), exp(BASE_REF, 0)],
  },
  { name: 'repo-deep-json', trap: 'Repositories nested 100,000 arrays deep', make: (c) => repositories(c.root, `{"Repositories":${nested(100_000)}}`), runs: [ls(1, undefined, rootProblem('E_JSON_INVALID')), exp(BASE_ID, 0)] },
  { name: 'repo-not-json', trap: 'repositories-aufs cut mid-way', make: (c) => repositories(c.root, `{"Repositories":{"good/base":{"latest":"${BASE_ID.slice(0, 20)}`), runs: [ls(1, undefined, rootProblem('E_JSON_INVALID')), exp(BASE_ID, 0)] },
  {
    name: 'repo-huge', trap: 'repositories-aufs of 65 MiB (sparse)', make: (c) => run('truncate', ['-s', '65M', join(c.root, 'repositories-aufs')]),
    runs: [ls(1, undefined, rootProblem('E_FILE_TOO_LARGE')), expMixed(BASE_REF, 'E_REF_NOT_FOUND', BASE_ID)],
  },
  {
    name: 'repo-dup-tags', trap: 'library/dup:latest and dup:latest name different images (the first raw name in byte order, dup, is kept; Docker 1.10 kept a random one)',
    make: (c) => { meta(c.root, { id: X }); withTags(c.root, { 'library/dup': { latest: BASE_ID }, dup: { latest: X } }); },
    runs: [ls(0, undefined, rootProblem('W_DUPLICATE_TAG')), exp('dup:latest', 0, undefined, exportedId(X)), exp('docker.io/library/dup', 0, undefined, exportedId(X))],
  },
  {
    name: 'repo-dup-keys', trap: 'the same repository key twice in the JSON (the last wins, as in Go)',
    make: (c) => { meta(c.root, { id: X }); repositories(c.root, `{"Repositories":{"dup/keys":{"latest":"${BASE_ID}"},"dup/keys":{"latest":"${X}"}}}`); },
    runs: [exp('dup/keys:latest', 0, undefined, exportedId(X))],
  },
  {
    name: 'repo-symlink-out', trap: 'repositories-aufs is a symlink to a tag file outside the root', watch: (c) => join(c.dir, 'repos-outside'),
    make: (c) => { writeFileSync(join(c.dir, 'repos-outside'), `{"Repositories":{"good/base":{"latest":"${BASE_ID}"}}}`); rmSync(join(c.root, 'repositories-aufs')); symlinkSync(join(c.dir, 'repos-outside'), join(c.root, 'repositories-aufs')); },
    runs: [ls(1, undefined, rootProblem('E_NOT_REGULAR')), expMixed(BASE_REF, 'E_REF_NOT_FOUND', BASE_ID)],
  },
  { name: 'repo-fifo', trap: 'repositories-aufs is a FIFO', make: (c) => { rmSync(join(c.root, 'repositories-aufs')); mkfifo(join(c.root, 'repositories-aufs')); }, runs: [ls(1, undefined, rootProblem('E_NOT_REGULAR')), exp(BASE_ID, 0)] },
  {
    name: 'graph-bad-names', trap: 'graph/ entries named in uppercase, with dots, with a leading dash',
    make: (c) => { for (const n of [BASE_ID.toUpperCase(), 'x..y', '-rf', `${BASE_ID}.bak`]) mkdirSync(join(c.root, 'graph', n)); },
    runs: [ls(0, undefined, (_r, j) => assert.equal(j.problems.filter((p: any) => p.code === 'W_IGNORED_ENTRY').length, 4)), exp(BASE_REF, 0)],
  },
  {
    name: 'chain-1000', trap: 'a chain of 1,000 layers on the base (no recursion limit, no quadratic blow-up)',
    make: (c) => {
      let parent = BASE_ID;
      const ancestors = [BASE_ID];
      for (let i = 0; i < 1000; i++) {
        const id = derivedId(`hardening:chain:${i}`);
        meta(c.root, { id, parent, layersFile: ancestors.map((a) => a + '\n').join('') });
        ancestors.unshift(id);
        parent = id;
      }
      withTags(c.root, { deep: { chain: parent } });
    },
    // (uncompressed: the point is the depth, not 1,000 compressor start-ups)
    runs: [insp('deep:chain', 0), { args: (c) => ['export', 'deep:chain', c.out, '--root', c.root, '--compress', 'none', '--jobs', '2', '--quiet', '--json'], status: 0, check: (_r, j) => assert.equal(j.images[0].layers.length, 1001) }],
  },
  {
    name: 'layersize-absurd', trap: 'layersize 999999999999999 (1 PB): an unreliable field must not block the export',
    make: (c) => writeFileSync(join(c.root, 'graph', BASE_ID, 'layersize'), '999999999999999'),
    runs: [exp(BASE_REF, 0)],
  },
  // ── OUT ──
  {
    name: 'out-inside-root', trap: 'OUT inside the root: the root is never written, so this is refused',
    make: () => {},
    runs: [{ args: (c) => ['export', BASE_REF, join(c.root, 'out'), '--root', c.root, '--quiet'], status: 2, code: 'E_USAGE' }],
  },
  {
    name: 'out-is-file', trap: 'OUT is an existing regular file', make: (c) => writeFileSync(c.out, 'not a layout'),
    runs: [exp(BASE_REF, 2, 'E_OUTPUT', (_r, _j, c) => assert.equal(readFileSync(c.out, 'utf8'), 'not a layout'))],
  },
  {
    name: 'out-bad-index', trap: 'OUT/index.json is not an OCI index',
    make: (c) => { mkdirSync(join(c.out, 'blobs', 'sha256'), { recursive: true }); writeFileSync(join(c.out, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}'); writeFileSync(join(c.out, 'index.json'), '{"garbage":true}'); },
    runs: [{ args: (c) => ['export', BASE_REF, c.out, '--root', c.root, '--quiet', '--json'], status: 1, code: 'E_INDEX_INVALID', check: (_r, _j, c) => assert.equal(readFileSync(join(c.out, 'index.json'), 'utf8'), '{"garbage":true}') }],
  },
  // ── what the tool may not read (run as uid 65534) ──
  { name: 'perm-file', unprivileged: true, trap: 'a layer file mode 000', make: (c) => chmodSync(join(c.root, 'aufs/diff', BASE_ID, 'etc/motd'), 0), runs: [exp(BASE_REF, 1, 'E_LAYER_READ')] },
  { name: 'perm-dir', unprivileged: true, trap: 'a layer dir mode 000', make: (c) => chmodSync(join(c.root, 'aufs/diff', BASE_ID, 'srv/data'), 0), runs: [exp(BASE_REF, 1, 'E_LAYER_READ')] },
  {
    name: 'perm-dir-in-path', unprivileged: true, trap: 'a dir mode 000 above a file tar-split names (srv/ → srv/data/file)', make: (c) => chmodSync(join(c.root, 'aufs/diff', BASE_ID, 'srv'), 0),
    runs: [exp(BASE_REF, 1, 'E_LAYER_READ')],
  },
  {
    name: 'perm-diff-dir', unprivileged: true, trap: 'aufs/diff/<id> mode 000', make: (c) => chmodSync(join(c.root, 'aufs/diff', BASE_ID), 0), runs: [exp(BASE_REF, 1, 'E_LAYER_READ')],
  },
  { name: 'perm-tardata', unprivileged: true, trap: 'tar-data.json.gz mode 000 (regenerated, with a warning)', make: (c) => chmodSync(join(c.root, 'graph', BASE_ID, 'tar-data.json.gz'), 0), runs: [ls(0, undefined, imageProblem(BASE_ID, 'W_TAR_SPLIT_UNREADABLE')), exp(BASE_REF, 0, undefined, (r, j) => { assert.equal(j.images[0].layers[0].source, 'regenerated'); assert.match(r.stderr, /regenerated/); })] },
  { name: 'perm-json', unprivileged: true, trap: 'graph/<id>/json mode 000', make: (c) => chmodSync(join(c.root, 'graph', BASE_ID, 'json'), 0), runs: [ls(1, undefined, imageProblem(BASE_ID, 'E_PERMISSION')), exp(BASE_REF, 1, 'E_PERMISSION')] },
  { name: 'perm-graph-dir', unprivileged: true, trap: 'graph/<id> mode 000', make: (c) => chmodSync(join(c.root, 'graph', BASE_ID), 0), runs: [ls(1, undefined, imageProblem(BASE_ID, 'E_PERMISSION')), exp(BASE_REF, 1, 'E_PERMISSION')] },
  { name: 'perm-graph', unprivileged: true, trap: 'graph/ mode 000', make: (c) => chmodSync(join(c.root, 'graph'), 0), runs: [ls(1, undefined, rootProblem('E_PERMISSION')), exp(BASE_REF, 1, 'E_REF_NOT_FOUND')] },
  { name: 'perm-repositories', unprivileged: true, trap: 'repositories-aufs mode 000', make: (c) => chmodSync(join(c.root, 'repositories-aufs'), 0), runs: [ls(1, undefined, rootProblem('E_PERMISSION')), expMixed(BASE_REF, 'E_REF_NOT_FOUND', BASE_ID)] },
  { name: 'perm-root', unprivileged: true, trap: 'the root mode 000', make: (c) => chmodSync(c.root, 0), runs: [ls(2, 'E_ROOT_UNREADABLE'), exp(BASE_REF, 2, 'E_ROOT_UNREADABLE')] },
  {
    name: 'perm-out', unprivileged: true, trap: 'OUT in a directory the user cannot write', make: (c) => { mkdirSync(join(c.dir, 'locked')); chownR(join(c.dir, 'locked'), 0); },
    runs: [{ args: (c) => ['export', BASE_REF, join(c.dir, 'locked', 'out'), '--root', c.root, '--quiet', '--json'], status: 2, code: 'E_PERMISSION' }],
  },
];

function findCode(r: RunResult, json: any, code: string): boolean {
  if (r.stderr.includes(code) || r.stdout.includes(`"${code}"`)) return true;
  return Boolean(json?.failed?.some((f: any) => f.code === code));
}

async function runCase(c: RootCase): Promise<void> {
  const dir = worldTemp(c.name);
  try {
    const ctx: Ctx = { root: join(dir, 'docker'), out: join(dir, 'out'), dir };
    cpSync(baseRoot, ctx.root, { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(dir, 'canary'), marker);
    if (c.unprivileged) chownR(dir, NOBODY);
    c.make(ctx);
    const rootHash = existsSync(ctx.root) && lstatSync(ctx.root).isDirectory() ? treeHash(ctx.root) : null;
    for (const step of c.runs) {
      const args = step.args(ctx);
      const what = `${c.name}: ${args.slice(0, 2).join(' ')}`;
      const log = c.watch && !straceSkip ? join(dir, 'strace.log') : undefined;
      const r = await runCli(args, { asUser: c.unprivileged ? NOBODY : undefined, timeoutMs: 120_000, straceLog: log });
      assertCleanExit(r, what);
      if (log && c.watch) assert.deepEqual(straceOpenedUnder(log, c.watch(ctx)), [], `${what}: opened a file outside the root`);
      const json = args.includes('--json') && r.stdout.trim().startsWith('{') ? parseJsonOut(r, what) : null;
      const ctxText = `${what}\n--- stdout:\n${r.stdout.slice(0, 2500)}\n--- stderr:\n${r.stderr.slice(0, 1500)}`;
      assert.equal(r.status, step.status, `exit status: ${ctxText}`);
      if (step.code) assert.ok(findCode(r, json, step.code), `${step.code} not reported: ${ctxText}`);
      step.check?.(r, json, ctx);
      const out = args[0] === 'export' ? args[args.indexOf('--root') - 1]! : null;
      if (out && existsSync(out) && !out.startsWith(ctx.root)) {
        assert.equal(layoutContains(out, marker), null, `${what}: canary in OUT`);
        // a run that failed part-way must leave a valid layout (the successful ones are validated elsewhere)
        if (r.status === 1 && existsSync(join(out, 'index.json')) && c.name !== 'out-bad-index') {
          const v = await runCli(['validate', out], { timeoutMs: 60_000 });
          assert.equal(v.status, 0, `${what}: OUT does not validate\n${v.stdout}`);
        }
      }
      if (rootHash !== null) assert.equal(treeHash(ctx.root), rootHash, `${what}: the root changed`);
    }
  } finally {
    rmrf(dir);
  }
}

describe('bad-input corpus: damaged and hostile roots, bad OUT dirs', { skip: tools, concurrency: 4 }, () => {
  for (const c of rootCases) {
    const skip = c.unprivileged ? privSkip : false;
    const outcome = c.runs.map((s) => `${s.args({ root: 'R', out: 'O', dir: 'D' })[0]} → ${s.status}${s.code ? ` ${s.code}` : ''}`).join(', ');
    it(`${c.name}: ${c.trap} (${outcome})`, { skip, todo: c.todo }, () => runCase(c));
  }
});

// ───────────────────── metadata traps, all in one root ─────────────────────
// Ids in aufs/layers and parent fields, parent cycles, hostile image json: each case adds its own
// image(s) to one shared copy of the base root, tagged m/<case>:latest; one `ls --all --json` and
// one export of every tag are then judged case by case (one broken image never hides another).

interface MetaCase {
  name: string;
  trap: string;
  make: (root: string, x: string, y: string) => void;
  /** a problem code ls gives the image (the image is then listed broken when it is an E_) */
  problem?: string;
  /** the failure code of the export, or null when it exports */
  fails: string | null;
  /** checks on the exported OCI config (parsed, and its raw bytes) */
  config?: (cfg: any, raw: Buffer) => void;
}

const xml = (x: string, body: string) => `{"id":"${x}",${body}"created":"2015-06-01T00:00:00Z","architecture":"amd64","os":"linux"}`;

const metaCases: MetaCase[] = [
  { name: 'layers-bad-id', trap: 'aufs/layers/<id> lists ../../../x', make: (r, x) => meta(r, { id: x, layersFile: '../../../x\n' }), problem: 'E_BAD_ID', fails: 'E_BAD_ID' },
  { name: 'layers-upper', trap: 'aufs/layers/<id> lists an uppercase id', make: (r, x) => meta(r, { id: x, parent: BASE_ID, layersFile: BASE_ID.toUpperCase() + '\n' }), problem: 'E_BAD_ID', fails: 'E_BAD_ID' },
  { name: 'parent-slash', trap: 'json "parent": "../../../etc"', make: (r, x) => meta(r, { id: x, parent: '../../../etc', layersFile: '' }), problem: 'E_BAD_ID', fails: 'E_BAD_ID' },
  { name: 'parent-file-dotdot', trap: 'graph/<id>/parent holds ..', make: (r, x) => meta(r, { id: x, parentFile: '..', layersFile: '' }), problem: 'E_BAD_ID', fails: 'E_BAD_ID' },
  { name: 'parent-file-slash', trap: 'graph/<id>/parent holds /etc/passwd', make: (r, x) => meta(r, { id: x, parentFile: '/etc/passwd\n', layersFile: '' }), problem: 'E_BAD_ID', fails: 'E_BAD_ID' },
  { name: 'parent-upper', trap: 'json parent in uppercase', make: (r, x) => meta(r, { id: x, parent: BASE_ID.toUpperCase(), layersFile: '' }), problem: 'E_BAD_ID', fails: 'E_BAD_ID' },
  { name: 'parent-id-bad', trap: 'json "parent_id": "sha256:../../x"', make: (r, x) => meta(r, { id: x, json: xml(x, '"parent_id":"sha256:../../x",'), layersFile: '' }), problem: 'E_BAD_ID', fails: 'E_BAD_ID' },
  { name: 'parent-cycle', trap: 'X → Y → X', make: (r, x, y) => { meta(r, { id: x, parent: y }); meta(r, { id: y, parent: x }); }, problem: 'E_CHAIN_CYCLE', fails: 'E_CHAIN_CYCLE' },
  { name: 'self-parent', trap: 'X is its own parent', make: (r, x) => meta(r, { id: x, parent: x }), problem: 'E_CHAIN_CYCLE', fails: 'E_CHAIN_CYCLE' },
  { name: 'parent-missing', trap: 'a parent that is not in graph/', make: (r, x, y) => meta(r, { id: x, parent: y }), problem: 'E_PARENT_MISSING', fails: 'E_PARENT_MISSING' },
  { name: 'json-huge', trap: 'a json of 9 MiB (sparse)', make: (r, x) => { meta(r, { id: x }); run('truncate', ['-s', '9M', join(r, 'graph', x, 'json')]); }, problem: 'E_FILE_TOO_LARGE', fails: 'E_FILE_TOO_LARGE' },
  { name: 'json-deep', trap: 'config.Env nested 100,000 arrays deep', make: (r, x) => meta(r, { id: x, json: xml(x, `"config":{"Env":${nested(100_000)}},`) }), fails: 'E_JSON_TOO_DEEP' },
  {
    name: 'json-proto', trap: '__proto__ and constructor keys in the image json (own keys, no prototype pollution)',
    make: (r, x) => meta(r, { id: x, json: xml(x, '"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}},"config":{"__proto__":{"Cmd":["/bin/evil"]},"Cmd":["/bin/sh"]},') }),
    fails: null,
    config: (cfg) => {
      assert.deepEqual(cfg.config.Cmd, ['/bin/sh'], 'config.__proto__ leaked into the config');
      assert.equal(JSON.stringify(cfg).includes('polluted'), false);
      assert.equal(({} as any).polluted, undefined);
    },
  },
  {
    name: 'json-invalid-utf8', trap: 'raw 0xff 0xfe bytes inside a json string (Go turns them into U+FFFD)',
    make: (r, x) => meta(r, { id: x, json: Buffer.concat([Buffer.from(`{"id":"${x}","comment":"bad `), Buffer.from([0xff, 0xfe]), Buffer.from(' bytes","created":"2015-06-01T00:00:00Z","architecture":"amd64","os":"linux"}')]) }),
    fails: null,
    config: (cfg, raw) => {
      assert.equal(cfg.comment, 'bad \ufffd\ufffd bytes');
      assert.ok(Buffer.from(raw.toString('utf8'), 'utf8').equals(raw), 'the config is not valid UTF-8');
    },
  },
  { name: 'json-absurd-size', trap: '"Size": 1e400 (no int64 holds it; Docker 1.10 failed the image too)', make: (r, x) => meta(r, { id: x, json: xml(x, '"Size":1e400,') }), fails: 'E_JSON_TYPE' },
  { name: 'json-absurd-created', trap: '"created": "99999-99-99T99:99:99Z"', make: (r, x) => meta(r, { id: x, json: `{"id":"${x}","created":"99999-99-99T99:99:99Z","architecture":"amd64","os":"linux"}` }), fails: 'E_JSON_TIME' },
  { name: 'json-not-object', trap: 'the json is an array', make: (r, x) => meta(r, { id: x, json: '[1,2,3]' }), problem: 'E_JSON_INVALID', fails: 'E_JSON_INVALID' },
  { name: 'json-missing', trap: 'graph/<id>/json is gone', make: (r, x) => meta(r, { id: x, json: null }), problem: 'E_JSON_MISSING', fails: 'E_JSON_MISSING' },
  { name: 'json-not-json', trap: 'the json is cut mid-way', make: (r, x) => meta(r, { id: x, json: `{"id":"${x}","created":"2015-` }), problem: 'E_JSON_INVALID', fails: 'E_JSON_INVALID' },
];

const metaIds = (name: string) => ({ x: derivedId(`hardening:meta:${name}:x`), y: derivedId(`hardening:meta:${name}:y`) });

describe('bad-input corpus: metadata traps in one root', { skip: tools, concurrency: 4 }, () => {
  let dir = '';
  let root = '';
  let lsDoc: any;
  let report: any;
  let rootHash = '';
  let out = '';
  before(async () => {
    dir = worldTemp('meta');
    root = join(dir, 'docker');
    cpSync(baseRoot, root, { recursive: true, verbatimSymlinks: true });
    const tags: Record<string, Record<string, string>> = {};
    for (const c of metaCases) {
      const { x, y } = metaIds(c.name);
      c.make(root, x, y);
      tags[`m/${c.name}`] = { latest: x };
    }
    withTags(root, tags);
    rootHash = treeHash(root);
    const ls = await runCli(['ls', '--all', '--json', '--root', root], { timeoutMs: 60_000 });
    assertCleanExit(ls, 'ls');
    assert.equal(ls.status, 1, 'ls exits 1: broken images are listed');
    lsDoc = parseJsonOut(ls, 'ls');
    out = join(dir, 'out');
    const r = await runCli(['export', ...metaCases.map((c) => `m/${c.name}:latest`), BASE_REF, out, '--root', root, '--jobs', '2', '--quiet', '--json'], { timeoutMs: 120_000 });
    assertCleanExit(r, 'export');
    assert.equal(r.status, 1, 'export exits 1: some images fail by design');
    report = parseJsonOut(r, 'export');
    assert.equal(layoutContains(out, marker), null);
    const v = await runCli(['validate', out], { timeoutMs: 60_000 });
    assert.equal(v.status, 0, v.stdout);
  });
  after(() => {
    if (root) assert.equal(treeHash(root), rootHash, 'the root changed');
    if (dir) rmrf(dir);
  });

  for (const c of metaCases) {
    it(`${c.name}: ${c.trap} (${c.problem ? `ls ${c.problem}, ` : ''}export ${c.fails ?? 'ok'})`, async () => {
      const { x } = metaIds(c.name);
      const img = lsDoc.images.find((i: any) => i.id === x);
      assert.ok(img, `${c.name}: not listed by ls`);
      if (c.problem) {
        assert.ok(img.problems.some((p: any) => p.code === c.problem), `${c.name}: ${c.problem} not in ${JSON.stringify(img.problems)}`);
        assert.equal(img.status, 'broken');
      }
      const failed = report.failed.find((f: any) => f.requested === `m/${c.name}:latest`);
      const exported = report.images.find((i: any) => i.legacyId === x);
      if (c.fails) assert.equal(failed?.code, c.fails, `${c.name}: ${JSON.stringify(failed)}`);
      else assert.ok(exported && !failed, `${c.name}: not exported: ${JSON.stringify(failed)}`);
      if (c.config) {
        const raw = readFileSync(join(out, 'blobs', 'sha256', exported.configDigest.slice('sha256:'.length)));
        c.config(JSON.parse(raw.toString('utf8')), raw);
      }
      if (c.name === 'parent-cycle') {
        const i = await runCli(['inspect', `m/${c.name}`, '--root', root, '--json'], { timeoutMs: 60_000 });
        assertCleanExit(i, 'inspect');
        assert.equal(i.status, 1);
        assert.match(i.stdout + i.stderr, /E_CHAIN_CYCLE/);
      }
    });
  }
  it('the good image of the same root still exports', () => {
    assert.ok(report.images.some((i: any) => i.legacyId === BASE_ID));
  });
});
