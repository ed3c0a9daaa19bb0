// The blob store: temp → fsync → rename, verified reuse, replacement of wrong blobs, stale temps.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { OutputError } from '../../src/errors.js';
import { needTools, straceNode } from '../helpers/env.js';
import { BlobWriter, EARLY_SYNC_BYTES, commitSealedBlob, syncBlobsDir, TEMP_PREFIX, blobPath, blobsDir, hasVerifiedBlob, putBlob, removeStaleTemps } from '../../src/oci/blob-store.js';

let work = '';
let n = 0;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'l2o-blobs-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});
const outDir = (): string => join(work, `out${n++}`);
const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const temps = (out: string): string[] => [join(out, 'blobs'), blobsDir(out)].flatMap((d) => (existsSync(d) ? readdirSync(d).filter((x) => x.startsWith(TEMP_PREFIX)) : []));

test('blobPath refuses anything but sha256:<64 hex>', () => {
  const d = sha('x');
  assert.equal(blobPath('/o', d), `/o/blobs/sha256/${d.slice(7)}`);
  for (const bad of ['sha256:' + 'A'.repeat(64), 'sha256:../../etc/passwd', 'sha512:' + 'a'.repeat(64), d.slice(7), `${d}/x`]) {
    assert.throws(() => blobPath('/o', bad), (err: unknown) => err instanceof OutputError && err.code === 'E_DIGEST_INVALID', bad);
  }
});

test('putBlob writes once, then reuses; outDir null writes nothing', () => {
  const out = outDir();
  const json = '{"schemaVersion":2}';
  const a = putBlob(out, json);
  assert.deepEqual(a, { digest: sha(json), size: json.length, reused: false });
  assert.equal(readFileSync(blobPath(out, a.digest), 'utf8'), json);
  assert.equal(putBlob(out, Buffer.from(json)).reused, true);
  assert.ok(hasVerifiedBlob(out, a.digest));
  assert.ok(hasVerifiedBlob(out, a.digest, json.length));
  assert.ok(!hasVerifiedBlob(out, a.digest, json.length + 1));
  assert.ok(!hasVerifiedBlob(out, sha('other')));
  const dry = putBlob(null, json);
  assert.equal(dry.digest, a.digest);
  assert.deepEqual(temps(out), []);
});

test('a present-but-wrong blob is replaced, also when it is a symlink', () => {
  const out = outDir();
  const data = Buffer.from('right');
  const digest = sha(data);
  mkdirSync(blobsDir(out), { recursive: true });
  writeFileSync(blobPath(out, digest), 'wrong');
  assert.ok(!hasVerifiedBlob(out, digest));
  assert.equal(putBlob(out, data).reused, false);
  assert.deepEqual(readFileSync(blobPath(out, digest)), data);

  const target = join(work, 'elsewhere');
  writeFileSync(target, data);
  rmSync(blobPath(out, digest));
  symlinkSync(target, blobPath(out, digest));
  assert.ok(!hasVerifiedBlob(out, digest), 'a symlink is not a verified blob');
  putBlob(out, data);
  assert.ok(hasVerifiedBlob(out, digest));
});

test('BlobWriter: streamed, verified against an expected digest, abort removes the temp', () => {
  const out = outDir();
  const w = BlobWriter.open(out);
  assert.equal(temps(out).length, 1);
  assert.match(temps(out)[0], /^\.tmp-\d+-\d+-[0-9a-f]+$/);
  w.write(Buffer.from('hello '));
  w.write(Buffer.from('world'));
  assert.equal(w.size, 11);
  const info = w.finish(sha('hello world'));
  assert.deepEqual(info, { digest: sha('hello world'), size: 11, reused: false });
  assert.deepEqual(temps(out), []);

  const bad = BlobWriter.open(out);
  bad.write(Buffer.from('abc'));
  assert.throws(() => bad.finish(sha('abd')), (err: unknown) => err instanceof OutputError && err.code === 'E_BLOB_DIGEST_MISMATCH');
  assert.deepEqual(temps(out), []);
  assert.ok(!existsSync(blobPath(out, sha('abc'))));

  const dropped = BlobWriter.open(out);
  dropped.write(Buffer.from('partial'));
  dropped.abort();
  assert.deepEqual(temps(out), []);
  assert.throws(() => dropped.write(Buffer.from('x')), OutputError);

  const hashOnly = BlobWriter.open(null);
  hashOnly.write(Buffer.from('abc'));
  assert.deepEqual(hashOnly.finish(), { digest: sha('abc'), size: 3, reused: false });
});

