// Test layouts for the validator, built by third-party writers only: layer tars by GNU tar,
// gzip -n for compression, node:crypto for digests. Crafted tar entries (for defects GNU tar
// will not write) come from the small ustar writer below, appended to GNU tar output.
// Never uses the project's own exporter or tar code.
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, linkSync, existsSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../helpers/env.js';

export const MT = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  tar: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  zstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
};

export const REF = 'example.test/legacy/tiny:v1';
export const REF_ANN = 'org.opencontainers.image.ref.name';

export function sha256(b: Buffer | string): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

export function tmp(prefix = 'l2o-validate-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

// ---- tar

const TAR_FLAGS = ['--format=gnu', '--numeric-owner', '--owner=0', '--group=0', '--mtime=@1700000000', '--no-recursion'];

/** Files to put in a layer: path -> content (string/Buffer), null = directory, {link} = hard link to an earlier path. */
export type Tree = Record<string, string | Buffer | null | { link: string }>;

/** A layer tar made by GNU tar from `tree`, entries in the order given. */
export function gnuTar(tree: Tree): Buffer {
  const dir = tmp('l2o-tree-');
  try {
    const names = Object.keys(tree);
    for (const name of names) {
      const v = tree[name];
      const p = join(dir, name);
      if (v === null) mkdirSync(p, { recursive: true });
      else if (typeof v === 'object' && !Buffer.isBuffer(v)) linkSync(join(dir, v.link), p);
      else writeFileSync(p, v);
    }
    const list = join(dir, '.list');
    writeFileSync(list, names.join('\n') + '\n');
    return run('tar', [...TAR_FLAGS, '-C', dir, '-cf', '-', '-T', list]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface RawEntry {
  name: string;
  type?: string;
  data?: Buffer | string;
  linkname?: string;
  mode?: number;
}

function octal(n: number, width: number): string {
  return n.toString(8).padStart(width - 1, '0') + '\0';
}

/** One ustar header block (+ data, padded) written by this test helper. */
export function rawEntry(e: RawEntry): Buffer {
  const data = e.data === undefined ? Buffer.alloc(0) : Buffer.from(e.data);
  const h = Buffer.alloc(512);
  h.write(e.name, 0, 100, 'utf8');
  h.write(octal(e.mode ?? 0o644, 8), 100, 'latin1');
  h.write(octal(0, 8), 108, 'latin1');
  h.write(octal(0, 8), 116, 'latin1');
  h.write(octal(data.length, 12), 124, 'latin1');
  h.write(octal(1700000000, 12), 136, 'latin1');
  h.write('        ', 148, 'latin1');
  h.write(e.type ?? '0', 156, 'latin1');
  if (e.linkname) h.write(e.linkname, 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 'latin1');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  const pad = Buffer.alloc((512 - (data.length % 512)) % 512);
  return Buffer.concat([h, data, pad]);
}

/** Offset just past the last entry of a tar (where its end-of-archive zero blocks start). */
export function tarEnd(tar: Buffer): number {
  let off = 0;
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512);
    if (h.every((b) => b === 0)) return off;
    const size = parseInt(h.toString('latin1', 124, 136).replace(/\0.*$/, '').trim() || '0', 8);
    const type = String.fromCharCode(h[156]);
    const dataLen = ['1', '2', '3', '4', '5', '6'].includes(type) ? 0 : size;
    off += 512 + Math.ceil(dataLen / 512) * 512;
  }
  return off;
}

/** GNU tar output with crafted entries appended before the end-of-archive marker. */
export function appendEntries(tar: Buffer, entries: RawEntry[]): Buffer {
  return Buffer.concat([tar.subarray(0, tarEnd(tar)), ...entries.map(rawEntry), Buffer.alloc(1024)]);
}

export function gzipN(b: Buffer): Buffer {
  return run('gzip', ['-n', '-6', '-c'], { input: b });
}

export function zstdC(b: Buffer): Buffer {
  return run('zstd', ['-q', '-3', '-c'], { input: b });
}

// ---- layout

export interface LayerSpec {
  tar: Buffer;
  blob: Buffer;
  mediaType: string;
}

export interface BuildOptions {
  /** Docker schema2 media types throughout (index entry, manifest, config, layers) */
  docker?: boolean;
  /** write a docker-save style manifest.json (default true) */
  dockerManifest?: boolean;
  /** ref.name annotation (undefined = none) */
  ref?: string | null;
  layers?: Tree[];
  configExtra?: Record<string, unknown>;
}

export const LAYER1: Tree = {
  'bin/': null,
  'bin/sh': 'not really a shell\n',
  'etc/': null,
  'etc/hostname': 'legacy\n',
  'etc/delete-me': 'bye\n',
  'usr/': null,
  'usr/share/': null,
  'usr/share/doc/': null,
  'usr/share/doc/a.txt': 'shared inode\n',
  'usr/share/doc/b.txt': { link: 'usr/share/doc/a.txt' },
  'data/': null,
  'data/old.txt': 'old\n',
};

export const LAYER2: Tree = {
  'etc/': null,
  'etc/.wh.delete-me': '',
  'etc/hostname': 'exported\n',
  'data/': null,
  'data/.wh..wh..opq': '',
  'data/new.txt': 'new\n',
};

/** A 2-layer OCI layout (plus manifest.json) with handles to rewrite any part and relink the rest. */
export class TestLayout {
  readonly dir: string;
  layers: LayerSpec[] = [];
  config: Record<string, any> = {};
  manifest: Record<string, any> = {};
  index: Record<string, any> = {};
  dockerManifest: Record<string, any>[] | undefined;
  configDigest = '';
  manifestDigest = '';
  readonly opts: BuildOptions;

  constructor(opts: BuildOptions = {}) {
    this.opts = opts;
    this.dir = tmp();
    const docker = opts.docker ?? false;
    for (const tree of opts.layers ?? [LAYER1, LAYER2]) {
      const tar = gnuTar(tree);
      this.layers.push({ tar, blob: gzipN(tar), mediaType: docker ? MT.dockerGzip : MT.gzip });
    }
    writeFileSync(join(this.dir, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    mkdirSync(join(this.dir, 'blobs', 'sha256'), { recursive: true });
    this.config = {
      created: '2023-11-14T22:13:20Z',
      architecture: 'amd64',
      os: 'linux',
      config: { Env: ['PATH=/usr/bin:/bin'], Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [] as string[] },
      history: [
        { created: '2023-11-14T22:13:20Z', created_by: 'ADD rootfs /' },
        { created: '2023-11-14T22:13:20Z', created_by: 'ENV X=1', empty_layer: true },
        ...this.layers.slice(1).map((_, i) => ({ created: '2023-11-14T22:13:20Z', created_by: `RUN step ${i + 2}` })),
      ],
      ...opts.configExtra,
    };
    this.dockerManifest = opts.dockerManifest === false ? undefined : [{ Config: '', RepoTags: [REF], Layers: [] }];
    this.relink();
  }

  path(...rel: string[]): string {
    return join(this.dir, ...rel);
  }

  blobRel(digest: string): string {
    return `blobs/${digest.replace(':', '/')}`;
  }

  putBlob(bytes: Buffer | string): { digest: string; size: number } {
    const b = Buffer.from(bytes);
    const digest = sha256(b);
    writeFileSync(this.path(this.blobRel(digest)), b);
    return { digest, size: b.length };
  }

  /** Rewrite every generated file from the in-memory state (new digests all the way up). */
  relink(opts: { keepOld?: boolean } = {}): void {
    const docker = this.opts.docker ?? false;
    const old = new Set([this.configDigest, this.manifestDigest, ...this.layerDescs().map((d) => d.digest)].filter(Boolean));
    const layerDescs = this.layers.map((l) => ({ mediaType: l.mediaType, ...this.putBlob(l.blob) }));
    this.config.rootfs.diff_ids = this.layers.map((l) => sha256(l.tar));
    const cfg = this.putBlob(JSON.stringify(this.config));
    this.configDigest = cfg.digest;
    this.manifest = {
      schemaVersion: 2,
      mediaType: docker ? MT.dockerManifest : MT.manifest,
      config: { mediaType: docker ? MT.dockerConfig : MT.config, ...cfg },
      layers: layerDescs,
    };
    this.writeManifest();
    if (this.dockerManifest) {
      this.dockerManifest[0].Config = this.blobRel(this.configDigest);
      this.dockerManifest[0].Layers = layerDescs.map((d) => this.blobRel(d.digest));
      this.writeDockerManifest();
    }
    if (!opts.keepOld) this.removeUnused(old);
  }

  private layerDescs(): { digest: string }[] {
    return (this.manifest.layers as { digest: string }[] | undefined) ?? [];
  }

  private removeUnused(old: Set<string>): void {
    const used = new Set([this.configDigest, this.manifestDigest, ...this.layerDescs().map((d) => d.digest)]);
    for (const d of old) if (!used.has(d) && existsSync(this.path(this.blobRel(d)))) unlinkSync(this.path(this.blobRel(d)));
  }

  /** Write this.manifest as a blob and point index.json at it. */
  writeManifest(raw?: Buffer | string): void {
    const oldDigest = this.manifestDigest;
    const m = this.putBlob(raw ?? JSON.stringify(this.manifest));
    this.manifestDigest = m.digest;
    const ann = this.opts.ref === null ? undefined : { [REF_ANN]: this.opts.ref ?? REF };
    this.index = {
      schemaVersion: 2,
      mediaType: MT.index,
      manifests: [{ mediaType: this.opts.docker ? MT.dockerManifest : MT.manifest, ...m, ...(ann && { annotations: ann }) }],
    };
    this.writeIndex();
    if (oldDigest && oldDigest !== m.digest && existsSync(this.path(this.blobRel(oldDigest)))) unlinkSync(this.path(this.blobRel(oldDigest)));
  }

  writeIndex(raw?: string): void {
    writeFileSync(this.path('index.json'), raw ?? JSON.stringify(this.index));
  }

  writeDockerManifest(raw?: string): void {
    writeFileSync(this.path('manifest.json'), raw ?? JSON.stringify(this.dockerManifest));
  }

  /** Change the manifest document (after the layer/config blobs are written) and relink index.json. */
  editManifest(fn: (m: Record<string, any>) => void): void {
    fn(this.manifest);
    this.writeManifest();
  }

  editIndex(fn: (i: Record<string, any>) => void): void {
    fn(this.index);
    this.writeIndex();
  }

  /** Change the config and relink (diff_ids are recomputed from the tars unless fn sets keepDiffIDs). */
  editConfig(fn: (c: Record<string, any>) => void): void {
    const old = this.configDigest;
    fn(this.config);
    const cfg = this.putBlob(JSON.stringify(this.config));
    this.configDigest = cfg.digest;
    this.manifest.config = { ...this.manifest.config, ...cfg };
    this.writeManifest();
    if (this.dockerManifest) {
      this.dockerManifest[0].Config = this.blobRel(cfg.digest);
      this.writeDockerManifest();
    }
    if (old !== cfg.digest) unlinkSync(this.path(this.blobRel(old)));
  }

  /** Overwrite a blob file in place (its name no longer matches its content). */
  overwriteBlob(digest: string, bytes: Buffer | string): void {
    writeFileSync(this.path(this.blobRel(digest)), bytes);
  }

  readBlob(digest: string): Buffer {
    return readFileSync(this.path(this.blobRel(digest)));
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
