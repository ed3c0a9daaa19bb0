// The bad-input corpus: roots damaged the way roots off dead servers are (truncated files, bit rot,
// odd permissions, files changed since the tar-split data was written) and crafted to attack the
// tool (tar-split names with `..`, absolute names, symlinked directories, FIFOs and devices named
// as files, gzip bombs). Each case is one image of one hostile root and states its expected
// outcome: a clear coded error, or a documented fallback with a warning. All cases are exported in
// one run under strace (cases that hit a known bug run alone, with a short timeout), and the run
// must also:
//   - end by itself (hard timeout) with exit 0, 1 or 2, no stack trace, a code when it fails;
//   - not read outside the root: a canary file outside it, named by the crafted entries, never
//     appears in the layout (raw or gunzipped), and strace shows it was never opened;
//   - not write outside OUT: tree hashes of the root, the canary dir and a sibling dir are unchanged;
//   - leave OUT a valid layout (our validator).
// Root-level traps (ids, json, whole roots, permissions) are in corpus-roots.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { buildLegacyRoot, derivedId, type EntrySpec, type LayerSpec } from '../helpers/fixture-builder.js';
import { needTools } from '../helpers/env.js';
import { treeHash } from '../helpers/tree-hash.js';
import {
  IS_ROOT, assertCleanExit, canaryMarker, layoutContains, parseJsonOut, rmrf, runCli,
  straceOpened, worldTemp, type Canary, type RunResult,
} from './harness.js';
import { caseLayer, gzipBomb, hostOf, mkfifo, mknod, mksock, readTarDataLines, writeCraftedTarData, writeTarDataLines } from './hostile-root.js';

const tools = needTools('tar-split', 'strace');
const CONCURRENCY = 4;
/** A bomb or a trap must be dealt with quickly: the whole export of one small layer stays under this. */
const BOUNDED_MS = 10_000;

// ───────────────────────────── the work dir ─────────────────────────────
//   <work>/docker          the hostile root (one image per case)
//   <work>/canary          the canary file; <work>/canarydir/canary another copy
//   <work>/sibling         a dir nobody should touch
//   <work>/outside         graph entries and tar-data planted outside the root
//   <work>/outs/<case>     one OUT per run

let work = '';
let root = '';
let canary: Canary;
let hashes: { root: string; canary: string; sibling: string; outside: string };

function ctxOf(name: string) {
  const id = derivedId(`hardening:${name}`);
  return { id, graph: join(root, 'graph', id), diff: join(root, 'aufs', 'diff', id), tarData: join(root, 'graph', id, 'tar-data.json.gz') };
}
type Ctx = ReturnType<typeof ctxOf>;

const MOTD = 'hello from a hostile layer\n';
const LOG = 'line of an application log\n'.repeat(150);
const motd: EntrySpec[] = [{ type: 'file', path: 'etc/motd', content: MOTD }];
/** tar items for etc/ and etc/motd, equal to what the diff dir holds (so a replay gets past them) */
const motdItems = () => [{ name: 'etc/', dir: true }, { name: 'etc/motd', content: MOTD }];
const canaryText = () => canary.marker.toString('utf8');

interface Expect {
  /** 0: the image is exported; 1: it fails (and the export exits 1) */
  status: 0 | 1;
  /** where every layer of the exported image came from */
  source?: 'tar-split' | 'regenerated';
  /** the reason recorded for the regeneration */
  reason?: RegExp;
  /** the code the failed image is reported with */
  code?: string;
  /** a problem code `ls --all --json` gives the image */
  problem?: string;
  /** a warning of the layer (report.images[].layers[].warnings) */
  warning?: RegExp;
}

interface ImageCase {
  name: string;
  trap: string;
  entries: EntrySpec[];
  layer?: Partial<LayerSpec>;
  /** mknod needs root */
  needsRoot?: boolean;
  setup?: (c: Ctx) => void | Promise<void>;
  expect: Expect;
  /** the bug it currently hits (node:test todo): file, function, what goes wrong */
  todo?: string;
  /** the trap names the canary: the run is also watched with strace */
  canary?: boolean;
}