test('removeStaleTemps: dead writers and old temps go, live ones and real blobs stay', () => {
  const out = outDir();
  const live = BlobWriter.open(out); // this process: kept
  const dir = blobsDir(out);
  writeFileSync(join(dir, `${TEMP_PREFIX}999999999-0-1abc`), 'dead pid');
  writeFileSync(join(out, 'blobs', `${TEMP_PREFIX}garbage`), 'unparsable');
  const blob = putBlob(out, 'keep me');
  const removed = removeStaleTemps(out).map((p) => p.slice(out.length + 1)).sort();
  assert.deepEqual(removed, [`blobs/${TEMP_PREFIX}garbage`, `blobs/sha256/${TEMP_PREFIX}999999999-0-1abc`]);
  assert.equal(temps(out).length, 1);
  assert.ok(hasVerifiedBlob(out, blob.digest));
  // old enough: even a live process's temp goes
  const [own] = temps(out);
  utimesSync(join(dir, own), 1, 1);
  assert.equal(removeStaleTemps(out, { olderThanMs: 60_000 }).length, 1);
  live.abort();
  assert.deepEqual(removeStaleTemps(join(work, 'missing')), []);
});

test('write errors are OutputErrors naming the file', () => {
  const out = outDir();
  mkdirSync(out);
  writeFileSync(join(out, 'blobs'), 'a file where the blobs dir should be');
  assert.throws(() => BlobWriter.open(out), (err: unknown) => err instanceof OutputError && err.code === 'E_OUTPUT_WRITE' && typeof err.file === 'string');
});

test('early sync: writeback starts every EARLY_SYNC_BYTES; finish waits for settle; the blob is whole', async () => {
  const out = outDir();
  const piece = Buffer.alloc(1024 * 1024, 0x5a);
  const pieces = Math.ceil((2 * EARLY_SYNC_BYTES + 1) / piece.length);
  const whole = createHash('sha256');
  for (let i = 0; i < pieces; i++) whole.update(piece);
  const digest = `sha256:${whole.digest('hex')}`;

  // a sync is in flight right after the threshold is crossed (no event-loop turn yet)
  const early = BlobWriter.open(out, { earlySync: true });
  for (let i = 0; i < pieces; i++) early.write(piece);
  assert.throws(() => early.finish(digest), (err: unknown) => err instanceof OutputError && err.code === 'E_BLOB_SYNC_PENDING');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(temps(out), []);

  const w = BlobWriter.open(out, { earlySync: true });
  for (let i = 0; i < pieces; i++) {
    w.write(piece);
    if (i % 8 === 0) await new Promise((r) => setImmediate(r));
  }
  await w.settle();
  assert.deepEqual(w.finish(digest), { digest, size: pieces * piece.length, reused: false });
  assert.equal(sha(readFileSync(blobPath(out, digest))), digest);
});

/** What an fd number names now (/proc/self/fd), or null when it is not open. */
function openTarget(fd: number): string | null {
  try {
    return readlinkSync(`/proc/self/fd/${fd}`);
  } catch {
    return null;
  }
}

test('early sync of a file a child fills: on the input schedule, and once more when the child is done', async () => {
  const out = outDir();
  const body = Buffer.alloc(64 * 1024, 0x42);
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  /** a writer whose temp file a "child" filled through externalFd; `fed` runs before the read-back */
  const filled = (opts: { earlySync?: boolean }, fed: (w: BlobWriter) => void): BlobWriter => {
    const w = BlobWriter.open(out, opts);
    writeSync(w.externalFd!, body);
    fed(w);
    w.adoptWrittenBytes();
    return w;
  };
  // finish() refuses (and drops the blob) while a sync is in flight: that is what is observed here
  const inFlight = (w: BlobWriter): boolean => {
    try {
      w.finish(digest);
      return false;
    } catch (err) {
      if (err instanceof OutputError && err.code === 'E_BLOB_SYNC_PENDING') return true;
      throw err;
    }
  };

  assert.equal(inFlight(filled({ earlySync: true }, (w) => w.noteExternalProgress(EARLY_SYNC_BYTES - 1))), false, 'below the threshold');
  assert.equal(inFlight(filled({ earlySync: true }, (w) => w.noteExternalProgress(EARLY_SYNC_BYTES))), true, 'input crossed the threshold');
  assert.equal(inFlight(filled({ earlySync: true }, (w) => { w.noteExternalProgress(body.length); w.syncExternalWrites(); })), true, 'the child is done');
  assert.equal(inFlight(filled({ earlySync: true }, (w) => w.syncExternalWrites())), false, 'nothing fed since the last sync');
  assert.equal(inFlight(filled({}, (w) => { w.noteExternalProgress(2 * EARLY_SYNC_BYTES); w.syncExternalWrites(); })), false, 'early sync off');

  // dropped with a sync still queued: the descriptor stays open until the sync is done, so its
  // number cannot pass to another file whose writeback error the stray sync would take
  const dropped = filled({ earlySync: true }, (x) => x.noteExternalProgress(EARLY_SYNC_BYTES));
  const fd = dropped.externalFd!;
  const temp = readlinkSync(`/proc/self/fd/${fd}`);
  dropped.abort();
  assert.equal(readlinkSync(`/proc/self/fd/${fd}`), `${temp} (deleted)`, 'still open while the sync is queued');
  await dropped.settle();
  await new Promise((r) => setImmediate(r));
  assert.ok(!openTarget(fd)?.startsWith(temp), 'closed once the sync is done');

  // after settle() the commit goes through, and the blob is what the child wrote
  const w = filled({ earlySync: true }, (x) => { x.noteExternalProgress(EARLY_SYNC_BYTES); x.syncExternalWrites(); });
  await w.settle();
  assert.equal(w.finish(digest).digest, digest);
  assert.equal(sha(readFileSync(blobPath(out, digest))), digest);
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(temps(out), []);
});

