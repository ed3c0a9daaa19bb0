// tar-split replay: byte-exact against layers written by GNU tar (gnu, pax, ustar formats) and
// disassembled by Debian's tar-split, and one test per reason the metadata is refused.
// Every layer here is made by node:fs + GNU tar + `tar-split disasm`, never by our encoder.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  appendFileSync, linkSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync,
  truncateSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { setAttributeSync } from '@napi-rs/xattr';
import { replayTarSplit } from '../../src/tar/tarsplit/replay.js';
import { TarSplitUnusableError } from '../../src/tar/tarsplit/unusable.js';
import { cleanNameKey, nameComponents } from '../../src/tar/tarsplit/confined-file.js';
import type { TarSink } from '../../src/tar/sink.js';
import { hasTool, needTools, run } from '../helpers/env.js';

const TOOLS = needTools('tar', 'tar-split');
const IS_ROOT = process.getuid?.() === 0;
let work = '';
let counter = 0;

before(() => {
  work = mkdtempSync(join(tmpdir(), 'l2o-tarsplit-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Layer {
  base: string;
  tarPath: string;
  tar: Buffer;
  sha256: string;
  tarDataPath: string;
  diffDir: string;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const raw = (s: string): Buffer => Buffer.from(s, 'latin1');

/** populate a staging dir with node:fs, tar it with GNU tar, disassemble with tar-split, extract with GNU tar. */
function buildLayer(populate: (src: string) => void, opts: { format?: 'gnu' | 'pax' | 'ustar'; tarArgs?: string[] } = {}): Layer {
  const base = join(work, `l${counter++}`);
  const src = join(base, 'src');
  mkdirSync(src, { recursive: true });
  populate(src);
  const tarPath = join(base, 'layer.tar');
  // top-level names as raw bytes through a NUL-separated list (names may not be UTF-8)
  const names = readdirSync(src, { encoding: 'buffer' }).sort(Buffer.compare);
  const listPath = join(base, 'names');
  writeFileSync(listPath, Buffer.concat(names.flatMap((n) => [n, Buffer.alloc(1)])));
  const format = opts.format ?? 'gnu';
  const xattrArgs = format === 'pax' ? ['--xattrs', '--xattrs-include=*'] : [];
  run('tar', [`--format=${format}`, '--sort=name', '--numeric-owner', ...xattrArgs, ...(opts.tarArgs ?? []), '-C', src, '-cf', tarPath, '--null', '-T', listPath]);
  const tarDataPath = join(base, 'tar-data.json.gz');
  run('tar-split', ['disasm', '--no-stdout', '--output', tarDataPath, tarPath]);
  const diffDir = join(base, 'diff');
  mkdirSync(diffDir);
  run('tar', ['--numeric-owner', ...xattrArgs, '-xpf', tarPath, '-C', diffDir]);
  const tar = readFileSync(tarPath);
  return { base, tarPath, tar, sha256: sha(tar), tarDataPath, diffDir };
}

class CollectSink implements TarSink {
  parts: Buffer[] = [];
  write(chunk: Buffer): undefined {
    this.parts.push(Buffer.from(chunk));
    return undefined;
  }
  bytes(): Buffer {
    return Buffer.concat(this.parts);
  }
}

async function replay(layer: Layer, tarDataPath = layer.tarDataPath, diffDir = layer.diffDir): Promise<Buffer> {
  const sink = new CollectSink();
  await replayTarSplit({ tarDataPath, diffDir }, sink);
  return sink.bytes();
}

async function refused(layer: Layer, reason: RegExp, tarDataPath = layer.tarDataPath): Promise<string> {
  try {
    await replay(layer, tarDataPath);
  } catch (err) {
    assert.ok(err instanceof TarSplitUnusableError, `expected TarSplitUnusableError, got ${err}`);
    assert.equal(err.code, 'E_TARSPLIT_UNUSABLE');
    assert.match(err.reason, /^tar-split: /);
    assert.match(err.reason, reason);
    return err.reason;
  }
  assert.fail(`replay should have been refused (${reason})`);
}

type Line = Record<string, unknown>;
function readLines(path: string): Line[] {
  return gunzipSync(readFileSync(path)).toString('utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l) as Line);
}
function writeLines(layer: Layer, lines: Line[], name = 'edited.json.gz'): string {
  const path = join(layer.base, name);
  writeFileSync(path, gzipSync(Buffer.from(lines.map((l) => JSON.stringify(l) + '\n').join(''))));
  return path;
}
const fileLine = (lines: Line[], name: string): Line => {
  const l = lines.find((x) => x.type === 1 && x.name === name);
  assert.ok(l, `no file entry ${name}`);
  return l;
};

/** A tree with every entry type GNU tar writes, names long enough for each format's extension. */
function richTree(format: 'gnu' | 'pax' | 'ustar'): (src: string) => void {
  return (src) => {
    mkdirSync(join(src, 'etc'));
    writeFileSync(join(src, 'etc', 'hello'), 'hello\n');
    linkSync(join(src, 'etc', 'hello'), join(src, 'etc', 'hello2'));
    writeFileSync(join(src, 'etc', '.wh.old'), '', { mode: 0o444 });
    mkdirSync(join(src, 'opq'));
    writeFileSync(join(src, 'opq', '.wh..wh..opq'), '');
    for (const n of [0, 1, 511, 512, 513, 1024 * 1024 + 3]) writeFileSync(join(src, `size-${n}`), Buffer.alloc(n, n % 251));
    symlinkSync('etc/hello', join(src, 'link'));
    writeFileSync(join(src, 'setuid'), '#!/bin/sh\n', { mode: 0o4755 });
    // ustar holds names up to 256 bytes (prefix split); gnu/pax any length
    const deep = format === 'ustar' ? `${'d'.repeat(60)}/${'d'.repeat(60)}/${'e'.repeat(90)}` : `${'d'.repeat(120)}/${'e'.repeat(200)}`;
    mkdirSync(join(src, deep), { recursive: true });
    writeFileSync(join(src, deep, 'f'), 'deep\n');
    if (format !== 'ustar') {
      symlinkSync('t'.repeat(150), join(src, 'longlink'));
      writeFileSync(Buffer.concat([Buffer.from(src + '/'), raw('caf\xe9-\xff')]), 'latin1 name\n');
    }
    if (IS_ROOT) {
      run('mkfifo', [join(src, 'fifo')]);
      run('mknod', [join(src, 'null'), 'c', '1', '3']);
      if (format !== 'ustar') {
        writeFileSync(join(src, 'bigid'), 'x');
        run('chown', ['3000000:3000001', join(src, 'bigid')]);
      }
    }
    if (format === 'pax') {
      writeFileSync(join(src, 'xattr'), 'x');
      setAttributeSync(join(src, 'xattr'), 'user.bin', Buffer.from([0, 1, 0x80, 0xff, 0x0a]));
      if (IS_ROOT) run('setcap', ['cap_setuid,cap_net_raw+ep', join(src, 'xattr')]);
    }
  };
}

describe('byte-exact replay of GNU tar layers', { skip: TOOLS }, () => {
  for (const format of ['gnu', 'pax', 'ustar'] as const) {
    test(`${format}: sha256(replay) == sha256(original) == sha256(tar-split asm)`, async () => {
      const layer = buildLayer(richTree(format), { format });
      const out = await replay(layer);
      const asmPath = join(layer.base, 'asm.tar');
      run('tar-split', ['asm', '--input', layer.tarDataPath, '--path', layer.diffDir, '--output', asmPath]);
      assert.equal(out.length, layer.tar.length);
      assert.equal(sha(out), layer.sha256);
      assert.equal(sha(readFileSync(asmPath)), layer.sha256);
    });
  }

  // Directory listings there give no entry kinds (d_type unknown): Node then lstats each entry,
  // which fails for the fast latin1-named listing (ERR_INVALID_ARG_TYPE); the opener lists such
  // a directory again with Buffer names. Without that every layer there would be regenerated.
  const loopMount = !IS_ROOT ? 'needs root (loop mount)' : !hasTool('mkfs.ext4') || !hasTool('mount') ? 'needs mkfs.ext4 and mount' : false;
  test('a filesystem without d_type (ext4 -O ^filetype, loop-mounted): still byte-exact', { skip: loopMount }, async (t) => {
    const layer = buildLayer(richTree('gnu'));
    const image = join(layer.base, 'nodtype.img');
    const mnt = join(layer.base, 'mnt');
    mkdirSync(mnt);
    writeFileSync(image, '');
    truncateSync(image, 64 * 1024 * 1024);
    run('mkfs.ext4', ['-q', '-F', '-O', '^filetype', image]);
    try {
      run('mount', ['-o', 'loop', image, mnt]);
    } catch (err) {
      t.skip(`cannot loop-mount here: ${String(err).split('\n')[0]}`);
      return;
    }
    try {
      const diffDir = join(mnt, 'diff');
      mkdirSync(diffDir);
      run('tar', ['--numeric-owner', '-xpf', layer.tarPath, '-C', diffDir]);
      const out = await replay(layer, layer.tarDataPath, diffDir);
      assert.equal(sha(out), layer.sha256);
    } finally {
      run('umount', [mnt]);
    }
  });

  test('stats: payload bytes are the sum of file sizes; blocking factor 1 (no record padding) also exact', async () => {
    const layer = buildLayer((src) => {
      writeFileSync(join(src, 'a'), 'aaa');
      writeFileSync(join(src, 'b'), Buffer.alloc(700));
    }, { tarArgs: ['-b', '1'] });
    const sink = new CollectSink();
    const stats = await replayTarSplit({ tarDataPath: layer.tarDataPath, diffDir: layer.diffDir }, sink);
    assert.equal(sha(sink.bytes()), layer.sha256);
    assert.deepEqual(stats, { entries: 2, payloadBytes: 703, tarBytes: layer.tar.length });
  });

  test('a layer tar with no end blocks replays exactly', async () => {
    const layer = buildLayer((src) => writeFileSync(join(src, 'a'), Buffer.alloc(512, 1)), { tarArgs: ['-b', '1'] });
    // cut the archive after the payload (Go's reader accepts that) and disassemble the cut tar
    const cut = layer.tar.subarray(0, 1024);
    writeFileSync(layer.tarPath, cut);
    run('tar-split', ['disasm', '--no-stdout', '--output', layer.tarDataPath, layer.tarPath]);
    assert.equal(sha(await replay(layer)), sha(cut));
  });

  test('a v0.9.4 fingerprint alone (no long names) is fine', async () => {
    const layer = buildLayer((src) => writeFileSync(join(src, 'a'), 'a\n'));
    const lines = readLines(layer.tarDataPath).map((l) => (l.type === 2 ? { type: 2, name: '', size: 0, payload: l.payload, position: l.position } : l));
    assert.equal(sha(await replay(layer, writeLines(layer, lines))), layer.sha256);
  });

  test('zero-length and split segments, unknown keys and missing positions are accepted', async () => {
    const layer = buildLayer((src) => writeFileSync(join(src, 'a'), 'a\n'));
    const lines: Line[] = [];
    for (const l of readLines(layer.tarDataPath)) {
      if (l.type === 2 && typeof l.payload === 'string' && l.payload.length > 8) {
        const bytes = Buffer.from(l.payload, 'base64');
        lines.push({ type: 2, payload: null }, { type: 2, payload: bytes.subarray(0, 100).toString('base64'), extra: true }, { type: 2, payload: '' }, { type: 2, payload: bytes.subarray(100).toString('base64') });
      } else lines.push(l);
    }
    assert.equal(sha(await replay(layer, writeLines(layer, lines))), layer.sha256);
  });
});

describe('refusals (the caller regenerates, with this reason)', { skip: TOOLS }, () => {
  const simple = (src: string): void => {
    mkdirSync(join(src, 'etc'));
    writeFileSync(join(src, 'etc', 'passwd'), 'root:x:0:0::/root:/bin/sh\n');
    writeFileSync(join(src, 'etc', 'group'), 'root:x:0:\n');
  };

  test('missing file', async () => {
    const layer = buildLayer(simple);
    unlinkSync(join(layer.diffDir, 'etc', 'passwd'));
    await refused(layer, /^tar-split: missing file etc\/passwd$/);
  });

  test('changed file (same size, other bytes): crc mismatch', async () => {
    const layer = buildLayer(simple);
    writeFileSync(join(layer.diffDir, 'etc', 'passwd'), 'ROOT:x:0:0::/root:/bin/sh\n');
    await refused(layer, /^tar-split: crc mismatch for etc\/passwd$/);
  });

  test('crc payload altered in the metadata', async () => {
    const layer = buildLayer(simple);
    const lines = readLines(layer.tarDataPath);
    fileLine(lines, 'etc/group').payload = Buffer.alloc(8, 1).toString('base64');
    await refused(layer, /crc mismatch for etc\/group/, writeLines(layer, lines));
  });

  test('file shorter than recorded', async () => {
    const layer = buildLayer(simple);
    truncateSync(join(layer.diffDir, 'etc', 'passwd'), 3);
    await refused(layer, /size mismatch for etc\/passwd: recorded 26 bytes, the file has 3/);
  });

  test('file longer than recorded', async () => {
    const layer = buildLayer(simple);
    appendFileSync(join(layer.diffDir, 'etc', 'passwd'), 'more\n');
    await refused(layer, /size mismatch for etc\/passwd/);
  });

  test('truncated gzip', async () => {
    const layer = buildLayer(simple);
    const gz = readFileSync(layer.tarDataPath);
    const path = join(layer.base, 'cut.json.gz');
    writeFileSync(path, gz.subarray(0, gz.length - 12));
    await refused(layer, /truncated gzip|corrupt gzip/, path);
  });

  test('corrupt gzip', async () => {
    const layer = buildLayer(simple);
    const gz = Buffer.from(readFileSync(layer.tarDataPath));
    for (let i = 20; i < 40; i++) gz[i] ^= 0x5a;
    const path = join(layer.base, 'bad.json.gz');
    writeFileSync(path, gz);
    await refused(layer, /gzip|JSON|header|crc|size/, path);
  });

  test('not gzip at all, invalid JSON, unknown entry type, bad base64', async () => {
    const layer = buildLayer(simple);
    const plain = join(layer.base, 'plain.json.gz');
    writeFileSync(plain, gunzipSync(readFileSync(layer.tarDataPath)));
    await refused(layer, /gzip/, plain);
    const junk = join(layer.base, 'junk.json.gz');
    writeFileSync(junk, gzipSync('{"type":2,"payload":"AA=="}\n{not json}\n'));
    await refused(layer, /invalid JSON on line 2/, junk);
    await refused(layer, /unknown entry type 3 on line 1/, writeLines(layer, [{ type: 3 }], 'type3.json.gz'));
    await refused(layer, /invalid segment payload on line 1/, writeLines(layer, [{ type: 2, payload: 'not base64!' }], 'b64.json.gz'));
  });

  test('missing metadata file', async () => {
    const layer = buildLayer(simple);
    await refused(layer, /tar-data\.json\.gz is missing/, join(layer.base, 'nope.json.gz'));
  });

  test('tar-split v0.9.4 fingerprint with GNU long names', async () => {
    const layer = buildLayer((src) => {
      writeFileSync(join(src, 'n'.repeat(150)), 'long\n');
    }, { format: 'gnu' });
    const lines = readLines(layer.tarDataPath).map((l) => (l.type === 2 ? { type: 2, name: '', size: 0, payload: l.payload, position: l.position } : l));
    await refused(layer, /v0\.9\.4/, writeLines(layer, lines));
  });

  test('tar-split v0.9.4 corruption (L block overwritten by the next header) is caught too', async () => {
    const layer = buildLayer((src) => {
      writeFileSync(join(src, 'n'.repeat(150)), 'long\n');
    }, { format: 'gnu' });
    const lines = readLines(layer.tarDataPath).map((l) => (l.type === 2 ? { type: 2, name: '', size: 0, payload: l.payload, position: l.position } : l));
    const seg = lines.find((l) => l.type === 2 && Buffer.from(l.payload as string, 'base64').length >= 1536)!;
    const bytes = Buffer.from(seg.payload as string, 'base64');
    // [L header][name data][real header] → [real header copy][real header copy][real header]
    const real = bytes.subarray(bytes.length - 512);
    seg.payload = Buffer.concat([real, real, real]).toString('base64');
    await refused(layer, /v0\.9\.4/, writeLines(layer, lines));
  });

  test('sparse entry, GNU format (typeflag S)', async () => {
    const layer = buildLayer((src) => {
      writeFileSync(join(src, 'sparse'), 'x');
      truncateSync(join(src, 'sparse'), 4 * 1024 * 1024);
      appendFileSync(join(src, 'sparse'), 'end');
    }, { format: 'gnu', tarArgs: ['--sparse'] });
    await refused(layer, /sparse entry \(GNU 'S'\)/);
  });

  test('sparse entry, PAX format (GNU.sparse.* records)', async () => {
    const layer = buildLayer((src) => {
      writeFileSync(join(src, 'sparse'), 'x');
      truncateSync(join(src, 'sparse'), 4 * 1024 * 1024);
      appendFileSync(join(src, 'sparse'), 'end');
    }, { format: 'pax', tarArgs: ['--sparse'] });
    await refused(layer, /sparse entry \(PAX GNU\.sparse\./);
  });

  test("'../' name: nothing outside the diff dir is read", async () => {
    const layer = buildLayer(simple);
    // a file with the right bytes sits right outside the diff dir
    writeFileSync(join(layer.base, 'passwd'), readFileSync(join(layer.diffDir, 'etc', 'passwd')));
    const lines = readLines(layer.tarDataPath);
    fileLine(lines, 'etc/passwd').name = '../passwd';
    await refused(layer, /name \.\.\/passwd leaves the layer/, writeLines(layer, lines));
    fileLine(lines, '../passwd').name = 'etc/../../passwd';
    await refused(layer, /leaves the layer/, writeLines(layer, lines));
  });

  test('absolute name', async () => {
    const layer = buildLayer(simple);
    const lines = readLines(layer.tarDataPath);
    fileLine(lines, 'etc/passwd').name = '/etc/passwd';
    await refused(layer, /absolute name \/etc\/passwd/, writeLines(layer, lines));
  });

  test('symlinked dir inside the diff dir pointing outside', async () => {
    const layer = buildLayer(simple);
    const outside = join(layer.base, 'outside');
    mkdirSync(outside);
    for (const f of ['passwd', 'group']) writeFileSync(join(outside, f), readFileSync(join(layer.diffDir, 'etc', f)));
    rmSync(join(layer.diffDir, 'etc'), { recursive: true });
    symlinkSync(outside, join(layer.diffDir, 'etc'));
    await refused(layer, /symlinked directory in the path of etc\/(group|passwd)/);
  });

  test('symlink loops: as a directory and as the file', async () => {
    const layer = buildLayer(simple);
    rmSync(join(layer.diffDir, 'etc'), { recursive: true });
    symlinkSync('etc', join(layer.diffDir, 'etc'));
    await refused(layer, /symlinked directory/);
    rmSync(join(layer.diffDir, 'etc'));
    mkdirSync(join(layer.diffDir, 'etc'));
    symlinkSync('group', join(layer.diffDir, 'etc', 'group'));
    await refused(layer, /etc\/group is a symlink/);
  });

  test('a FIFO named by a size>0 entry: refused without blocking', { timeout: 20_000 }, async () => {
    const layer = buildLayer(simple);
    unlinkSync(join(layer.diffDir, 'etc', 'group'));
    run('mkfifo', [join(layer.diffDir, 'etc', 'group')]);
    await refused(layer, /etc\/group is not a regular file/);
  });

  test('a device or directory named by a size>0 entry', { skip: !IS_ROOT && 'mknod needs root' }, async () => {
    const layer = buildLayer(simple);
    unlinkSync(join(layer.diffDir, 'etc', 'group'));
    run('mknod', [join(layer.diffDir, 'etc', 'group'), 'c', '1', '3']);
    await refused(layer, /etc\/group is not a regular file/);
    unlinkSync(join(layer.diffDir, 'etc', 'group'));
    mkdirSync(join(layer.diffDir, 'etc', 'group'));
    await refused(layer, /etc\/group is not a regular file/);
  });

  test('duplicate file names', async () => {
    const layer = buildLayer(simple);
    const lines = readLines(layer.tarDataPath);
    const i = lines.indexOf(fileLine(lines, 'etc/group'));
    lines.splice(i + 1, 0, { ...lines[i - 1] }, { ...lines[i], name: './etc//group' });
    await refused(layer, /duplicate file entry \.\/etc\/\/group/, writeLines(layer, lines));
  });

  test('file entry without a crc', async () => {
    const layer = buildLayer(simple);
    const lines = readLines(layer.tarDataPath);
    fileLine(lines, 'etc/group').payload = null;
    await refused(layer, /no crc for etc\/group/, writeLines(layer, lines));
  });

  test('entry size disagrees with its tar header', async () => {
    const layer = buildLayer(simple);
    const lines = readLines(layer.tarDataPath);
    const l = fileLine(lines, 'etc/group');
    l.size = 3;
    writeFileSync(join(layer.diffDir, 'etc', 'group'), 'roo');
    await refused(layer, /size mismatch for etc\/group: the header says 10, the entry 3/, writeLines(layer, lines));
  });

  test('metadata cut before the end of the archive', async () => {
    const layer = buildLayer(simple);
    const lines = readLines(layer.tarDataPath);
    const last = lines.map((l) => l.type).lastIndexOf(1);
    await refused(layer, /ends in the middle of a tar entry/, writeLines(layer, lines.slice(0, last + 1)));
  });

  test('a corrupt header block in a segment', async () => {
    const layer = buildLayer(simple);
    const lines = readLines(layer.tarDataPath);
    const seg = lines.find((l) => l.type === 2)!;
    const bytes = Buffer.from(seg.payload as string, 'base64');
    bytes[0] ^= 0x01;
    seg.payload = bytes.toString('base64');
    await refused(layer, /corrupt tar header/, writeLines(layer, lines));
  });

  test('non-UTF-8 name stored as name_raw is read as bytes', async () => {
    const layer = buildLayer((src) => writeFileSync(Buffer.concat([Buffer.from(src + '/'), raw('caf\xe9')]), 'x\n'));
    const lines = readLines(layer.tarDataPath);
    assert.ok(lines.some((l) => l.type === 1 && typeof l.name_raw === 'string'), 'tar-split wrote name_raw');
    assert.equal(sha(await replay(layer)), layer.sha256);
    // pre-0.9.10 metadata had a lossy U+FFFD name instead: the file is not found
    for (const l of lines) if (l.type === 1 && l.name_raw) {
      delete l.name_raw;
      l.name = 'caf\ufffd';
    }
    await refused(layer, /missing file caf/, writeLines(layer, lines));
  });
});

test('name helpers: components and Go filepath.Clean keys', () => {
  assert.deepEqual(nameComponents(raw('./a//b/./c')).parts.map(String), ['a', 'b', 'c']);
  assert.equal(nameComponents(raw('/a')).problem, 'absolute');
  assert.equal(nameComponents(raw('a/../b')).problem, 'dotdot');
  assert.equal(nameComponents(raw('./')).problem, 'empty');
  assert.equal(cleanNameKey(raw('./etc//passwd')), 'etc/passwd');
  assert.equal(cleanNameKey(raw('etc/')), 'etc');
  assert.equal(cleanNameKey(raw('a/b/../c')), 'a/c');
  assert.equal(cleanNameKey(raw('../x')), '../x');
  assert.equal(cleanNameKey(raw('/../x')), '/x');
});