const imageCases: ImageCase[] = [
  // ── tar-split names that try to leave the diff dir ──
  {
    name: 'ts-dotdot', canary: true, trap: "a tar-split file entry named ../../../../canary (the canary's own crc)", entries: motd,
    setup: (c) => writeCraftedTarData(c.graph, [...motdItems(), { name: '../../../../canary', content: canaryText() }]),
    expect: { status: 0, source: 'regenerated', reason: /leaves the layer/ },
  },
  {
    name: 'ts-dotdot-inner', canary: true, trap: 'a name with .. in the middle: etc/../../../../../canary', entries: motd,
    setup: (c) => writeCraftedTarData(c.graph, [...motdItems(), { name: 'etc/../../../../../canary', content: canaryText() }]),
    expect: { status: 0, source: 'regenerated', reason: /leaves the layer/ },
  },
  {
    name: 'ts-absolute', canary: true, trap: 'a tar-split file entry with the absolute path of the canary', entries: motd,
    setup: (c) => writeCraftedTarData(c.graph, [...motdItems(), { name: canary.file, content: canaryText() }]),
    expect: { status: 0, source: 'regenerated', reason: /absolute name/ },
  },
  {
    name: 'ts-symlinked-dir-abs', canary: true, trap: 'evil/canary named, evil is a symlink (absolute) to the canary dir', entries: motd,
    setup: (c) => {
      writeCraftedTarData(c.graph, [...motdItems(), { name: 'evil/', dir: true }, { name: 'evil/canary', content: canaryText() }]);
      symlinkSync(canary.dir, join(c.diff, 'evil'));
    },
    expect: { status: 0, source: 'regenerated', reason: /symlinked directory/ },
  },
  {
    name: 'ts-symlinked-dir-rel', canary: true, trap: 'evil/canary named, evil -> ../../../../canarydir (relative)', entries: motd,
    setup: (c) => {
      writeCraftedTarData(c.graph, [...motdItems(), { name: 'evil/', dir: true }, { name: 'evil/canary', content: canaryText() }]);
      symlinkSync('../../../../canarydir', join(c.diff, 'evil'));
    },
    expect: { status: 0, source: 'regenerated', reason: /symlinked directory/ },
  },
  {
    name: 'ts-symlink-leaf', canary: true, trap: 'etc/passwd named with the canary crc; on disk a symlink to the canary', entries: motd,
    setup: (c) => {
      writeCraftedTarData(c.graph, [...motdItems(), { name: 'etc/passwd', content: canaryText() }]);
      symlinkSync(canary.file, join(c.diff, 'etc', 'passwd'));
    },
    expect: { status: 0, source: 'regenerated', reason: /is a symlink/ },
  },
  // ── special files named as files with data ──
  {
    name: 'ts-fifo', trap: 'run/pipe named with size > 0; on disk a FIFO (a naive open blocks forever)',
    entries: [...motd, { type: 'fifo', path: 'run/pipe' }],
    setup: (c) => writeCraftedTarData(c.graph, [...motdItems(), { name: 'run/', dir: true }, { name: 'run/pipe', content: 'data\n' }]),
    expect: { status: 0, source: 'regenerated', reason: /not a regular file/ },
  },
  {
    name: 'ts-socket', trap: 'run/sock named with size > 0; on disk a unix socket', entries: [...motd, { type: 'dir', path: 'run' }],
    setup: async (c) => {
      writeCraftedTarData(c.graph, [...motdItems(), { name: 'run/', dir: true }, { name: 'run/sock', content: 'data\n' }]);
      await mksock(join(c.diff, 'run', 'sock'));
    },
    expect: { status: 0, source: 'regenerated', reason: /not a regular file/, warning: /skipped socket run\/sock/ },
  },
  {
    name: 'ts-chardev', trap: 'dev/zero named as 4 KiB of zeros (crc matches what /dev/zero gives); on disk char 1:5',
    entries: [...motd, { type: 'char', path: 'dev/zero', major: 1, minor: 5 }], needsRoot: true,
    setup: (c) => writeCraftedTarData(c.graph, [...motdItems(), { name: 'dev/', dir: true }, { name: 'dev/zero', content: Buffer.alloc(4096) }]),
    expect: { status: 0, source: 'regenerated', reason: /not a regular file/ },
  },
  {
    name: 'ts-blockdev', trap: 'dev/sda named with data; on disk a block device 8:0',
    entries: [...motd, { type: 'dir', path: 'dev' }], needsRoot: true,
    setup: (c) => {
      writeCraftedTarData(c.graph, [...motdItems(), { name: 'dev/', dir: true }, { name: 'dev/sda', content: 'MBR\n' }]);
      mknod(join(c.diff, 'dev', 'sda'), 'b', 8, 0);
    },
    expect: { status: 0, source: 'regenerated', reason: /not a regular file/ },
  },
  {
    name: 'ts-dir-size', trap: 'data/x named with size > 0; on disk a directory', entries: [...motd, { type: 'dir', path: 'data/x' }],
    setup: (c) => writeCraftedTarData(c.graph, [...motdItems(), { name: 'data/', dir: true }, { name: 'data/x', content: 'data\n' }]),
    expect: { status: 0, source: 'regenerated', reason: /not a regular file/ },
  },
  {
    name: 'ts-symlink-loop-dir', trap: 'loop/a/file named; on disk loop/a -> b, loop/b -> a',
    entries: [...motd, { type: 'symlink', path: 'loop/a', target: 'b' }, { type: 'symlink', path: 'loop/b', target: 'a' }],
    setup: (c) => writeCraftedTarData(c.graph, [...motdItems(), { name: 'loop/', dir: true }, { name: 'loop/a/', dir: true }, { name: 'loop/a/file', content: 'x\n' }]),
    expect: { status: 0, source: 'regenerated', reason: /symlinked directory/ },
  },
  {
    name: 'ts-symlink-loop-leaf', trap: 'etc/self named with data; on disk etc/self -> self',
    entries: [...motd, { type: 'symlink', path: 'etc/self', target: 'self' }],
    setup: (c) => writeCraftedTarData(c.graph, [...motdItems(), { name: 'etc/self', content: 'x\n' }]),
    expect: { status: 0, source: 'regenerated', reason: /is a symlink/ },
  },
  // ── files changed since the tar-split data was written (copies that died, bit rot) ──
  {
    name: 'file-shorter', trap: 'var/log/app.log truncated on disk', entries: [...motd, { type: 'file', path: 'var/log/app.log', content: LOG }],
    setup: (c) => truncateSync(join(c.diff, 'var/log/app.log'), 1000),
    expect: { status: 0, source: 'regenerated', reason: /size mismatch/ },
  },
  {
    name: 'file-longer', trap: 'var/log/app.log appended to on disk', entries: [...motd, { type: 'file', path: 'var/log/app.log', content: LOG }],
    setup: (c) => appendFileSync(join(c.diff, 'var/log/app.log'), 'one more line\n'),
    expect: { status: 0, source: 'regenerated', reason: /size mismatch/ },
  },
  {
    name: 'file-changed', trap: 'etc/motd rewritten with the same size', entries: motd,
    setup: (c) => writeFileSync(join(c.diff, 'etc/motd'), MOTD.toUpperCase()),
    expect: { status: 0, source: 'regenerated', reason: /crc mismatch/ },
  },
  {
    name: 'file-bitrot', trap: 'one bit flipped in the middle of var/log/app.log', entries: [...motd, { type: 'file', path: 'var/log/app.log', content: LOG }],
    setup: (c) => {
      const p = join(c.diff, 'var/log/app.log');
      const b = readFileSync(p);
      b[2000] ^= 0x04;
      writeFileSync(p, b);
    },
    expect: { status: 0, source: 'regenerated', reason: /crc mismatch/ },
  },
  {
    name: 'file-missing', trap: 'a file named by tar-split is gone from the diff dir', entries: [...motd, { type: 'file', path: 'var/log/app.log', content: LOG }],
    setup: (c) => rmSync(join(c.diff, 'var/log/app.log')),
    expect: { status: 0, source: 'regenerated', reason: /missing file/ },
  },
  // ── tar-split data that lies ──
  {
    name: 'ts-dup-names', trap: 'two file entries named etc/motd (ErrDuplicatePath in tar-split)', entries: motd,
    setup: (c) => {
      // tar-split disasm itself refuses duplicates: write etc/motd2, then rename its entry ./etc/motd
      writeCraftedTarData(c.graph, [...motdItems(), { name: 'etc/motd2', content: MOTD }]);
      const lines = readTarDataLines(c.tarData);
      lines.find((l) => l.type === 1 && l.name === 'etc/motd2').name = './etc/motd';
      writeTarDataLines(c.tarData, lines);
    },
    expect: { status: 0, source: 'regenerated', reason: /duplicate file entry/ },
  },
  {
    name: 'ts-size-lie', trap: "a file entry's size one more than its tar header says", entries: motd,
    setup: (c) => {
      const lines = readTarDataLines(c.tarData);
      const f = lines.find((l) => l.type === 1 && l.name === 'etc/motd');
      f.size += 1;
      writeTarDataLines(c.tarData, lines);
    },
    expect: { status: 0, source: 'regenerated', reason: /size mismatch/ },
  },
  {
    name: 'ts-size-absurd', trap: 'a file entry of 2^53-1 bytes', entries: motd,
    setup: (c) => {
      const lines = readTarDataLines(c.tarData);
      lines.find((l) => l.type === 1 && l.name === 'etc/motd').size = Number.MAX_SAFE_INTEGER;
      writeTarDataLines(c.tarData, lines);
    },
    expect: { status: 0, source: 'regenerated', reason: /size mismatch/ },
  },
  {
    name: 'ts-name-too-long', trap: 'a file entry whose directory component is 5000 bytes (ENAMETOOLONG)', entries: motd,
    setup: (c) => {
      const lines = readTarDataLines(c.tarData);
      lines.find((l) => l.type === 1 && l.name === 'etc/motd').name = `${'d'.repeat(5000)}/motd`;
      writeTarDataLines(c.tarData, lines);
    },
    expect: { status: 0, source: 'regenerated', reason: /./ },
  },
  {
    name: 'ts-sparse', trap: 'a GNU sparse entry (tar-split replays it silently wrong)', entries: [...motd, { type: 'dir', path: 'data' }],
    setup: (c) => {
      writeCraftedTarData(c.graph, [...motdItems(), { name: 'data/', dir: true }, { name: 'data/sparse', content: 'end\n', sparseSize: 256 * 1024 }], { sparse: true });
      const expanded = Buffer.alloc(256 * 1024);
      expanded.write('end\n', expanded.length - 4);
      writeFileSync(join(c.diff, 'data', 'sparse'), expanded);
    },
    expect: { status: 0, source: 'regenerated', reason: /sparse/ },
  },
  // ── broken gzip ──
  {
    name: 'gz-truncated', trap: 'tar-data.json.gz cut in half', entries: [...motd, { type: 'file', path: 'var/log/app.log', content: LOG }],
    setup: (c) => truncateSync(c.tarData, Math.floor(readFileSync(c.tarData).length / 2)),
    expect: { status: 0, source: 'regenerated', reason: /truncated gzip|unexpected end/ },
  },
  {
    name: 'gz-corrupt', trap: 'bytes in the middle of the deflate stream overwritten', entries: [...motd, { type: 'file', path: 'var/log/app.log', content: LOG }],
    setup: (c) => {
      const b = readFileSync(c.tarData);
      for (let i = 20; i < Math.min(b.length - 12, 60); i++) b[i] ^= 0x5a;
      writeFileSync(c.tarData, b);
    },
    expect: { status: 0, source: 'regenerated', reason: /corrupt gzip|invalid|crc/ },
  },
  {
    name: 'gz-not-gzip', trap: 'tar-data.json.gz is plain text', entries: motd,
    setup: (c) => writeFileSync(c.tarData, 'this is not gzip\n'),
    expect: { status: 0, source: 'regenerated', problem: 'W_TAR_SPLIT_UNREADABLE' },
  },
  {
    name: 'gz-empty', trap: 'tar-data.json.gz is empty (daemon died while writing it)', entries: motd,
    setup: (c) => writeFileSync(c.tarData, ''),
    expect: { status: 0, source: 'regenerated', problem: 'W_TAR_SPLIT_UNREADABLE' },
  },
  {
    name: 'gz-garbage-json', trap: 'valid gzip of text that is not JSON lines', entries: motd,
    setup: (c) => writeFileSync(c.tarData, gzipSync('{"type":2,"payload":\n<html>not json</html>\n')),
    expect: { status: 0, source: 'regenerated', reason: /invalid JSON/ },
  },
  {
    name: 'gz-bomb-line', trap: 'gzip bomb: 64 MiB without a newline (64 KiB on disk)', entries: motd,
    setup: (c) => writeFileSync(c.tarData, gzipBomb(0x41, 64)),
    expect: { status: 0, source: 'regenerated', reason: /longer than/ },
  },
  {
    name: 'gz-bomb-trailing', trap: 'gzip bomb: valid tar-split data followed by 256 MiB of segment lines after the end of the archive', entries: motd,
    setup: (c) => {
      const valid = gunzipLines(c.tarData);
      const seg = Buffer.from(`{"type":2,"payload":"${Buffer.alloc(3 * 1024).toString('base64')}"}\n`);
      const chunk = Buffer.concat(Array.from({ length: Math.floor((1024 * 1024) / seg.length) }, () => seg));
      const member = gzipSync(chunk, { level: 9 });
      writeFileSync(c.tarData, Buffer.concat([gzipSync(valid), ...Array.from({ length: 256 }, () => member)]));
    },
    expect: { status: 0, source: 'regenerated', reason: /after the end of the archive/ },
  },
  {
    name: 'gz-bomb-blank', trap: 'gzip bomb: valid tar-split data followed by 4 GiB of blank lines (4 MiB on disk)', entries: motd,
    setup: (c) => writeFileSync(c.tarData, Buffer.concat([gzipSync(gunzipLines(c.tarData)), gzipBomb(0x0a, 4096)])),
    expect: { status: 0 },
  },
  {
    name: 'gz-bomb-empty-segments', trap: 'gzip bomb: valid tar-split data followed by 1 GiB of {"type":2,"payload":""} lines', entries: motd,
    setup: (c) => {
      const line = Buffer.from('{"type":2,"payload":""}\n');
      const chunk = Buffer.concat(Array.from({ length: Math.floor((1024 * 1024) / line.length) }, () => line));
      const member = gzipSync(chunk, { level: 9 });
      writeFileSync(c.tarData, Buffer.concat([gzipSync(gunzipLines(c.tarData)), ...Array.from({ length: 1024 }, () => member)]));
    },
    expect: { status: 0 },
  },
  // ── the metadata files themselves ──
  {
    name: 'tardata-fifo', trap: 'tar-data.json.gz is a FIFO (a naive open blocks forever)', entries: motd,
    setup: (c) => { rmSync(c.tarData); mkfifo(c.tarData); },
    expect: { status: 0, source: 'regenerated', problem: 'W_TAR_SPLIT_UNREADABLE' },
  },
  {
    name: 'tardata-symlink-out', canary: true, trap: 'tar-data.json.gz is a symlink to tar-split data outside the root', entries: motd,
    setup: (c) => {
      const planted = join(work, 'outside', 'tardata-symlink-out.json.gz');
      renameSync(c.tarData, planted);
      symlinkSync(planted, c.tarData);
    },
    expect: { status: 0, source: 'regenerated', problem: 'W_TAR_SPLIT_UNREADABLE' },
  },
  {
    name: 'tardata-dir', trap: 'tar-data.json.gz is a directory', entries: motd,
    setup: (c) => { rmSync(c.tarData); mkdirSync(c.tarData); },
    expect: { status: 0, source: 'regenerated', problem: 'W_TAR_SPLIT_UNREADABLE' },
  },
  {
    name: 'json-symlink-out', canary: true, trap: 'graph/<id>/json is a symlink to a json outside the root', entries: motd,
    setup: (c) => {
      const planted = join(work, 'outside', 'json-symlink-out.json');
      renameSync(join(c.graph, 'json'), planted);
      symlinkSync(planted, join(c.graph, 'json'));
    },
    expect: { status: 1, code: 'E_NOT_REGULAR', problem: 'E_NOT_REGULAR' },
  },
  {
    name: 'json-fifo', trap: 'graph/<id>/json is a FIFO', entries: motd,
    setup: (c) => { rmSync(join(c.graph, 'json')); mkfifo(join(c.graph, 'json')); },
    expect: { status: 1, code: 'E_NOT_REGULAR', problem: 'E_NOT_REGULAR' },
  },
  {
    name: 'graph-dir-symlink-out', canary: true, trap: 'graph/<id> is a symlink to a directory outside the root (json + tar-data there)', entries: motd,
    setup: (c) => {
      const planted = join(work, 'outside', 'graph-dir-symlink-out');
      renameSync(c.graph, planted);
      symlinkSync(planted, c.graph);
    },
    expect: { status: 1, code: 'E_OUTSIDE_ROOT', problem: 'E_OUTSIDE_ROOT' },
  },
  {
    name: 'layers-file-symlink-out', canary: true, trap: 'aufs/layers/<id> is a symlink to a file outside the root', entries: motd,
    setup: (c) => {
      const p = join(root, 'aufs', 'layers', c.id);
      const planted = join(work, 'outside', 'layers-file-symlink-out');
      renameSync(p, planted);
      symlinkSync(planted, p);
    },
    expect: { status: 1, code: 'E_NOT_REGULAR', problem: 'E_NOT_REGULAR' },
  },
  // ── the diff dir ──
  {
    name: 'diff-symlink-out', canary: true, trap: 'aufs/diff/<id> is a symlink to the canary dir', entries: motd,
    setup: (c) => {
      writeCraftedTarData(c.graph, [{ name: 'canary', content: canaryText() }]);
      rmSync(c.diff, { recursive: true });
      symlinkSync(canary.dir, c.diff);
    },
    expect: { status: 1, code: 'E_DIFF_OUTSIDE_ROOT', problem: 'E_DIFF_OUTSIDE_ROOT' },
  },
  {
    name: 'diff-symlink-in', trap: 'aufs/diff/<id> -> ../../graph/<id>/layer (pre-0.7 migration; followed at the top only)', entries: motd,
    setup: (c) => {
      renameSync(c.diff, join(c.graph, 'layer'));
      symlinkSync(`../../graph/${c.id}/layer`, c.diff);
    },
    expect: { status: 0, source: 'tar-split' },
  },
  {
    name: 'diff-symlink-loop', trap: 'aufs/diff/<id> is a symlink to itself', entries: motd,
    setup: (c) => { rmSync(c.diff, { recursive: true }); symlinkSync(c.id, c.diff); },
    expect: { status: 1, code: 'E_DIFF_MISSING', problem: 'E_DIFF_MISSING' },
  },
  {
    name: 'diff-is-file', trap: 'aufs/diff/<id> is a regular file', entries: motd,
    setup: (c) => { rmSync(c.diff, { recursive: true }); writeFileSync(c.diff, 'not a dir'); },
    expect: { status: 1, code: 'E_DIFF_MISSING', problem: 'E_DIFF_MISSING' },
  },
  {
    name: 'diff-missing', trap: 'aufs/diff/<id> is gone (Docker 1.10 silently made it an empty layer)', entries: motd,
    setup: (c) => rmSync(c.diff, { recursive: true }),
    expect: { status: 1, code: 'E_DIFF_MISSING', problem: 'E_DIFF_MISSING' },
  },
  // ── names as bytes ──
  {
    name: 'names-non-utf8', trap: 'file and dir names that are not UTF-8 (latin-1 bytes), as name_raw in tar-split',
    entries: [...motd, { type: 'dir', path: { base64: Buffer.from('caf\xe9', 'latin1').toString('base64') } }, { type: 'file', path: { base64: Buffer.from('caf\xe9/\xff\xfe.txt', 'latin1').toString('base64') }, content: 'bytes\n' }],
    expect: { status: 0, source: 'tar-split' },
  },
];

