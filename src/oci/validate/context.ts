// State shared by the walk over one layout: options, findings, the set of referenced blobs,
// the blob-check queue and counters.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Reporter, type Where } from './report.js';
import type { BlobChecker } from './pool.js';
import type { BlobResult, BlobTask } from './blob-check.js';
import { blobPath, formatDigest, type ParsedDigest } from './digest.js';
import type { ValidateOptions } from './types.js';

/** JSON documents larger than this are not read (registries cap manifests at 4 MiB). */
export const MAX_DOCUMENT = 64 << 20;

export interface ImageSummary {
  manifestDigest: string;
  /** ref.name and io.containerd.image.name of the index.json entry it was reached from */
  refNames: string[];
  configDigest: string;
  layerFiles: string[];
}

export interface LayerOutcome {
  /** the blob's bytes match its digest and the layer could be decompressed */
  diffID?: string;
}

export class Context {
  readonly rep = new Reporter();
  readonly referenced = new Set<string>();
  /** digests of documents already walked (a manifest shared by two tags is checked once) */
  readonly visited = new Set<string>();
  readonly images: ImageSummary[] = [];
  /** layer blob rel path -> what the deep check found (filled after the layer jobs settle) */
  readonly layerOutcomes = new Map<string, LayerOutcome>();
  readonly deep: boolean;
  readonly counters = { indexes: 0, manifests: 0, configs: 0, layers: 0, blobs: 0, bytesRead: 0, uncompressedBytes: 0, tarEntries: 0 };
  private readonly tasks = new Map<string, Promise<BlobResult>>();

  constructor(readonly root: string, readonly opts: ValidateOptions, readonly checker: BlobChecker) {
    this.deep = opts.deep ?? true;
  }

  abs(rel: string): string {
    return join(this.root, rel);
  }

  /** Queue a blob check; the same blob with the same task is checked once. */
  checkBlob(rel: string, d: ParsedDigest, task: Omit<BlobTask, 'file' | 'algorithm' | 'zstdCommand' | 'maxFindingsPerRule'>): Promise<BlobResult> {
    const key = `${rel}|${task.mode}|${task.diffIdAlgorithm ?? ''}|${task.dockerWritten ?? false}`;
    let p = this.tasks.get(key);
    if (!p) {
      p = this.checker
        .check({
          file: this.abs(rel),
          algorithm: d.algorithm,
          zstdCommand: this.opts.zstdCommand,
          maxFindingsPerRule: this.opts.maxFindingsPerRule,
          ...task,
        })
        .then((r) => {
          this.counters.blobs++;
          this.counters.bytesRead += r.size;
          if (r.layer) {
            this.counters.layers++;
            this.counters.uncompressedBytes += r.layer.uncompressedSize;
            this.counters.tarEntries += r.layer.entries;
          }
          return r;
        });
      this.tasks.set(key, p);
    }
    return p;
  }

  /**
   * Read a small referenced blob (index, manifest, config) in this thread and verify its size and
   * digest. Returns the bytes, or undefined when it is missing or unreadable (already reported).
   */
  async readBlob(d: ParsedDigest, size: number | undefined, where: Where): Promise<Buffer | undefined> {
    const rel = blobPath(d);
    this.referenced.add(rel);
    const at: Where = { ...where, file: rel, digest: formatDigest(d) };
    let bytes: Buffer;
    try {
      const st = await stat(this.abs(rel));
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EISDIR' });
      if (st.size > MAX_DOCUMENT) {
        this.rep.add('json-invalid', `blob is ${st.size} bytes, too large for a JSON document`, at);
        return undefined;
      }
      bytes = await readFile(this.abs(rel));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') this.rep.add('blob-missing', `blob ${rel} is missing`, at);
      else this.rep.add('blob-unreadable', `blob ${rel} cannot be read: ${code ?? (err as Error).message}`, at);
      return undefined;
    }
    this.counters.blobs++;
    this.counters.bytesRead += bytes.length;
    if (size !== undefined && bytes.length !== size) {
      this.rep.add('blob-size', `descriptor size is ${size}, blob has ${bytes.length} bytes`, at);
    }
    const actual = `${d.algorithm}:${createHash(d.algorithm).update(bytes).digest('hex')}`;
    if (actual !== formatDigest(d)) this.rep.add('blob-digest', `content hashes to ${actual}`, at);
    return bytes;
  }

  /** Parse JSON, reporting json-invalid. */
  parseJson(bytes: Buffer, where: Where): unknown {
    try {
      return JSON.parse(bytes.toString('utf8'));
    } catch (err) {
      this.rep.add('json-invalid', `not valid JSON: ${(err as Error).message}`, where);
      return undefined;
    }
  }
}

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
