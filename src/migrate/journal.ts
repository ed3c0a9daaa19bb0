// The migrate journal: `<layout>/.legacy2oci/journal.jsonl`, one JSON record a line, appended and
// fsynced as work completes. It is what makes a rerun of a finished migration cheap: a layer blob
// or an image this tool wrote, verified and fsynced before is trusted without re-reading it
// (unless --verify), as long as its inputs are unchanged and its files are still there.
//
//   {"t":"layer","k":<key>,"root":…,"id":…,"result":LayerResult}
//     written after the worker verified the blob and the export fsynced and renamed it into
//     place (the rename is made durable with the blobs dir sync before an index names it; a
//     rerun trusts the record only while the blob is still there).
//     key = sha256 of: journal format, tool version, root realpath, legacy layer id,
//           tar-data.json.gz size + mtime (ns), aufs/diff/<id> mtime (ns), compression.
//   {"t":"image","k":<key>,"root":…,"id":…,"image":ExportedImage}
//     written after index.json (and manifest.json with docker_save) named the image.
//     key = sha256 of: journal format, tool version, root realpath, image id, exported names,
//           layer keys of the chain, sha256 of every graph/<id>/json and checksum in the chain,
//           compression, docker_save.
//
// A torn last line (power loss mid-append) is ignored; the next append starts on a new line. The
// journal is hidden in `.legacy2oci/` so it is not part of the OCI layout (validate ignores it).

import { createHash } from 'node:crypto';
import {
  closeSync, constants as fsc, existsSync, fsyncSync, mkdirSync, openSync, readFileSync, statSync, writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CompressionSpec, LayerResult } from '../engine/types.js';
import { compressionAlgorithm, formatCompression } from '../engine/compression/registry.js';
import { ZLIB_VERSION } from '../engine/compression/gzip.js';
import { toolVersion } from '../engine/compression/spawned.js';
import type { LegacyLayer } from '../store/index.js';
import type { ExportedImage } from './report.js';

export const STATE_DIR = '.legacy2oci';
export const JOURNAL_FILE = 'journal.jsonl';
const JOURNAL_FORMAT = 1;

/** The package version: a new version of the tool does not trust an older one's journal. */
export const TOOL_VERSION: string = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const p = join(dir, 'package.json');
    if (existsSync(p)) {
      try {
        const pkg = JSON.parse(readFileSync(p, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === 'legacy2oci' && pkg.version) return pkg.version;
      } catch { /* keep looking */ }
    }
    dir = dirname(dir);
  }
  return '0.0.0';
})();

function sha256(text: string | Buffer): string {
  return createHash('sha256').update(text).digest('hex');
}

function statKey(path: string | null): string {
  if (path === null) return 'none';
  const st = statSync(path, { bigint: true, throwIfNoEntry: false });
  return st ? `${st.size}:${st.mtimeNs}` : 'missing';
}

/** The compression and what implements it, version included: another igzip may give other bytes. */
function compressionKey(c: CompressionSpec): string {
  const binary = compressionAlgorithm(c).binary;
  const version = binary ? toolVersion(binary) ?? 'missing' : c.algorithm === 'gzip' ? `zlib-${ZLIB_VERSION}` : '';
  return `${formatCompression(c)}/${c.engine ?? ''}/${version}`;
}

/** The journal key of one layer's blob. */
export function layerKey(rootReal: string, layer: Pick<LegacyLayer, 'id' | 'diffDir' | 'tarDataPath' | 'parentDir'>, compression: CompressionSpec): string {
  return sha256(JSON.stringify([
    'layer', JOURNAL_FORMAT, TOOL_VERSION, rootReal, layer.id,
    statKey(layer.tarDataPath), layer.diffDir === null ? 'none' : statKey(layer.diffDir), compressionKey(compression),
    // a naive-diff layer (vfs, btrfs, overlay v1) is computed against its parent's tree too
    ...(layer.parentDir ? [statKey(layer.parentDir)] : []),
  ]));
}