test('deferred commit: finish hands the temp file over; commitSealedBlob syncs and renames it, or removes it on failure', async () => {
  const out = outDir();
  const body = Buffer.from('sealed blob');
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;

  const w = BlobWriter.open(out);
  w.write(body);
  const info = w.finish(digest, { deferCommit: true });
  assert.equal(info.reused, false);
  assert.ok(info.sealed);
  w.abort(); // the temp file is no longer the writer's to drop
  assert.ok(existsSync(info.sealed.tempPath));
  assert.ok(!existsSync(blobPath(out, digest)));
  await commitSealedBlob(info.sealed);
  assert.deepEqual(readFileSync(blobPath(out, digest)), body);
  assert.deepEqual(temps(out), []);
  await syncBlobsDir(out);

  // two layers with the same bytes, both sealed before either is committed: the second commit
  // finds the blob in place and says so (the export counts that layer as reused)
  const twin = Buffer.from('twin blob');
  const twinDigest = `sha256:${createHash('sha256').update(twin).digest('hex')}`;
  const sealedTwins = [0, 1].map(() => {
    const t = BlobWriter.open(out);
    t.write(twin);
    return t.finish(twinDigest, { deferCommit: true }).sealed!;
  });
  assert.deepEqual(await commitSealedBlob(sealedTwins[0]!), { replaced: false });
  assert.deepEqual(await commitSealedBlob(sealedTwins[1]!), { replaced: true });
  assert.deepEqual(readFileSync(blobPath(out, twinDigest)), twin);
  assert.deepEqual(temps(out), []);

  // already there: reused, nothing sealed, no temp left
  const again = BlobWriter.open(out);
  again.write(body);
  assert.deepEqual(again.finish(digest, { deferCommit: true }), { digest, size: body.length, reused: true });
  assert.deepEqual(temps(out), []);

  // the rename fails (the blobs dir is gone): an OutputError naming the blob, the temp removed
  const other = Buffer.from('another blob');
  const otherDigest = `sha256:${createHash('sha256').update(other).digest('hex')}`;
  const v = BlobWriter.open(out);
  v.write(other);
  const sealed = v.finish(otherDigest, { deferCommit: true }).sealed!;
  const moved = sealed.finalPath.replace(/[0-9a-f]{64}$/, 'x/y');
  await assert.rejects(commitSealedBlob({ ...sealed, finalPath: moved }), (err: unknown) => err instanceof OutputError && err.file === moved);
  assert.ok(!existsSync(sealed.tempPath));
  assert.ok(!openTarget(sealed.fd)?.startsWith(sealed.tempPath), 'the failed commit closed the descriptor');
  assert.deepEqual(temps(out), []);
  await syncBlobsDir(join(out, 'nowhere')); // no blobs dir: nothing to sync
});

/** Successful fdatasync calls in an strace log. */
const fdatasyncs = (trace: string): number => trace.split('\n').filter((l) => /fdatasync\(\d+\)\s+= 0/.test(l)).length;

