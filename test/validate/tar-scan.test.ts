// TarScanner and LayerChecker against tars written by GNU tar in every format it has
// (gnu, pax, ustar, sparse, base-256 numbers) and against crafted corruptions.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { TarScanner, type TarEntry, parsePax } from '../../src/oci/validate/tar-scan.js';
import { LayerChecker, normalisePath } from '../../src/oci/validate/layer-rules.js';
import { needTools, run } from '../helpers/env.js';
import { appendEntries, gnuTar, rawEntry, tmp } from './fixture.js';

function scan(tar: Buffer, chunk = tar.length || 1): { entries: TarEntry[]; s: TarScanner } {
  const entries: TarEntry[] = [];
  const s = new TarScanner((e) => entries.push(e));
  for (let i = 0; i < tar.length; i += chunk) s.push(tar.subarray(i, i + chunk));
  s.end();
  return { entries, s };
}

const LONG = `${'deep/'.repeat(25)}file-with-a-long-name.txt`; // 150 bytes

function gnuTarOf(format: string, extra: string[] = []): Buffer {
  const dir = tmp('l2o-scan-');
  try {
    mkdirSync(join(dir, LONG, '..'), { recursive: true });
    writeFileSync(join(dir, LONG), 'long\n');
    writeFileSync(join(dir, 'ünïcode.txt'), 'u\n');
    return run('tar', [`--format=${format}`, ...extra, '-C', dir, '-cf', '-', 'deep', 'ünïcode.txt']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('TarScanner on GNU tar output', { skip: needTools('tar') }, () => {
  for (const format of ['gnu', 'pax', 'ustar', 'oldgnu', 'posix']) {
    test(`--format=${format}: every entry, long names intact, any chunking`, () => {
      const tar = gnuTarOf(format);
      const listed = run('tar', ['-tf', '-'], { input: tar }).toString().trim().split('\n');
      for (const chunk of [tar.length, 512, 511, 7, 1]) {
        const { entries, s } = scan(tar, chunk);
        assert.equal(s.error, undefined);
        assert.equal(s.sawEof, true);
        assert.deepEqual(entries.map((e) => Buffer.from(e.name, 'latin1').toString('utf8')), listed);
      }
    });
  }

  test('base-256 uid and sizes (gnu format, uid 300000000)', () => {
    const tar = gnuTarOf('gnu', ['--owner=300000000', '--group=300000000', '--numeric-owner']);
    const { entries, s } = scan(tar);
    assert.equal(s.error, undefined);
    assert.ok(entries.length > 20);
  });

  test('GNU sparse file is read past and flagged', () => {
    const dir = tmp('l2o-sparse-');
    try {
      run('truncate', ['-s', '10M', join(dir, 'sparse')]);
      run('sh', ['-c', `printf data | dd of=${join(dir, 'sparse')} bs=1 seek=5000000 conv=notrunc status=none`]);
      writeFileSync(join(dir, 'after'), 'after\n');
      for (const format of ['gnu', 'pax']) {
        const tar = run('tar', [`--format=${format}`, '--sparse', '-C', dir, '-cf', '-', 'sparse', 'after']);
        const { entries, s } = scan(tar, 4096);
        assert.equal(s.error, undefined, format);
        assert.deepEqual(entries.map((e) => e.name), ['sparse', 'after'], format);
        assert.equal(entries[0].sparse, true);
        const c = new LayerChecker({ dockerWritten: false, maxPerRule: 20 });
        entries.forEach((e) => c.entry(e));
        assert.deepEqual(c.finish().map((f) => f.rule), ['tar-entry-type']);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('TarScanner corruption', { skip: needTools('tar') }, () => {
  const good = gnuTar({ 'a/': null, 'a/f': 'x'.repeat(1000), 'b': 'y' });

  test('every single-byte change in a header is caught or harmless, never a crash', () => {
    for (let i = 0; i < 512; i++) {
      const t = Buffer.from(good);
      t[512 + i] ^= 0x5a;
      const { s } = scan(t);
      // the checksum field itself can change into another valid checksum only by coincidence
      if (i < 148 || i >= 156) assert.ok(s.error !== undefined, `byte ${i} changed, not caught`);
    }
  });

  test('zero block followed by data', () => {
    const t = Buffer.concat([good.subarray(0, 512), Buffer.alloc(512), good.subarray(512)]);
    assert.match(scan(t).s.error ?? '', /zero block is followed/);
  });

  test('truncation inside data and inside a header', () => {
    assert.match(scan(good.subarray(0, 512 + 1024 + 100)).s.error ?? '', /truncated/);
    assert.match(scan(good.subarray(0, 512 + 300)).s.error ?? '', /truncated/);
  });

  test('end right after data, without padding: accepted with unpaddedEnd (like Go)', () => {
    const t = Buffer.concat([rawEntry({ name: 'f', data: 'hello\n' }).subarray(0, 518)]);
    const { s, entries } = scan(t);
    assert.equal(s.error, undefined);
    assert.equal(s.unpaddedEnd, true);
    assert.equal(entries.length, 1);
  });

  test('no end-of-archive blocks at a header boundary is fine; empty stream is fine', () => {
    assert.equal(scan(good.subarray(0, 512)).s.error, undefined);
    assert.equal(scan(Buffer.alloc(0)).s.error, undefined);
  });

  test('malformed PAX header', () => {
    const t = Buffer.concat([rawEntry({ name: 'pax', type: 'x', data: '99 path=x\n' }), rawEntry({ name: 'f' }), Buffer.alloc(1024)]);
    assert.match(scan(t).s.error ?? '', /PAX/);
  });

  test('PAX path and size override the header', () => {
    const pax = (k: string, v: string): string => {
      let len = k.length + v.length + 3;
      len += String(len).length;
      if (String(len).length !== String(len - String(len).length).length) len++;
      return `${len} ${k}=${v}\n`;
    };
    const rec = pax('path', 'long/name') + pax('size', '3');
    assert.ok(parsePax(Buffer.from(rec)));
    const t = Buffer.concat([rawEntry({ name: 'pax', type: 'x', data: rec }), rawEntry({ name: 'short', data: 'abc' }), Buffer.alloc(1024)]);
    const { entries, s } = scan(t);
    assert.equal(s.error, undefined);
    assert.deepEqual(entries.map((e) => [e.name, e.size]), [['long/name', 3]]);
  });

  test('random garbage never throws', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.integer({ min: 1, max: 700 }), (bytes, chunk) => {
        scan(appendEntries(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length), []), chunk);
        scan(Buffer.from(bytes), chunk);
      }),
      { numRuns: 300 },
    );
  });
});

describe('layer path rules', () => {
  test('normalisePath', () => {
    assert.deepEqual(normalisePath('./etc//passwd'), { key: 'etc/passwd' });
    assert.deepEqual(normalisePath('etc/'), { key: 'etc' });
    assert.deepEqual(normalisePath('./'), { key: '' });
    assert.ok(normalisePath('/etc').problem);
    assert.ok(normalisePath('a/../../b').problem);
    assert.ok(normalisePath('..').problem);
    assert.deepEqual(normalisePath('a/..b'), { key: 'a/..b' });
  });

  test('./ prefixed and plain names are the same path (duplicate)', () => {
    const c = new LayerChecker({ dockerWritten: false, maxPerRule: 20 });
    const e = (name: string, type = '0'): TarEntry => ({ name, linkname: '', type, size: 0, mode: 0o644, offset: 0, sparse: false });
    c.entry(e('./etc/', '5'));
    c.entry(e('etc', '5'));
    assert.deepEqual(c.finish().map((f) => [f.rule, f.severity]), [['tar-duplicate-path', 'error']]);
  });

  test('findings are capped per rule with a summary', () => {
    const c = new LayerChecker({ dockerWritten: false, maxPerRule: 3 });
    for (let i = 0; i < 10; i++) c.entry({ name: `/abs${i}`, linkname: '', type: '0', size: 0, mode: 0, offset: 0, sparse: false });
    const f = c.finish();
    assert.equal(f.length, 4);
    assert.match(f[3].message, /7 more tar-path-escape/);
  });

  test('same-layer whiteout then re-create, opaque markers, whiteout before dir: no findings', () => {
    const c = new LayerChecker({ dockerWritten: false, maxPerRule: 20 });
    const e = (name: string, type = '0'): TarEntry => ({ name, linkname: '', type, size: 0, mode: 0o644, offset: 0, sparse: false });
    ['a/', 'a/.wh..wh..opq', 'a/.wh.f', 'a/f', '.wh.gone', 'b/'].forEach((n) => c.entry(e(n, n.endsWith('/') ? '5' : '0')));
    assert.deepEqual(c.finish(), []);
  });
});