/** The JSON lines of a tar-data.json.gz, decompressed. */
function gunzipLines(path: string): Buffer {
  return Buffer.from(readTarDataLines(path).map((l) => JSON.stringify(l) + '\n').join(''));
}

// ───────────────────────────── build ─────────────────────────────

let skipDevices = false;

before(async () => {
  if (tools) return;
  work = worldTemp('corpus');
  canary = { file: join(work, 'canary'), dir: join(work, 'canarydir'), marker: canaryMarker(work) };
  writeFileSync(canary.file, canary.marker);
  mkdirSync(canary.dir);
  writeFileSync(join(canary.dir, 'canary'), canary.marker);
  mkdirSync(join(work, 'sibling'));
  writeFileSync(join(work, 'sibling', 'keep'), 'untouched\n');
  mkdirSync(join(work, 'outside'));
  mkdirSync(join(work, 'outs'));
  skipDevices = !IS_ROOT;
  const cases = imageCases.filter((c) => !(c.needsRoot && skipDevices));
  const spec = hostOf('hostile', cases.map((c) => caseLayer(c.name, c.entries, c.layer)));
  root = buildLegacyRoot(spec, join(work, 'docker')).root;
  for (const c of cases) await c.setup?.(ctxOf(c.name));
  hashes = { root: treeHash(root), canary: treeHash(canary.dir) + readFileSync(canary.file, 'hex'), sibling: treeHash(join(work, 'sibling')), outside: treeHash(join(work, 'outside')) };
});