test('early sync: the fdatasync calls really happen (strace)', { skip: needTools('strace') }, () => {
  const out = outDir();
  const script = `
    import { BlobWriter } from ${JSON.stringify(new URL('../../src/oci/blob-store.js', import.meta.url).href)};
    const w = BlobWriter.open(${JSON.stringify(out)}, { earlySync: true });
    const piece = Buffer.alloc(1024 * 1024, 1);
    for (let i = 0; i < 100; i++) { w.write(piece); await new Promise((r) => setImmediate(r)); }
    await w.settle();
    w.finish();`;
  const trace = straceNode('fdatasync,fsync', script);
  const datasyncs = fdatasyncs(trace);
  assert.ok(datasyncs >= 2, `expected early fdatasync calls for 100 MiB, saw ${datasyncs}:\n${trace.slice(-2000)}`);
  assert.ok(/[^a]fsync\(\d+\)\s+= 0/.test(trace), 'the commit still fsyncs');
});

test('a sealed blob is committed, then the blobs dir is fsynced before index.json and manifest.json name it (strace)', { skip: needTools('strace') }, () => {
  const out = outDir();
  const src = (rel: string) => JSON.stringify(new URL(`../../src/${rel}`, import.meta.url).href);
  const script = `
    import { BlobWriter, commitSealedBlob } from ${src('oci/blob-store.js')};
    import { updateIndex } from ${src('oci/layout.js')};
    import { writeDockerSaveFiles } from ${src('export/docker-save.js')};
    const w = BlobWriter.open(${JSON.stringify(out)});
    w.write(Buffer.from('a blob named by the index'));
    await commitSealedBlob(w.finish(undefined, { deferCommit: true }).sealed);
    await updateIndex(${JSON.stringify(out)}, () => Buffer.from('{"schemaVersion":2,"manifests":[]}'));
    await writeDockerSaveFiles(${JSON.stringify(out)}, []);`;
  const trace = straceNode('openat,fsync,rename,renameat,renameat2', script);
  const lines = trace.split('\n');
  /** what each descriptor number was last opened as (numbers are reused all the time) */
  const isBlobsDir = new Map<string, boolean>();
  /** line numbers of fsync calls on a descriptor of blobs/sha256 */
  const dirSyncs: number[] = [];
  lines.forEach((l, i) => {
    const open = /openat\(AT_FDCWD, "([^"]*)", ([A-Z_|]*)[^)]*\) = (\d+)/.exec(l);
    if (open) isBlobsDir.set(open[3]!, open[1]!.endsWith('/blobs/sha256') && open[2]!.includes('O_DIRECTORY'));
    const sync = /[^a]fsync\((\d+)/.exec(l);
    if (sync && isBlobsDir.get(sync[1]!)) dirSyncs.push(i);
  });
  /** the line renaming a temp file onto `name` */
  const renameOf = (name: string) => lines.findIndex((l) => /rename[a-z0-9]*\(/.test(l) && l.includes(`/${name}") = 0`));
  const index = renameOf('index.json');
  const manifest = renameOf('manifest.json');
  assert.ok(index > 0 && manifest > 0, `index.json and manifest.json are renamed into place:\n${trace.slice(-3000)}`);
  assert.ok(dirSyncs.some((i) => i < index), `the blobs dir is fsynced before index.json is renamed:\n${trace.slice(-3000)}`);
  assert.ok(dirSyncs.some((i) => i > index && i < manifest), 'and again before manifest.json');
});

test('a layer compressed by an igzip child gets its early fdatasync calls from the pipeline (strace)', { skip: needTools('strace', 'igzip') }, () => {
  const out = outDir();
  const script = `
    import { LayerPipeline } from ${JSON.stringify(new URL('../../src/engine/layer-pipeline.js', import.meta.url).href)};
    import { randomFillSync } from 'node:crypto';
    const p = new LayerPipeline(${JSON.stringify(out)}, { algorithm: 'gzip', engine: 'igzip', level: 3 }, 1);
    // incompressible, so the child's output (the blob file it writes) grows with the input
    const piece = randomFillSync(Buffer.alloc(1024 * 1024));
    for (let i = 0; i < 100; i++) { const wait = p.write(piece); if (wait) await wait; }
    await p.finish();`;
  const trace = straceNode('fdatasync', script);
  const datasyncs = fdatasyncs(trace);
  // 100 MiB of input: one every EARLY_SYNC_BYTES of it and one when the child is done, fewer when
  // a sync is still running as the next one is due (a loaded machine); without the pipeline's
  // calls there is none (the commit itself uses fsync)
  assert.ok(datasyncs >= 1, `expected early fdatasync calls, saw ${datasyncs}:\n${trace.slice(-2000)}`);
});
