// The header encoder (header.ts, pax.ts, large-numbers.ts, entry-header.ts): table tests, then a
// property test whose archives are read back by GNU tar (extraction as root, --xattrs) and tar-stream.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lstatSync, mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import tarStream from 'tar-stream';
import { getAttributeSync, listAttributesSync } from '@napi-rs/xattr';
import { decodeNumeric, encodeBase256, encodeNumeric, encodeOctal, fitsBase256 } from '../../src/tar/large-numbers.js';
import { BLOCK_SIZE, checkHeaderBlock, encodeUstarHeader, headerName, parseHeader, paddingFor } from '../../src/tar/header.js';
import { encodePaxRecord, encodePaxRecords, parsePaxRecords } from '../../src/tar/pax.js';
import { PAX_HEADER_NAME, encodeEntryHeader, endOfArchive, splitUstarName, type TarEntry } from '../../src/tar/entry-header.js';
import { needTools, run } from '../helpers/env.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const GiB = 1024 ** 3;

function tarOf(items: Array<{ entry: TarEntry; data?: Buffer }>): Buffer {
  const parts: Buffer[] = [];
  for (const { entry, data } of items) {
    parts.push(encodeEntryHeader(entry));
    if (data && data.length > 0) parts.push(data, Buffer.alloc(paddingFor(data.length)));
  }
  parts.push(endOfArchive());
  return Buffer.concat(parts);
}

/** Split an encoded header into its PAX records (if any) and the ustar block. */
function decodeEntryHeader(bytes: Buffer): { pax: Map<string, Buffer> | null; ustar: Buffer } {
  const first = parseHeader(bytes.subarray(0, BLOCK_SIZE))!;
  if (first.typeflag !== 'x') return { pax: null, ustar: bytes.subarray(0, BLOCK_SIZE) };
  const size = Number(first.size);
  const pax = parsePaxRecords(bytes.subarray(BLOCK_SIZE, BLOCK_SIZE + size));
  const at = BLOCK_SIZE + size + paddingFor(size);
  assert.equal(bytes.length, at + BLOCK_SIZE);
  return { pax, ustar: bytes.subarray(at) };
}

const base: TarEntry = { name: b('f'), type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_600_000_000 };

test('large numbers: octal when it fits, base-256 beyond, both directions', () => {
  assert.equal(encodeOctal(0o777, 8)!.toString('latin1'), '0000777\0');
  assert.equal(encodeOctal(8 ** 7, 8), null);
  assert.equal(encodeOctal(-1, 8), null);
  assert.equal(encodeNumeric(8 ** 11 - 1, 12).toString('latin1'), '77777777777\0');
  const big = encodeNumeric(8 ** 11, 12);
  assert.equal(big[0], 0x80);
  assert.equal(decodeNumeric(big), 8n ** 11n);
  for (const v of [0n, 1n, 255n, 256n, 2n ** 33n, 2n ** 63n - 1n, -1n, -(2n ** 33n), -(2n ** 63n)]) {
    const enc = encodeBase256(v, 12);
    assert.equal(decodeNumeric(enc), v, `base-256 ${v}`);
    assert.equal(enc[0] === 0xff, v < 0n);
  }
  assert.equal(fitsBase256(2n ** 63n, 8), false);
  assert.throws(() => encodeBase256(2n ** 63n, 8), RangeError);
  assert.equal(decodeNumeric(b('   644 \0')), 0o644n);
  assert.equal(decodeNumeric(Buffer.alloc(8)), 0n);
  assert.throws(() => decodeNumeric(b('12x\0')), RangeError);
});

