// Blobs written through O_DIRECT (direct-io.ts via BlobWriter.useDirectIO): the same bytes and
// digest as an ordinary write for every size around the block and slot boundaries, the ordinary
// path when no slot is free or it is turned off, abort with writes in flight, and (strace) that the
// descriptor really is opened O_DIRECT and written with positioned writes; and the auto mode the
// layer pipeline uses (preferDirectIO): buffered until writes are slow, then O_DIRECT mid-blob.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { needTools, straceNode } from '../helpers/env.js';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, constants as fsc, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { OutputError } from '../../src/errors.js';
import { BlobWriter, TEMP_PREFIX, blobPath, blobsDir } from '../../src/oci/blob-store.js';
import { DIRECT_ALIGN, SLOT_BYTES } from '../../src/oci/direct-io.js';

// A dir on the disk the repo is on (os.tmpdir() may be a tmpfs, where O_DIRECT does not exist).
let work = '';
before(() => {
  work = mkdtempSync(join(process.cwd(), '.l2o-direct-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});
let n = 0;
const outDir = (): string => join(work, `out${n++}`);
const sha = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const temps = (out: string): string[] => (existsSync(blobsDir(out)) ? readdirSync(blobsDir(out)).filter((x) => x.startsWith(TEMP_PREFIX)) : []);

/** Whether the test dir's filesystem takes O_DIRECT at all (the direct tests skip otherwise). */
function supportsDirect(dir: string): boolean {
  const probe = join(dir, 'probe');
  writeFileSync(probe, '');
  try {
    closeSync(openSync(probe, fsc.O_WRONLY | fsc.O_DIRECT));
    return true;
  } catch {
    return false;
  } finally {
    rmSync(probe);
  }
}

/** Write `data` in pieces of random sizes (a turn of the event loop now and then), commit, return the blob's path. */
async function writeBlob(out: string, data: Buffer, direct: boolean): Promise<{ path: string; usedDirect: boolean }> {
  const w = BlobWriter.open(out, { hash: true });
  const usedDirect = direct ? w.useDirectIO() : false;
  let at = 0;
  let turns = 0;
  while (at < data.length) {
    const len = Math.min(data.length - at, 1 + Math.floor(Math.random() * 3 * SLOT_BYTES));
    w.write(data.subarray(at, at + len));
    at += len;
    if (++turns % 3 === 0) await new Promise((r) => setImmediate(r));
  }
  await w.settle();
  const info = w.finish(sha(data));
  assert.equal(info.size, data.length);
  return { path: blobPath(out, info.digest), usedDirect };
}

test('O_DIRECT blobs hold exactly the bytes written, for sizes around block and slot boundaries and beyond all slots', async (t) => {
  if (!supportsDirect(work)) return t.skip(`no O_DIRECT on the filesystem of ${work}`);
  const sizes = [0, 1, DIRECT_ALIGN - 1, DIRECT_ALIGN, DIRECT_ALIGN + 1, SLOT_BYTES - 1, SLOT_BYTES, SLOT_BYTES + 1, 3 * SLOT_BYTES + 513, 21 * SLOT_BYTES + 12_345];
  for (const size of sizes) {
    const data = randomBytes(size);
    const direct = await writeBlob(outDir(), data, true);
    assert.equal(direct.usedDirect, true, `size ${size}: O_DIRECT was not used`);
    const ordinary = await writeBlob(outDir(), data, false);
    const got = readFileSync(direct.path);
    assert.equal(got.length, size, `size ${size}`);
    assert.ok(got.equals(data), `size ${size}: the O_DIRECT blob differs from what was written`);
    assert.ok(got.equals(readFileSync(ordinary.path)), `size ${size}: O_DIRECT and ordinary blobs differ`);
  }
});

test('O_DIRECT: without a free slot, or with LEGACY2OCI_DIRECT_IO=0, a blob is written the ordinary way', async (t) => {
  if (!supportsDirect(work)) return t.skip('no O_DIRECT here');
  const data = randomBytes(2 * SLOT_BYTES + 77);
  // eight writers hold this thread's eight slots: the ninth cannot have one
  const holders = Array.from({ length: 8 }, () => BlobWriter.open(outDir()));
  try {
    for (const h of holders) assert.equal(h.useDirectIO(), true);
    const r = await writeBlob(outDir(), data, true);
    assert.equal(r.usedDirect, false);
    assert.ok(readFileSync(r.path).equals(data));
  } finally {
    for (const h of holders) h.abort();
  }
  assert.equal((await writeBlob(outDir(), data, true)).usedDirect, true, 'aborted writers give their slots back');
  process.env.LEGACY2OCI_DIRECT_IO = '0';
  try {
    const r = await writeBlob(outDir(), data, true);
    assert.equal(r.usedDirect, false);
    assert.ok(readFileSync(r.path).equals(data));
  } finally {
    delete process.env.LEGACY2OCI_DIRECT_IO;
  }
});

test('O_DIRECT: finish before settle is refused, abort with writes in flight leaves no temp and frees the slots', async (t) => {
  const out = outDir();
  if (!supportsDirect(work)) return t.skip('no O_DIRECT here');
  const data = randomBytes(6 * SLOT_BYTES);
  const w = BlobWriter.open(out);
  assert.equal(w.useDirectIO(), true);
  w.write(data); // five full slots go to the thread pool at once
  assert.throws(() => w.finish(sha(data)), (err: unknown) => err instanceof OutputError && err.code === 'E_BLOB_SYNC_PENDING');
  assert.deepEqual(temps(out), []);
  // the in-flight writes finish into the unlinked file, and every slot comes back
  await new Promise((r) => setTimeout(r, 200));
  for (let i = 0; i < 3; i++) {
    const r = await writeBlob(outDir(), data, true);
    assert.equal(r.usedDirect, true, 'a slot was lost after the abort');
    assert.ok(readFileSync(r.path).equals(data));
  }
});

test('O_DIRECT really is used: the temp file is opened O_DIRECT and filled with positioned writes (strace)', { skip: needTools('strace') }, (t) => {
  if (!supportsDirect(work)) return t.skip('no O_DIRECT here');
  const out = outDir();
  const script = `
    import { BlobWriter } from ${JSON.stringify(new URL('../../src/oci/blob-store.js', import.meta.url).href)};
    const w = BlobWriter.open(${JSON.stringify(out)});
    if (!w.useDirectIO()) process.exit(3);
    const piece = Buffer.alloc(1024 * 1024 + 5, 1);
    for (let i = 0; i < 8; i++) { w.write(piece); await new Promise((r) => setImmediate(r)); }
    await w.settle();
    w.finish();`;
  const trace = straceNode('openat,pwrite64,write', script);
  const direct = trace.split('\n').find((l) => l.includes(TEMP_PREFIX) && l.includes('O_DIRECT'));
  assert.ok(direct, `no O_DIRECT open of the temp file:\n${trace.slice(-2000)}`);
  const fd = /= (\d+)\s*$/.exec(direct)![1];
  // strace -f splits a call another thread interrupts ('<unfinished ...>'): count the call lines
  const slotWrites = trace.split('\n').filter((l) => l.includes(`pwrite64(${fd}, `) && l.includes(`, ${SLOT_BYTES}, `)).length;
  assert.equal(slotWrites, 8, `expected 8 whole-slot writes on fd ${fd}`);
});

/** A blob written with preferDirectIO() (the layer pipeline's way), in pieces of `piece` bytes. */
async function writePreferring(out: string, data: Buffer, piece: number): Promise<{ path: string; direct: boolean }> {
  const w = BlobWriter.open(out, { hash: true, earlySync: true });
  w.preferDirectIO();
  for (let at = 0; at < data.length; at += piece) {
    w.write(data.subarray(at, Math.min(data.length, at + piece)));
    await new Promise((r) => setImmediate(r));
  }
  const direct = w.writingDirect;
  await w.settle();
  const info = w.finish(sha(data));
  return { path: blobPath(out, info.digest), direct };
}

test('auto mode: buffered while writes are cheap; once they are slow, the rest of the blob goes O_DIRECT from a 4 KiB boundary, same bytes', async (t) => {
  if (!supportsDirect(work)) return t.skip('no O_DIRECT here');
  // pieces that never start on a 4 KiB boundary after the first: the switch writes a buffered
  // prefix up to the boundary (it takes two slow 8 MiB windows in a row to switch)
  const cases: Array<[number, number]> = [[40 * SLOT_BYTES + 333, 65_536 + 13], [36 * SLOT_BYTES + 1, SLOT_BYTES], [34 * SLOT_BYTES, 70_001]];
  try {
    // pieces smaller than the distance to the boundary: the switch waits for the piece that crosses it
    {
      process.env.LEGACY2OCI_DIRECT_IO_SLOW_US = '0';
      const data = randomBytes(20 * SLOT_BYTES + 5000);
      const out = outDir();
      const w = BlobWriter.open(out, { hash: true });
      w.preferDirectIO();
      // 100 bytes, then 16 MiB in 1 MiB pieces (two slow timed windows: the switch is due), then
      // pieces of 1,000 bytes: the boundary is 3,996 bytes away, so the fourth of them crosses it
      const head = 16 * SLOT_BYTES + 100;
      w.write(data.subarray(0, 100));
      for (let at = 100; at < head; at += SLOT_BYTES) w.write(data.subarray(at, at + SLOT_BYTES));
      w.write(data.subarray(head, head + 1000));
      w.write(data.subarray(head + 1000, head + 2000));
      assert.equal(w.writingDirect, false, 'switched before the 4 KiB boundary');
      for (let at = head + 2000; at < data.length; at += 1000) w.write(data.subarray(at, Math.min(data.length, at + 1000)));
      assert.equal(w.writingDirect, true, 'never switched');
      await w.settle();
      const info = w.finish(sha(data));
      assert.ok(readFileSync(blobPath(out, info.digest)).equals(data), 'the blob differs from what was written');
    }
    for (const [size, piece] of cases) {
      const data = randomBytes(size);
      // every write counts as slow
      process.env.LEGACY2OCI_DIRECT_IO_SLOW_US = '0';
      const slow = await writePreferring(outDir(), data, piece);
      assert.equal(slow.direct, true, `size ${size}/${piece}: did not switch to O_DIRECT`);
      assert.ok(readFileSync(slow.path).equals(data), `size ${size}/${piece}: the switched blob differs from what was written`);
      // no write counts as slow
      process.env.LEGACY2OCI_DIRECT_IO_SLOW_US = '1e12';
      const cheap = await writePreferring(outDir(), data, piece);
      assert.equal(cheap.direct, false, `size ${size}/${piece}: switched although writes were cheap`);
      assert.ok(readFileSync(cheap.path).equals(data));
    }
    // LEGACY2OCI_DIRECT_IO=1: O_DIRECT from the first byte, =0: never, however slow
    process.env.LEGACY2OCI_DIRECT_IO_SLOW_US = '0';
    const data = randomBytes(5 * SLOT_BYTES + 9);
    process.env.LEGACY2OCI_DIRECT_IO = '1';
    const w = BlobWriter.open(outDir());
    w.preferDirectIO();
    assert.equal(w.writingDirect, true);
    w.abort();
    process.env.LEGACY2OCI_DIRECT_IO = '0';
    const off = await writePreferring(outDir(), data, SLOT_BYTES);
    assert.equal(off.direct, false);
    assert.ok(readFileSync(off.path).equals(data));
  } finally {
    delete process.env.LEGACY2OCI_DIRECT_IO_SLOW_US;
    delete process.env.LEGACY2OCI_DIRECT_IO;
  }
});
