// Regeneration of a layer tar from an aufs diff dir: every entry type, the aufs rules, xattr
// policy, determinism, files that change during the walk, huge files, hostile trees.
// Diff dirs are built with node:fs (and mkfifo/mknod/setcap/python for sockets); the output is read
// back by GNU tar (extraction, listing) and tar-stream.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appendFileSync, chmodSync, closeSync, linkSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, openSync, readFileSync,
  readdirSync, readlinkSync, rmSync, symlinkSync, truncateSync, writeFileSync, writeSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import tarStream from 'tar-stream';
import { getAttributeSync, listAttributesSync, setAttributeSync } from '@napi-rs/xattr';
import { regenerateAufsLayer, splitDev } from '../../src/tar/regen/regenerate.js';
import { classifyAufsName } from '../../src/tar/regen/aufs-rules.js';
import { XATTR_POLICY, xattrRule } from '../../src/tar/regen/xattr-policy.js';
import { MemorySink, type TarSink } from '../../src/tar/sink.js';
import { needTools, run } from '../helpers/env.js';

const IS_ROOT = process.getuid?.() === 0;
const ROOT_ONLY = IS_ROOT ? false : 'needs root (devices, chown, trusted.* xattrs)';
let work = '';
let counter = 0;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'l2o-regen-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const raw = (s: string): Buffer => Buffer.from(s, 'latin1');
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const pathOf = (dir: string, rel: Buffer): Buffer => Buffer.concat([Buffer.from(dir + '/'), rel]);

function newDir(): string {
  const d = join(work, `d${counter++}`);
  mkdirSync(d);
  return d;
}

async function regenerate(diffDir: string, sink: TarSink = new MemorySink(), readBuffer?: Buffer): Promise<{ tar: Buffer; warnings: string[] }> {
  const warnings: string[] = [];
  await regenerateAufsLayer({ diffDir, warn: (m) => warnings.push(m), readBuffer }, sink);
  return { tar: sink instanceof MemorySink ? sink.bytes() : Buffer.alloc(0), warnings };
}

interface ReadEntry {
  header: tarStream.Header;
  data: Buffer;
}
async function readTar(tar: Buffer): Promise<ReadEntry[]> {
  const extract = tarStream.extract({ filenameEncoding: 'latin1' } as never);
  const out: ReadEntry[] = [];
  const done = new Promise<void>((resolve, reject) => {
    extract.on('entry', (header, stream, next) => {
      const parts: Buffer[] = [];
      stream.on('data', (c: unknown) => parts.push(c as Buffer));
      stream.on('end', () => {
        out.push({ header, data: Buffer.concat(parts) });
        next();
      });
    });
    extract.on('finish', resolve);
    extract.on('error', reject);
  });
  Readable.from([tar]).pipe(extract);
  await done;
  return out;
}

function extractWithGnuTar(tar: Buffer): string {
  const dir = newDir();
  const tarPath = join(dir, 'layer.tar');
  writeFileSync(tarPath, tar);
  const out = join(dir, 'x');
  mkdirSync(out);
  run('tar', ['--xattrs', '--xattrs-include=*', '--numeric-owner', '--same-owner', '-xpf', tarPath, '-C', out]);
  return out;
}