test('ustar header bytes equal GNU tar --format=ustar for a dir and a file', { skip: needTools('tar') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'l2o-hdr-'));
  try {
    mkdirSync(join(dir, 'd'), { mode: 0o755 });
    writeFileSync(join(dir, 'd', 'f'), 'abc', { mode: 0o644 });
    run('chmod', ['755', join(dir, 'd')]);
    run('chmod', ['644', join(dir, 'd', 'f')]);
    run('touch', ['-d', '@1600000000', join(dir, 'd', 'f'), join(dir, 'd')]);
    const tar = run('tar', ['--format=ustar', '--numeric-owner', '--owner=0', '--group=0', '-C', dir, '-cf', '-', 'd', 'd/f']);
    assert.deepEqual(encodeEntryHeader({ ...base, name: b('d/'), type: 'dir', mode: 0o755 }), tar.subarray(0, 512));
    assert.deepEqual(encodeEntryHeader({ ...base, name: b('d/f'), size: 3 }), tar.subarray(512, 1024));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('parseHeader: round trip, zero block, bad checksum', () => {
  const block = encodeUstarHeader({ name: b('x/y'), prefix: b('pre'), mode: 0o4755, uid: 3, gid: 4, size: 5, mtime: 6, typeflag: '0', linkname: b('l') });
  const h = parseHeader(block)!;
  assert.deepEqual([h.name.toString(), h.mode, h.uid, h.gid, h.size, h.mtime, h.typeflag, h.linkname.toString(), h.format], ['pre/x/y', 0o4755n, 3n, 4n, 5n, 6n, '0', 'l', 'ustar']);
  assert.equal(parseHeader(Buffer.alloc(512)), null);
  const bad = Buffer.from(block);
  bad[0] ^= 1;
  assert.throws(() => parseHeader(bad), /checksum/);
  assert.throws(() => encodeUstarHeader({ ...base, name: Buffer.alloc(101, 0x61), typeflag: '0' }), RangeError);
});

/** The checksum rule written out plainly (POSIX: the field counts as spaces; GNU and Go also take the signed sum). */
function referenceSums(block: Buffer): { unsigned: number; signed: number; zero: boolean } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const v = i >= 148 && i < 156 ? 0x20 : block[i];
    unsigned += v;
    signed += v > 127 ? v - 256 : v;
  }
  return { unsigned, signed, zero: block.every((x) => x === 0) };
}

test('property: checkHeaderBlock accepts exactly the blocks whose stored checksum is the signed or unsigned sum', () => {
  const blockArb = fc.tuple(fc.uint8Array({ minLength: 512, maxLength: 512 }), fc.constantFrom('unsigned', 'signed', 'random', 'zero', 'sparse'), fc.nat(511));
  fc.assert(
    fc.property(blockArb, ([bytes, how, pos]) => {
      const block = Buffer.from(bytes);
      if (how === 'zero') block.fill(0);
      if (how === 'sparse') { block.fill(0); block[pos] = bytes[pos] | 1; }
      // a valid octal size, so only the checksum decides (junk sizes are tested below)
      block.write('00000001750\0', 124, 'latin1');
      if (how === 'zero') block.fill(0, 124, 136);
      const sums = referenceSums(block);
      if (how === 'unsigned' || how === 'signed') {
        const v = how === 'unsigned' ? sums.unsigned : sums.signed;
        if (v >= 0) block.write(v.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
      }
      const after = referenceSums(block);
      const field = block.subarray(148, 156).toString('latin1').replace(/[\0 ]+$/, '').replace(/^[\0 ]+/, '');
      const stored = /^[0-7]+$/.test(field) ? parseInt(field, 8) : field === '' ? 0 : NaN;
      let got: ReturnType<typeof checkHeaderBlock> | 'throws';
      try {
        got = checkHeaderBlock(block);
      } catch {
        got = 'throws';
      }
      if (after.zero) return got === null;
      if (stored === after.unsigned || stored === after.signed) return got !== null && got !== 'throws' && got.size === 0o1750n && got.typeflag === (block[156] === 0 ? '\0' : String.fromCharCode(block[156]));
      return got === 'throws';
    }),
    { numRuns: 20_000 },
  );
});

test('checkHeaderBlock and headerName agree with parseHeader on encoded headers; a junk size throws', () => {
  const block = encodeUstarHeader({ name: b('x/y'), prefix: b('pre'), mode: 0o644, uid: 1, gid: 2, size: 8 ** 11 - 1, mtime: 6, typeflag: '5' });
  assert.deepEqual(checkHeaderBlock(block), { typeflag: '5', size: 8n ** 11n - 1n });
  assert.equal(headerName(block).toString(), 'pre/x/y');
  const junk = Buffer.from(block);
  junk.write('0000000x750\0', 124, 'latin1');
  const sum = referenceSums(junk).unsigned;
  junk.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  assert.throws(() => checkHeaderBlock(junk), /invalid octal digit/);
  // long octal text (beyond a double's exact range) still decodes exactly
  assert.equal(decodeNumeric(b('7'.repeat(17))), BigInt('0o' + '7'.repeat(17)));
  assert.equal(decodeNumeric(b('7'.repeat(21) + '\0')), BigInt('0o' + '7'.repeat(21)));
});

test('PAX records: self-counting lengths at digit boundaries, sorted keys, raw binary values', () => {
  for (const valueLen of [0, 85, 86, 87, 88, 89, 90, 990, 991, 992, 993, 994, 995, 996]) {
    const rec = encodePaxRecord('path', Buffer.alloc(valueLen, 0x61));
    const len = Number(rec.toString('latin1').split(' ')[0]);
    assert.equal(len, rec.length, `value length ${valueLen}`);
  }
  const bin = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x80, 0x0a, 0xff, 0x3d]);
  const records = encodePaxRecords([['uid', b('300000')], ['SCHILY.xattr.security.capability', bin], ['path', b('caf\xe9')]]);
  assert.match(records.toString('latin1'), /^\d+ SCHILY\.xattr\.security\.capability=[^]*\d+ path=caf\xe9\n\d+ uid=300000\n$/);
  const back = parsePaxRecords(records);
  assert.deepEqual(back.get('SCHILY.xattr.security.capability'), bin);
  assert.deepEqual(back.get('path'), b('caf\xe9'));
  assert.throws(() => encodePaxRecords([['a', b('1')], ['a', b('2')]]), /duplicate/);
  assert.throws(() => parsePaxRecords(b('99 path=x\n')), RangeError);
});