after(() => {
  if (work) rmrf(work);
});

/** One export run with every invariant checked; returns the report. */
async function exportChecked(name: string, args: string[], opts: { strace?: boolean; timeoutMs?: number; jobs?: number } = {}) {
  const out = join(work, 'outs', name);
  const log = opts.strace ? join(work, 'outs', `${name}.strace`) : undefined;
  const r = await runCli(['export', ...args, out, '--root', root, '--jobs', String(opts.jobs ?? 1), '--quiet', '--json'], { straceLog: log, timeoutMs: opts.timeoutMs ?? 90_000 });
  assertCleanExit(r, `export ${name}`);
  const report = parseJsonOut(r, `export ${name}`);
  const leaked = existsSync(out) ? layoutContains(out, canary.marker) : null;
  assert.equal(leaked, null, `${name}: the canary's bytes are in the layout (${leaked})`);
  if (log) {
    const opened = straceOpened(log, [canary.file, join(canary.dir, 'canary')]);
    assert.deepEqual(opened, [], `${name}: the canary was opened`);
    rmSync(log, { force: true });
  }
  return { r, report, out };
}

/** The outcome of one case in an export report: its image, or its failure. */
function outcomeOf(c: ImageCase, report: any, r: RunResult) {
  const id = ctxOf(c.name).id;
  const image = report.images.find((i: any) => i.legacyId === id) ?? null;
  const failed = report.failed.find((f: any) => f.requested === `hostile/${c.name}:latest`) ?? null;
  return { image, failed, stderr: r.stderr, id };
}