export interface ImageKeyInput {
  rootReal: string;
  id: string;
  /** exported names, prefix included */
  names: string[];
  layerKeys: string[];
  /** graph/<id>/json bytes of the chain, base → top */
  jsons: Buffer[];
  checksums: (string | null)[];
  compression: CompressionSpec;
  dockerSave: boolean;
}

export function imageKey(i: ImageKeyInput): string {
  return sha256(JSON.stringify([
    'image', JOURNAL_FORMAT, TOOL_VERSION, i.rootReal, i.id, [...i.names].sort(), i.layerKeys,
    i.jsons.map((j) => sha256(j)), i.checksums, compressionKey(i.compression), i.dockerSave,
  ]));
}

interface LayerRecord { t: 'layer'; k: string; root: string; id: string; result: LayerResult }
interface ImageRecord { t: 'image'; k: string; root: string; id: string; image: ExportedImage }

export class Journal {
  readonly path: string;
  private readonly layers = new Map<string, LayerResult>();
  private readonly images = new Map<string, ExportedImage>();
  private fd: number | null = null;
  private needsNewline = false;
  /** records appended by this process */
  appended = 0;
  /** lines that could not be read (a torn last line) */
  readonly skippedLines: number;

  private constructor(layoutDir: string) {
    this.path = join(layoutDir, STATE_DIR, JOURNAL_FILE);
    let text = '';
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    this.needsNewline = text.length > 0 && !text.endsWith('\n');
    let skipped = 0;
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        const r = JSON.parse(line) as LayerRecord | ImageRecord;
        if (r.t === 'layer' && typeof r.k === 'string' && r.result && typeof r.result.digest === 'string') this.layers.set(r.k, r.result);
        else if (r.t === 'image' && typeof r.k === 'string' && r.image && typeof r.image.manifestDigest === 'string') this.images.set(r.k, r.image);
        else skipped++;
      } catch {
        skipped++;
      }
    }
    this.skippedLines = skipped;
  }

  /** Read a layout's journal (an empty one when there is none). Writes nothing. */
  static open(layoutDir: string): Journal {
    return new Journal(layoutDir);
  }

  get layerCount(): number {
    return this.layers.size;
  }

  layer(key: string): LayerResult | undefined {
    return this.layers.get(key);
  }

  image(key: string): ExportedImage | undefined {
    return this.images.get(key);
  }

  appendLayer(key: string, root: string, result: LayerResult): void {
    const { reused: _reused, ...rest } = result;
    const clean: LayerResult = rest;
    if (this.layers.has(key) && JSON.stringify(this.layers.get(key)) === JSON.stringify(clean)) return;
    this.layers.set(key, clean);
    this.append({ t: 'layer', k: key, root, id: result.id, result: clean });
  }

  appendImage(key: string, root: string, image: ExportedImage): void {
    if (this.images.has(key) && JSON.stringify(this.images.get(key)) === JSON.stringify(image)) return;
    this.images.set(key, image);
    this.append({ t: 'image', k: key, root, id: image.legacyId, image });
  }

  private append(record: LayerRecord | ImageRecord): void {
    if (this.fd === null) {
      const dir = dirname(this.path);
      const created = mkdirSync(dir, { recursive: true });
      this.fd = openSync(this.path, fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT, 0o644);
      if (created !== undefined) fsyncDir(dirname(dir));
      fsyncDir(dir);
    }
    const line = `${this.needsNewline ? '\n' : ''}${JSON.stringify(record)}\n`;
    this.needsNewline = false;
    const buf = Buffer.from(line, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
    fsyncSync(this.fd);
    this.appended++;
  }

  close(): void {
    if (this.fd !== null) {
      closeSync(this.fd);
      this.fd = null;
    }
  }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, fsc.O_RDONLY | fsc.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