test('entry header: which fields go to PAX', () => {
  // ASCII name that splits into prefix + name: no PAX
  const dir150 = 'd'.repeat(150);
  const split = decodeEntryHeader(encodeEntryHeader({ ...base, name: b(`${dir150}/file`) }));
  assert.equal(split.pax, null);
  assert.equal(parseHeader(split.ustar)!.name.toString(), `${dir150}/file`);
  assert.deepEqual(splitUstarName(b('a'.repeat(101))), null);

  const long = b(`${'a/'.repeat(150)}z`);
  const p1 = decodeEntryHeader(encodeEntryHeader({ ...base, name: long }));
  assert.deepEqual(p1.pax!.get('path'), long);

  const nonUtf8 = b('caf\xe9-\xff');
  assert.deepEqual(decodeEntryHeader(encodeEntryHeader({ ...base, name: nonUtf8 })).pax!.get('path'), nonUtf8);

  const target = b('t'.repeat(101));
  assert.deepEqual(decodeEntryHeader(encodeEntryHeader({ ...base, type: 'symlink', linkname: target })).pax!.get('linkpath'), target);

  const huge = decodeEntryHeader(encodeEntryHeader({ ...base, size: 9 * GiB }));
  assert.equal(huge.pax!.get('size')!.toString(), String(9 * GiB));
  assert.equal(parseHeader(huge.ustar)!.size, BigInt(9 * GiB)); // base-256 in the field as well

  const ids = decodeEntryHeader(encodeEntryHeader({ ...base, uid: 2 ** 21, gid: 4_000_000_000 }));
  assert.equal(ids.pax!.get('uid')!.toString(), String(2 ** 21));
  assert.equal(ids.pax!.get('gid')!.toString(), '4000000000');
  assert.equal(parseHeader(ids.ustar)!.gid, 4_000_000_000n);
  assert.equal(decodeEntryHeader(encodeEntryHeader({ ...base, uid: 2 ** 21 - 1 })).pax, null);

  const old = decodeEntryHeader(encodeEntryHeader({ ...base, mtime: -86_400 }));
  assert.equal(old.pax!.get('mtime')!.toString(), '-86400');
  assert.equal(parseHeader(old.ustar)!.mtime, -86_400n);

  const xa = encodeEntryHeader({ ...base, xattrs: [['user.b', b('2')], ['security.capability', Buffer.from([1, 0, 0, 2, 0x80])]] });
  assert.deepEqual(xa.subarray(0, PAX_HEADER_NAME.length), PAX_HEADER_NAME);
  const recs = decodeEntryHeader(xa).pax!;
  assert.deepEqual([...recs.keys()], ['SCHILY.xattr.security.capability', 'SCHILY.xattr.user.b']);
  // nothing time- or pid-dependent
  assert.deepEqual(xa, encodeEntryHeader({ ...base, xattrs: [['security.capability', Buffer.from([1, 0, 0, 2, 0x80])], ['user.b', b('2')]] }));
  assert.throws(() => encodeEntryHeader({ ...base, type: 'dir', size: 1 }), RangeError);
});