function checkExpect(c: ImageCase, o: ReturnType<typeof outcomeOf>, report: any): void {
  const e = c.expect;
  const ctx = `${c.name}\n--- image:\n${JSON.stringify(o.image, null, 1)?.slice(0, 3000)}\n--- failed:\n${JSON.stringify(o.failed)}\n--- report.failed:\n${JSON.stringify(report.failed).slice(0, 2000)}`;
  if (e.status === 0) assert.ok(o.image && !o.failed, `expected an exported image: ${ctx}`);
  else assert.ok(o.failed && !o.image, `expected a failed image: ${ctx}`);
  if (e.code) assert.equal(o.failed?.code, e.code, `failure code: ${ctx}`);
  if (e.source || e.reason || e.warning) {
    const layers = o.image?.layers ?? [];
    assert.ok(layers.length > 0, `no layer exported: ${ctx}`);
    if (e.source) for (const l of layers) assert.equal(l.source, e.source, `layer source: ${ctx}`);
    if (e.reason) assert.ok(layers.some((l: any) => e.reason!.test(l.reason ?? '')), `regeneration reason ${e.reason}: ${ctx}`);
    if (e.warning) assert.ok(layers.some((l: any) => l.warnings.some((w: string) => e.warning!.test(w))), `warning ${e.warning}: ${ctx}`);
    // a fallback is never silent: the regeneration is on stderr, even with --quiet
    if (e.source === 'regenerated') assert.ok(o.stderr.includes(`layer ${o.id.slice(0, 12)} regenerated`), `no warning on stderr: ${ctx}`);
  }
}

