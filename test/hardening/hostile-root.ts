// Tools to damage or booby-trap a legacy root after the fixture builder made it. Layer content is
// still written by third-party writers only: crafted tars by GNU tar (with -P, so `..` and absolute
// names survive), their metadata by Debian's `tar-split disasm`, gzip streams by zlib. Only the
// tar-split JSON lines are edited by hand where a trap needs a lie no writer produces.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { run } from '../helpers/env.js';
import { derivedId, type EntrySpec, type HostSpec, type LayerSpec } from '../helpers/fixture-builder.js';

export interface CraftItem {
  /** the name stored in the tar, verbatim (may be `../x` or absolute; UTF-8) */
  name: string;
  /** file content; a directory when `dir` is set */
  content?: Buffer | string;
  dir?: boolean;
  /** a sparse file of this size with `content` at its end (GNU tar --sparse) */
  sparseSize?: number;
}

/**
 * A tar written by GNU tar (gnu format) whose member names are exactly `items[i].name`: files are
 * staged under neutral names and renamed by --transform, with -P so nothing is stripped.
 */
export function craftTar(tarPath: string, items: CraftItem[], opts: { sparse?: boolean } = {}): void {
  const stage = mkdtempSync(join(tmpdir(), 'l2o-craft-'));
  try {
    const transforms: string[] = [];
    const list: Buffer[] = [];
    items.forEach((it, i) => {
      const staged = `s${i}`;
      const p = join(stage, staged);
      if (it.dir) mkdirSync(p);
      else if (it.sparseSize !== undefined) {
        writeFileSync(p, '');
        run('truncate', ['-s', String(it.sparseSize), p]);
        const data = Buffer.from(it.content ?? '');
        run('dd', [`of=${p}`, 'bs=1', `seek=${it.sparseSize - data.length}`, 'conv=notrunc', 'status=none'], { input: data });
      } else writeFileSync(p, it.content ?? '');
      const name = it.name;
      if (name.includes('\x01')) throw new Error('names may not contain \\x01');
      transforms.push(`--transform=s\x01^${staged}$\x01${name.replace(/&/g, '\\&')}\x01`);
      list.push(Buffer.from(staged), Buffer.from([0]));
    });
    writeFileSync(join(stage, '.list'), Buffer.concat(list));
    run('tar', [
      '--create', `--file=${tarPath}`, '--format=gnu', '--blocking-factor=1', '-P', '--numeric-owner', '--owner=0', '--group=0',
      '--mtime=@1420070400', '--mode=go-w', `--directory=${stage}`, '--no-recursion', '--null', '--verbatim-files-from',
      `--files-from=${join(stage, '.list')}`, ...(opts.sparse ? ['--sparse'] : []), ...transforms,
    ], { env: { ...process.env, LC_ALL: 'C' } });
  } finally {
    rmSync(stage, { recursive: true, force: true });
  }
}

/** graph/<id>/tar-data.json.gz := `tar-split disasm` of a crafted tar. */
export function writeCraftedTarData(graphDir: string, items: CraftItem[], opts: { sparse?: boolean } = {}): void {
  const work = mkdtempSync(join(tmpdir(), 'l2o-craft-tar-'));
  try {
    const tarPath = join(work, 'layer.tar');
    craftTar(tarPath, items, opts);
    run('tar-split', ['disasm', '--no-stdout', '--output', join(graphDir, 'tar-data.json.gz'), tarPath]);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** The JSON lines of a tar-data.json.gz. */
export function readTarDataLines(path: string): any[] {
  return gunzipSync(readFileSync(path)).toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l));
}

export function writeTarDataLines(path: string, lines: any[]): void {
  writeFileSync(path, gzipSync(Buffer.from(lines.map((l) => JSON.stringify(l) + '\n').join(''))));
}

export function mkfifo(path: string): void {
  run('mkfifo', [path]);
}

export function mknod(path: string, type: 'c' | 'b', major: number, minor: number): void {
  run('mknod', [path, type, String(major), String(minor)]);
}

/**
 * A unix socket file left on disk: bound under a short temp name (socket paths are limited to 107
 * bytes), renamed into place (same filesystem), then the server closed.
 */
export async function mksock(path: string): Promise<void> {
  const tmp = mkdtempSync(join(tmpdir(), 's-'));
  const bound = join(tmp, 's');
  const server = createServer();
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(bound, () => resolve());
    });
    renameSync(bound, path);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * A gzip bomb: `members` concatenated gzip members, each 1 MiB of `fill` (a multi-member stream,
 * which gzip, Go and zlib all read as one). 1 KiB on disk per MiB expanded.
 */
export function gzipBomb(fill: number, members: number, prefix?: Buffer): Buffer {
  const one = gzipSync(Buffer.alloc(1024 * 1024, fill), { level: 9 });
  const parts: Buffer[] = prefix ? [gzipSync(prefix)] : [];
  for (let i = 0; i < members; i++) parts.push(one);
  return Buffer.concat(parts);
}

export function chownR(path: string, uid: number): void {
  const r = spawnSync('chown', ['-R', '-h', `${uid}:${uid}`, path]);
  if (r.status !== 0) throw new Error(`chown -R ${path}: ${r.stderr}`);
}

/** A one-layer image spec for a corpus case: id derived from the case name. */
export function caseLayer(name: string, entries: EntrySpec[], extra: Partial<LayerSpec> = {}): LayerSpec {
  return {
    id: derivedId(`hardening:${name}`),
    format: 'gnu',
    note: name,
    json: { created: '2015-06-01T00:00:00Z', dockerVersion: '1.9.1', containerCmd: ['/bin/sh', '-c', `#(nop) ${name}`], architecture: 'amd64', os: 'linux' },
    entries,
    ...extra,
  };
}

/** A host spec made of one-layer images, each tagged `<repo>/<case>:latest`. */
export function hostOf(name: string, layers: LayerSpec[], repo = 'hostile'): HostSpec {
  const repositories: Record<string, Record<string, string>> = {};
  for (const l of layers) repositories[`${repo}/${l.note}`] = { latest: l.id };
  return { name, mtime: 1450000000, layerMtime: 1430000000, layers, repositories };
}