test('a > 8 GiB file header is listed by GNU tar with its size and ids', { skip: needTools('tar') }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'l2o-hdr-'));
  try {
    const path = join(dir, 'big.tar');
    const header = encodeEntryHeader({ ...base, name: b('big'), size: 9 * GiB, uid: 3_000_000, gid: 3_000_001 });
    writeFileSync(path, header);
    // the 9 GiB of data and the end blocks as a sparse hole: GNU tar seeks over it
    truncateSync(path, header.length + 9 * GiB + 1024);
    const listing = run('tar', ['--numeric-owner', '-tvf', path]).toString('latin1');
    assert.match(listing, new RegExp(`3000000/3000001 +${9 * GiB} .* big\n$`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ───────────── property test: GNU tar and tar-stream read back what we encode ─────────────

type Kind = 'file' | 'dir' | 'symlink' | 'hardlink' | 'char' | 'block' | 'fifo';
interface GenEntry {
  kind: Kind;
  deep: boolean;
  tail: Uint8Array;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  content: Uint8Array;
  target: Uint8Array;
  major: number;
  minor: number;
  xattrs: Array<[string, Uint8Array]>;
}

const nameByte = fc.integer({ min: 1, max: 255 }).filter((x) => x !== 0x2f);
const genEntry: fc.Arbitrary<GenEntry> = fc.record({
  kind: fc.constantFrom<Kind>('file', 'file', 'dir', 'symlink', 'hardlink', 'char', 'block', 'fifo'),
  deep: fc.boolean(),
  tail: fc.oneof(fc.uint8Array({ minLength: 0, maxLength: 40 }), fc.array(nameByte, { maxLength: 200 }).map((a) => Uint8Array.from(a)), fc.string({ unit: 'grapheme-ascii', maxLength: 200 }).map((s) => new Uint8Array(Buffer.from(s)))).map((a) => Uint8Array.from(a.filter((x) => x !== 0 && x !== 0x2f))),
  mode: fc.integer({ min: 0, max: 0o7777 }),
  uid: fc.oneof(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
  gid: fc.oneof(fc.integer({ min: 0, max: 70000 }), fc.integer({ min: 0, max: 2 ** 31 - 1 })),
  mtime: fc.oneof(fc.integer({ min: 0, max: 2 ** 33 - 1 }), fc.integer({ min: -(2 ** 31), max: 12_884_901_888 }) /* ext4 keeps -2^31 .. year 2446 */),
  content: fc.uint8Array({ maxLength: 3000 }),
  target: fc.uint8Array({ minLength: 1, maxLength: 300 }).map((a) => Uint8Array.from(a.map((x) => (x === 0 ? 0x41 : x)))),
  major: fc.integer({ min: 0, max: 4095 }),
  minor: fc.integer({ min: 0, max: 2 ** 20 - 1 }),
  xattrs: fc.uniqueArray(fc.tuple(fc.stringMatching(/^[a-z][a-z0-9_.]{0,20}$/).map((s) => `user.${s}`), fc.uint8Array({ maxLength: 64 })), { maxLength: 3, selector: (t) => t[0] }),
});

interface Planned {
  entry: TarEntry;
  data?: Buffer;
  /** path relative to the extraction dir */
  path: Buffer;
  linkTo?: Buffer;
  xattrs: Array<[string, Buffer]>;
}

function plan(gen: GenEntry[], longDir: Uint8Array): Planned[] {
  const out: Planned[] = [];
  const dirMeta = { mode: 0o755, uid: 0, gid: 0, size: 0, mtime: 1_000_000_000 };
  const top = b('top');
  const deepDir = Buffer.concat([top, b('/L'), Buffer.from(longDir)]);
  out.push({ entry: { ...dirMeta, name: b('top/'), type: 'dir' }, path: top, xattrs: [] });
  out.push({ entry: { ...dirMeta, name: Buffer.concat([deepDir, b('/')]), type: 'dir' }, path: deepDir, xattrs: [] });
  const files: Buffer[] = [];
  gen.forEach((g, i) => {
    const path = Buffer.concat([g.deep ? deepDir : top, b(`/e${i}-`), Buffer.from(g.tail)]);
    const common = { mode: g.mode, uid: g.uid, gid: g.gid, size: 0, mtime: g.mtime };
    let kind = g.kind;
    if (kind === 'hardlink' && files.length === 0) kind = 'file';
    const xattrs = kind === 'file' || kind === 'dir' ? g.xattrs.map(([k, v]) => [k, Buffer.from(v)] as [string, Buffer]) : [];
    switch (kind) {
      case 'file': {
        const data = Buffer.from(g.content);
        out.push({ entry: { ...common, name: path, type: 'file', size: data.length, xattrs }, data, path, xattrs });
        files.push(path);
        break;
      }
      case 'dir':
        out.push({ entry: { ...common, name: Buffer.concat([path, b('/')]), type: 'dir', xattrs }, path, xattrs });
        break;
      case 'symlink':
        out.push({ entry: { ...common, name: path, type: 'symlink', linkname: Buffer.from(g.target) }, path, xattrs });
        break;
      case 'hardlink': {
        const to = files[g.major % files.length];
        out.push({ entry: { ...common, name: path, type: 'hardlink', linkname: to }, path, linkTo: to, xattrs });
        break;
      }
      case 'char':
      case 'block':
        out.push({ entry: { ...common, name: path, type: kind, devmajor: g.major, devminor: g.minor }, path, xattrs });
        break;
      case 'fifo':
        out.push({ entry: { ...common, name: path, type: 'fifo' }, path, xattrs });
        break;
    }
  });
  return out;
}

function isUtf8(buf: Buffer): boolean {
  return Buffer.from(buf.toString('utf8'), 'utf8').equals(buf);
}

async function readWithTarStream(tar: Buffer): Promise<Array<{ header: tarStream.Header; data: Buffer }>> {
  const extract = tarStream.extract();
  const entries: Array<{ header: tarStream.Header; data: Buffer }> = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (c: unknown) => parts.push(c as Buffer));
      stream.on('end', () => {
        entries.push({ header, data: Buffer.concat(parts) });
        next();
      });
      stream.resume();
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([tar]).pipe(extract);
  await done;
  return entries;
}

test('property: archives from the encoder extract exactly with GNU tar and read back with tar-stream', { skip: needTools('tar') || (process.getuid?.() !== 0 ? 'needs root (devices, chown)' : false) }, async () => {
  const work = mkdtempSync(join(tmpdir(), 'l2o-prop-'));
  let runNo = 0;
  try {
    await fc.assert(
      fc.asyncProperty(fc.array(genEntry, { minLength: 1, maxLength: 5 }), fc.uint8Array({ minLength: 1, maxLength: 120 }).map((a) => Uint8Array.from(a.filter((x) => x !== 0 && x !== 0x2f))).filter((a) => a.length > 0), async (gen, longDir) => {
        const planned = plan(gen, longDir);
        const tar = tarOf(planned);
        const dir = join(work, String(runNo++));
        mkdirSync(dir);
        const tarPath = join(dir, 't.tar');
        writeFileSync(tarPath, tar);
        const out = join(dir, 'x');
        mkdirSync(out);
        run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '--same-owner', '-xpf', tarPath, '-C', out]);

        // GNU tar: what landed on disk
        const under = (p: Buffer): Buffer => Buffer.concat([Buffer.from(out + '/'), p]);
        for (const p of planned) {
          const st = lstatSync(under(p.path), { bigint: true });
          const e = p.entry;
          const label = `${e.type} ${p.path.toString('latin1')}`;
          if (e.type === 'hardlink') {
            assert.equal(st.ino, lstatSync(under(p.linkTo!), { bigint: true }).ino, label);
            continue;
          }
          const expectType = { file: 'isFile', dir: 'isDirectory', symlink: 'isSymbolicLink', char: 'isCharacterDevice', block: 'isBlockDevice', fifo: 'isFIFO' }[e.type];
          assert.ok((st as unknown as Record<string, () => boolean>)[expectType](), `${label}: type`);
          if (e.type !== 'symlink') assert.equal(Number(st.mode & 0o7777n), e.mode, `${label}: mode`);
          assert.equal(Number(st.uid), e.uid, `${label}: uid`);
          assert.equal(Number(st.gid), e.gid, `${label}: gid`);
          if (e.type !== 'symlink' && e.type !== 'dir') assert.equal(st.mtimeNs / 1_000_000_000n - (st.mtimeNs < 0n && st.mtimeNs % 1_000_000_000n !== 0n ? 1n : 0n), BigInt(e.mtime), `${label}: mtime`);
          if (e.type === 'file') assert.deepEqual(readFileSync(under(p.path)), p.data, `${label}: content`);
          if (e.type === 'symlink') assert.deepEqual(readlinkSync(under(p.path), { encoding: 'buffer' }), e.linkname, `${label}: target`);
          if (e.type === 'char' || e.type === 'block') {
            const major = Number(((st.rdev >> 8n) & 0xfffn) | ((st.rdev >> 32n) & ~0xfffn));
            const minor = Number((st.rdev & 0xffn) | ((st.rdev >> 12n) & ~0xffn));
            assert.deepEqual([major, minor], [e.devmajor, e.devminor], `${label}: device`);
          }
          if (p.xattrs.length > 0 && isUtf8(under(p.path))) {
            const path = under(p.path).toString('utf8');
            const names = listAttributesSync(path).filter((n) => n.startsWith('user.')).sort();
            assert.deepEqual(names, p.xattrs.map(([k]) => k).sort(), `${label}: xattr names`);
            for (const [k, v] of p.xattrs) assert.deepEqual(Buffer.from(getAttributeSync(path, k) ?? Buffer.alloc(0)), v, `${label}: xattr ${k}`);
          }
        }

        // tar-stream: headers and data
        const read = await readWithTarStream(tar);
        assert.equal(read.length, planned.length);
        read.forEach(({ header, data }, i) => {
          const e = planned[i].entry;
          const label = `tar-stream #${i} ${e.type}`;
          if (isUtf8(e.name)) assert.equal(header.name, e.name.toString('utf8'), `${label}: name`);
          assert.equal(header.type, { file: 'file', dir: 'directory', symlink: 'symlink', hardlink: 'link', char: 'character-device', block: 'block-device', fifo: 'fifo' }[e.type], `${label}: type`);
          assert.equal(header.mode, e.mode, `${label}: mode`);
          assert.equal(header.uid, e.uid, `${label}: uid`);
          assert.equal(header.gid, e.gid, `${label}: gid`);
          assert.equal(header.size ?? 0, e.size, `${label}: size`);
          if (e.mtime >= 0) assert.equal(header.mtime!.getTime(), e.mtime * 1000, `${label}: mtime`);
          if (e.linkname && isUtf8(e.linkname)) assert.equal(header.linkname, e.linkname.toString('utf8'), `${label}: linkname`);
          if (e.type === 'char' || e.type === 'block') assert.deepEqual([header.devmajor, header.devminor], [e.devmajor, e.devminor], `${label}: device`);
          assert.deepEqual(data, planned[i].data ?? Buffer.alloc(0), `${label}: data`);
          for (const [k, v] of planned[i].xattrs) {
            if (isUtf8(v)) assert.equal((header.pax as Record<string, string>)[`SCHILY.xattr.${k}`], v.toString('utf8'), `${label}: xattr ${k}`);
          }
        });
        rmSync(dir, { recursive: true, force: true });
      }),
      { numRuns: 60 },
    );
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
});

test('GNU tar restores a binary security.capability xattr written as a raw PAX value', { skip: needTools('tar', 'setcap') || (process.getuid?.() !== 0 ? 'needs root' : false) }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'l2o-cap-'));
  try {
    // a real v2/v3 capability value, made by setcap (third party): cap_setuid has byte 0x80
    const probe = join(dir, 'probe');
    writeFileSync(probe, '');
    run('setcap', ['cap_setuid,cap_net_raw+ep', probe]);
    const cap = Buffer.from(getAttributeSync(probe, 'security.capability')!);
    assert.ok(cap.some((x) => x >= 0x80), 'value has bytes >= 0x80');
    const tarPath = join(dir, 'c.tar');
    const data = Buffer.from('#!/bin/sh\n');
    writeFileSync(tarPath, tarOf([{ entry: { ...base, name: b('bin'), size: data.length, mode: 0o755, xattrs: [['security.capability', cap]] }, data }]));
    const out = join(dir, 'x');
    mkdirSync(out);
    run('tar', ['--xattrs', '--xattrs-include=*', '-xpf', tarPath, '-C', out]);
    assert.deepEqual(Buffer.from(getAttributeSync(join(out, 'bin'), 'security.capability')!), cap);
    const listing = run('tar', ['--xattrs', '--xattrs-include=*', '-tvvf', tarPath]).toString();
    assert.match(listing, new RegExp(`x: +${cap.length} security\\.capability`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