const active = () => imageCases.filter((c) => !(c.needsRoot && !IS_ROOT));
/** every case without a known bug, in one export (--jobs 2, under strace): the per-case checks read it */
let combined: { r: RunResult; report: any; out: string } | null = null;
let lsDoc: any = null;

describe('bad-input corpus: one image per trap', { skip: tools, concurrency: CONCURRENCY }, () => {
  before(async () => {
    const refs = active().filter((c) => !c.todo).map((c) => `hostile/${c.name}:latest`);
    combined = await exportChecked('all', refs, { strace: true, timeoutMs: 180_000, jobs: 2 });
    const ls = await runCli(['ls', '--all', '--json', '--root', root], { timeoutMs: 60_000 });
    assertCleanExit(ls, 'ls');
    lsDoc = parseJsonOut(ls, 'ls');
  });

  for (const c of imageCases) {
    const skip = c.needsRoot && !IS_ROOT ? 'needs root (mknod)' : false;
    it(`${c.name}: ${c.trap} → ${c.expect.status === 0 ? `exported${c.expect.source ? `, ${c.expect.source}` : ''}` : `fails ${c.expect.code}`}`, { skip, todo: c.todo }, async () => {
      let o: ReturnType<typeof outcomeOf>;
      let report: any;
      if (c.todo) {
        // a known bug runs alone, with little time: it must not slow the suite down
        const started = Date.now();
        const solo = await exportChecked(c.name, [`hostile/${c.name}:latest`], { strace: c.canary, timeoutMs: BOUNDED_MS });
        assert.ok(Date.now() - started < BOUNDED_MS, `${c.name} took ${Date.now() - started} ms`);
        report = solo.report;
        o = outcomeOf(c, report, solo.r);
      } else {
        assert.ok(combined, 'the combined export did not run');
        report = combined.report;
        o = outcomeOf(c, report, combined.r);
      }
      checkExpect(c, o, report);
      const img = lsDoc.images.find((i: any) => i.id === o.id);
      assert.ok(img, `${c.name} not listed by ls`);
      if (c.expect.problem) assert.ok(img.problems.some((p: any) => p.code === c.expect.problem), `${c.name}: ls lacks ${c.expect.problem}: ${JSON.stringify(img.problems)}`);
      if (c.expect.status === 1) assert.equal(img.status, 'broken', `${c.name}: ls status`);
      // inspect reads the whole gzip too: same invariants
      if (c.name.startsWith('gz-') || c.name.startsWith('tardata-')) {
        const i = await runCli(['inspect', `hostile/${c.name}:latest`, '--root', root, '--json'], { timeoutMs: c.todo ? BOUNDED_MS : 60_000 });
        assertCleanExit(i, `inspect ${c.name}`);
      }
    });
  }
});