function socketAt(path: string): void {
  run('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
}

describe('entry types', { skip: needTools('tar', 'python3') || ROOT_ONLY }, () => {
  test('dirs, files, symlinks, hard links, devices, FIFOs; sockets skipped with a warning', async () => {
    const d = newDir();
    mkdirSync(join(d, 'a'));
    mkdirSync(join(d, 'a', 'b'));
    writeFileSync(join(d, 'a', 'b', 'f'), 'deep');
    writeFileSync(join(d, 'a-b'), 'sibling'); // walk order: a/, a/b/, a/b/f, a-b (not a global sort)
    writeFileSync(join(d, 'file'), Buffer.alloc(70_000, 7));
    writeFileSync(join(d, 'empty'), '');
    linkSync(join(d, 'file'), join(d, 'hard1'));
    linkSync(join(d, 'file'), join(d, 'zz-hard2'));
    symlinkSync('file', join(d, 'sym'));
    symlinkSync('/nonexistent/target', join(d, 'dangling'));
    run('mknod', [join(d, 'null'), 'c', '1', '3']);
    run('mknod', [join(d, 'loop0'), 'b', '7', '0']);
    run('mknod', [join(d, 'bigdev'), 'c', '300', '70000']);
    run('mkfifo', [join(d, 'fifo')]);
    socketAt(join(d, 'sock'));
    writeFileSync(join(d, 'suid'), 'x', { mode: 0o755 });
    chmodSync(join(d, 'suid'), 0o4755);
    mkdirSync(join(d, 'tmp'));
    chmodSync(join(d, 'tmp'), 0o1777);
    mkdirSync(join(d, 'sgid'));
    chmodSync(join(d, 'sgid'), 0o2750);
    writeFileSync(join(d, 'owned'), 'o');
    run('chown', ['3000000:4000000000', join(d, 'owned')]);
    lutimesSync(join(d, 'sym'), 1_234_567_890, 1_234_567_890);
    writeFileSync(join(d, 'old'), 'old');
    run('touch', ['-h', '-d', '@-86400', join(d, 'old')]);

    const { tar, warnings } = await regenerate(d);
    assert.deepEqual(warnings, ['skipped socket sock']);
    assert.deepEqual(tar.subarray(tar.length - 1024), Buffer.alloc(1024), 'ends with two zero blocks');
    const entries = await readTar(tar);
    const names = entries.map((e) => e.header.name);
    assert.deepEqual(names, ['a/', 'a/b/', 'a/b/f', 'a-b', 'bigdev', 'dangling', 'empty', 'fifo', 'file', 'hard1', 'loop0', 'null', 'old', 'owned', 'sgid/', 'suid', 'sym', 'tmp/', 'zz-hard2']);
    const by = new Map(entries.map((e) => [e.header.name, e]));
    assert.equal(by.get('file')!.header.type, 'file');
    assert.equal(by.get('file')!.data.length, 70_000);
    assert.deepEqual([by.get('hard1')!.header.type, by.get('hard1')!.header.linkname, by.get('hard1')!.header.size], ['link', 'file', 0]);
    assert.deepEqual([by.get('zz-hard2')!.header.type, by.get('zz-hard2')!.header.linkname], ['link', 'file']);
    assert.deepEqual([by.get('sym')!.header.type, by.get('sym')!.header.linkname], ['symlink', 'file']);
    assert.deepEqual([by.get('null')!.header.type, by.get('null')!.header.devmajor, by.get('null')!.header.devminor], ['character-device', 1, 3]);
    assert.deepEqual([by.get('loop0')!.header.type, by.get('loop0')!.header.devmajor, by.get('loop0')!.header.devminor], ['block-device', 7, 0]);
    assert.deepEqual([by.get('bigdev')!.header.devmajor, by.get('bigdev')!.header.devminor], [300, 70000]);
    assert.equal(by.get('fifo')!.header.type, 'fifo');
    assert.equal(by.get('suid')!.header.mode, 0o4755);
    assert.equal(by.get('tmp/')!.header.mode, 0o1777);
    assert.equal(by.get('sgid/')!.header.mode, 0o2750);
    assert.equal(by.get('owned')!.header.uid, 3_000_000);
    assert.equal(by.get('owned')!.header.gid, 4_000_000_000);
    for (const e of entries) assert.equal(e.header.uname ?? '', '');

    // GNU tar extracts the same tree (owners, modes, times, devices, link structure)
    const out = extractWithGnuTar(tar);
    for (const name of names) {
      const rel = name.replace(/\/$/, '');
      const a = lstatSync(join(d, rel), { bigint: true });
      const b = lstatSync(join(out, rel), { bigint: true });
      assert.equal(b.mode, a.mode, `${rel}: mode`);
      assert.deepEqual([b.uid, b.gid], [a.uid, a.gid], `${rel}: owner`);
      if (!a.isDirectory()) assert.equal(b.mtimeNs / 1_000_000_000n, a.mtimeNs / 1_000_000_000n, `${rel}: mtime`);
      if (a.isCharacterDevice() || a.isBlockDevice()) assert.equal(b.rdev, a.rdev, `${rel}: rdev`);
      if (a.isSymbolicLink()) assert.equal(readlinkSync(join(out, rel)), readlinkSync(join(d, rel)));
      if (a.isFile()) assert.deepEqual(readFileSync(join(out, rel)), readFileSync(join(d, rel)));
    }
    assert.equal(lstatSync(join(out, 'hard1')).ino, lstatSync(join(out, 'file')).ino);
    assert.equal(lstatSync(join(out, 'old')).mtimeMs, -86_400_000);
  });

  test('long names, non-UTF-8 names and long symlink targets', async () => {
    const d = newDir();
    const longDir = 'd'.repeat(200);
    mkdirSync(join(d, longDir));
    writeFileSync(join(d, longDir, 'e'.repeat(200)), 'long');
    writeFileSync(pathOf(d, raw('caf\xe9-\xff')), 'latin1');
    writeFileSync(join(d, 'caf\u00e9-utf8'), 'utf8');
    symlinkSync('t/'.repeat(200), join(d, 'longlink'));
    symlinkSync(raw('\xff\xfe'), join(d, 'rawlink'));
    const { tar } = await regenerate(d);
    const out = extractWithGnuTar(tar);
    assert.equal(readFileSync(join(out, longDir, 'e'.repeat(200)), 'utf8'), 'long');
    assert.equal(readFileSync(pathOf(out, raw('caf\xe9-\xff')), 'utf8'), 'latin1');
    assert.equal(readFileSync(join(out, 'caf\u00e9-utf8'), 'utf8'), 'utf8');
    assert.equal(readlinkSync(join(out, 'longlink')), 't/'.repeat(200));
    assert.deepEqual(readlinkSync(join(out, 'rawlink'), { encoding: 'buffer' }), raw('\xff\xfe'));
    // exactly the names of the source, bytewise
    assert.deepEqual(readdirSync(out, { encoding: 'buffer' }).sort(Buffer.compare), readdirSync(d, { encoding: 'buffer' }).sort(Buffer.compare));
  });
});

describe('aufs rules', { skip: needTools('tar') }, () => {
  test('name classes', () => {
    assert.equal(classifyAufsName(raw('.wh..wh.aufs'), true), 'aufs-internal');
    assert.equal(classifyAufsName(raw('.wh..wh.plnk'), true), 'aufs-internal');
    assert.equal(classifyAufsName(raw('.wh..wh..opq'), true), 'opaque');
    assert.equal(classifyAufsName(raw('.wh..wh..opq'), false), 'opaque');
    assert.equal(classifyAufsName(raw('.wh..wh.x.1a2b'), false), 'aufs-leftover');
    assert.equal(classifyAufsName(raw('.wh.gone'), false), 'whiteout');
    assert.equal(classifyAufsName(raw('.whatever'), true), 'plain');
  });

  test('whiteouts linked to .wh..wh.aufs become empty files; aufs dirs excluded; plnk links carry content', async () => {
    const d = newDir();
    writeFileSync(join(d, '.wh..wh.aufs'), '', { mode: 0o444 });
    mkdirSync(join(d, '.wh..wh.orph'), { mode: 0o700 });
    mkdirSync(join(d, '.wh..wh.plnk'), { mode: 0o700 });
    mkdirSync(join(d, 'etc'));
    // a hard-linked file copied up through aufs: its pseudo-link sits in .wh..wh.plnk
    writeFileSync(join(d, 'etc', 'shared'), 'content');
    linkSync(join(d, 'etc', 'shared'), join(d, '.wh..wh.plnk', '123.456'));
    // a file whose only other name is in plnk, named so that plnk sorts first
    writeFileSync(join(d, 'zlast'), 'z');
    linkSync(join(d, 'zlast'), join(d, '.wh..wh.plnk', '1.2'));
    // whiteouts and opaque markers, hard-linked to the whiteout base like aufs does
    linkSync(join(d, '.wh..wh.aufs'), join(d, 'etc', '.wh.passwd'));
    linkSync(join(d, '.wh..wh.aufs'), join(d, '.wh.bin'));
    mkdirSync(join(d, 'var'));
    linkSync(join(d, '.wh..wh.aufs'), join(d, 'var', '.wh..wh..opq'));
    linkSync(join(d, '.wh..wh.aufs'), join(d, '.wh..wh..opq'));
    // aufs rmdir leftover below the root
    mkdirSync(join(d, 'var', '.wh..wh.cache.1a2b'));
    writeFileSync(join(d, 'var', '.wh..wh.cache.1a2b', 'junk'), 'junk');

    const { tar, warnings } = await regenerate(d);
    assert.deepEqual(warnings, ['skipped aufs leftover var/.wh..wh.cache.1a2b']);
    const entries = await readTar(tar);
    assert.deepEqual(entries.map((e) => `${e.header.name} ${e.header.type} ${e.header.size}`), [
      '.wh..wh..opq file 0',
      '.wh.bin file 0',
      'etc/ directory 0',
      'etc/.wh.passwd file 0',
      'etc/shared file 7',
      'var/ directory 0',
      'var/.wh..wh..opq file 0',
      'zlast file 1',
    ]);
  });

  test('a whiteout that is not a regular file is written as one, with a warning', async () => {
    const d = newDir();
    mkdirSync(join(d, '.wh.odd'));
    const { tar, warnings } = await regenerate(d);
    assert.deepEqual(warnings, ['whiteout .wh.odd is not a regular file on disk; written as an empty file']);
    const [e] = await readTar(tar);
    assert.deepEqual([e.header.name, e.header.type], ['.wh.odd', 'file']);
  });
});

describe('xattrs', { skip: needTools('tar', 'setcap') || ROOT_ONLY }, () => {
  test('policy table: keep capability, ACLs and user.*; drop host labels and overlay bookkeeping', () => {
    assert.equal(xattrRule('security.capability').action, 'keep');
    assert.equal(xattrRule('user.mime_type').action, 'keep');
    assert.equal(xattrRule('system.posix_acl_access').action, 'keep');
    assert.equal(xattrRule('security.selinux').action, 'drop');
    assert.equal(xattrRule('trusted.overlay.opaque').action, 'drop');
    assert.equal(xattrRule('user.overlay.origin').action, 'drop');
    assert.equal(xattrRule('trusted.md5sum').action, 'drop-warn');
    assert.equal(xattrRule('security.SMACK64').action, 'drop-warn');
    assert.equal(xattrRule('weird.ns').action, 'drop-warn');
    for (const r of XATTR_POLICY) assert.ok(r.why.length > 10);
  });

  test('binary values survive to GNU tar; dropped names are reported once per name', async () => {
    const d = newDir();
    const f = join(d, 'ping');
    writeFileSync(f, '#!/bin/sh\n', { mode: 0o755 });
    run('setcap', ['cap_setuid,cap_net_raw+ep', f]);
    const cap = Buffer.from(getAttributeSync(f, 'security.capability')!);
    const bin = Buffer.from([0, 1, 2, 0x80, 0xff, 0x0a, 0x3d]);
    setAttributeSync(f, 'user.bin', bin);
    setAttributeSync(f, 'security.selinux', 'system_u:object_r:bin_t:s0\0');
    setAttributeSync(f, 'trusted.overlay.opaque', 'y');
    setAttributeSync(f, 'trusted.md5sum', 'abc');
    mkdirSync(join(d, 'dir'));
    setAttributeSync(join(d, 'dir'), 'user.d', 'dir value');
    setAttributeSync(join(d, 'dir'), 'trusted.md5sum', 'abc');
    const { tar, warnings } = await regenerate(d);
    assert.deepEqual(warnings, ['dropped xattr trusted.md5sum on 2 entries (trusted.* needs CAP_SYS_ADMIN to set and is host-private)']);
    const entries = await readTar(tar);
    const pax = entries.find((e) => e.header.name === 'ping')!.header.pax as Record<string, string>;
    assert.deepEqual(Object.keys(pax).sort(), ['SCHILY.xattr.security.capability', 'SCHILY.xattr.user.bin']);
    const out = extractWithGnuTar(tar);
    assert.deepEqual(Buffer.from(getAttributeSync(join(out, 'ping'), 'security.capability')!), cap);
    assert.deepEqual(Buffer.from(getAttributeSync(join(out, 'ping'), 'user.bin')!), bin);
    assert.deepEqual(listAttributesSync(join(out, 'ping')).filter((n) => !n.startsWith('security.selinux')).sort(), ['security.capability', 'user.bin']);
    assert.equal(Buffer.from(getAttributeSync(join(out, 'dir'), 'user.d')!).toString(), 'dir value');
    const listing = run('tar', ['--xattrs', '--xattrs-include=*', '-tvvf', join(out, '..', 'layer.tar')]).toString();
    assert.match(listing, new RegExp(`x: +${cap.length} security\\.capability`));
  });
});

describe('determinism and streaming', { skip: needTools('tar') }, () => {
  test('two runs, different read buffer sizes: identical bytes', async () => {
    const d = newDir();
    for (let i = 0; i < 30; i++) {
      mkdirSync(join(d, `dir${i % 5}`), { recursive: true });
      writeFileSync(join(d, `dir${i % 5}`, `f${i}`), Buffer.alloc(i * 1000 + 1, i));
    }
    writeFileSync(join(d, 'x'), 'x');
    setAttributeSync(join(d, 'x'), 'user.b', 'b');
    setAttributeSync(join(d, 'x'), 'user.a', 'a');
    symlinkSync('l'.repeat(300), join(d, 'longlink'));
    const one = await regenerate(d);
    const two = await regenerate(d, new MemorySink(), Buffer.allocUnsafe(4096));
    assert.equal(sha(one.tar), sha(two.tar));
    // PAX headers carry a fixed name, not GNU's PaxHeaders.<pid> or Go 1.5's pid-named one
    assert.ok(one.tar.includes(raw('././@PaxHeader\0')));
    assert.equal(one.tar.indexOf(raw('PaxHeaders')), -1);
  });

  test('splitDev follows glibc major/minor encoding', () => {
    assert.deepEqual(splitDev(0x0103n), { major: 1, minor: 3 });
    assert.deepEqual(splitDev((0x12cn & 0xfffn) << 8n | (70000n & 0xffn) | ((70000n & ~0xffn) << 12n)), { major: 300, minor: 70000 });
  });

  test('a file that shrinks or grows during the walk gives a valid tar of the header size, with a warning', async () => {
    const d = newDir();
    writeFileSync(join(d, 'grows'), Buffer.alloc(3000, 1));
    writeFileSync(join(d, 'shrinks'), Buffer.alloc(3000, 2));
    // a sink that changes the files right after their headers are written
    const inner = new MemorySink();
    const sink: TarSink = {
      write(chunk) {
        if (chunk.length >= 512 && chunk.subarray(0, 6).toString() === 'grows\0') appendFileSync(join(d, 'grows'), Buffer.alloc(5000, 3));
        if (chunk.length >= 512 && chunk.subarray(0, 8).toString() === 'shrinks\0') truncateSync(join(d, 'shrinks'), 100);
        return inner.write(chunk);
      },
    };
    const { warnings } = await regenerate(d, sink);
    assert.deepEqual(warnings, ['grows grew during the walk; cut to its size at the start', 'shrinks shrank during the walk; 2900 missing bytes written as zeros']);
    const entries = await readTar(inner.bytes());
    assert.deepEqual(entries.map((e) => [e.header.name, e.header.size, e.data.length]), [['grows', 3000, 3000], ['shrinks', 3000, 3000]]);
    assert.deepEqual(entries[1].data, Buffer.concat([Buffer.alloc(100, 2), Buffer.alloc(2900)]));
    run('tar', ['-tf', '-'], { input: inner.bytes() });
  });

  test('a file over 8 GiB streams in bounded memory with a base-256/PAX size', { timeout: 120_000 }, async () => {
    const d = newDir();
    const big = 8 * 1024 ** 3 + 3;
    const fd = openSync(join(d, 'huge'), 'w');
    writeSync(fd, 'head');
    closeSync(fd);
    truncateSync(join(d, 'huge'), big); // sparse: no disk used
    let total = 0;
    const head: Buffer[] = [];
    let headLen = 0;
    let peakRss = 0;
    const sink: TarSink = {
      write(chunk) {
        total += chunk.length;
        if (headLen < 4096) {
          head.push(Buffer.from(chunk.subarray(0, 4096 - headLen)));
          headLen += Math.min(chunk.length, 4096 - headLen);
        }
        if ((total & 0xfffffff) < chunk.length) peakRss = Math.max(peakRss, process.memoryUsage().rss);
        return undefined;
      },
    };
    const rssBefore = process.memoryUsage().rss;
    await regenerate(d, sink);
    const headerBytes = Buffer.concat(head);
    const paxEnd = 512 + 512; // PAX header + records block
    assert.equal(total, paxEnd + 512 + big + (512 - (big % 512)) + 1024);
    assert.ok(peakRss - rssBefore < 256 * 1024 * 1024, `memory grew by ${peakRss - rssBefore}`);
    // GNU tar reads the header (data replaced by a sparse hole of the right length)
    const tarPath = join(newDir(), 'huge.tar');
    writeFileSync(tarPath, headerBytes.subarray(0, paxEnd + 512));
    truncateSync(tarPath, total);
    const listing = run('tar', ['-tvf', tarPath]).toString();
    assert.match(listing, new RegExp(` ${big} .* huge\\n$`));
  });
});

describe('hostile trees finish', { skip: needTools('tar') }, () => {
  test('FIFO, symlink loops, symlinks out of the dir: nothing followed, nothing opened, no hang', { timeout: 20_000 }, async () => {
    const d = newDir();
    run('mkfifo', [join(d, 'fifo')]);
    symlinkSync('loop', join(d, 'loop'));
    symlinkSync('b', join(d, 'a'));
    symlinkSync('a', join(d, 'b'));
    symlinkSync('/etc', join(d, 'etc-outside'));
    symlinkSync('../../../../../../', join(d, 'up'));
    const { tar, warnings } = await regenerate(d);
    assert.deepEqual(warnings, []);
    const entries = await readTar(tar);
    assert.deepEqual(entries.map((e) => `${e.header.name} ${e.header.type}`), ['a symlink', 'b symlink', 'etc-outside symlink', 'fifo fifo', 'loop symlink', 'up symlink']);
  });
});