describe('bad-input corpus: the hostile root as a whole', { skip: tools }, () => {
  it('the combined export: exit 1 (some images fail by design), nothing read outside the root, the layout validates', async () => {
    assert.ok(combined);
    assert.equal(combined.r.status, 1, combined.r.stderr);
    assert.equal(lsDoc && (await runCli(['ls', '--all', '--root', root], { timeoutMs: 60_000 })).status, 1);
    const v = await runCli(['validate', combined.out], { timeoutMs: 120_000 });
    assertCleanExit(v, 'validate');
    assert.equal(v.status, 0, v.stdout);
  });

  it('nothing outside OUT was written: the root, the canary, the planted files and a sibling dir are unchanged', () => {
    assert.equal(treeHash(root), hashes.root, 'the root changed');
    assert.equal(treeHash(canary.dir) + readFileSync(canary.file, 'hex'), hashes.canary, 'the canary changed');
    assert.equal(treeHash(join(work, 'sibling')), hashes.sibling, 'a sibling dir changed');
    assert.equal(treeHash(join(work, 'outside')), hashes.outside, 'the planted files changed');
    assert.deepEqual(readdirSync(work).sort(), ['canary', 'canarydir', 'docker', 'hostile-tars', 'outs', 'outside', 'sibling']);
  });
});
