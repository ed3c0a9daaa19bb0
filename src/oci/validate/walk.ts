// The walk from index.json through nested indexes to image manifests, their configs and
// layers. Documents are read and checked in this thread; layer blobs are queued on the pool
// and settled afterwards (settleLayers), in walk order so the report is deterministic.
import type { BlobResult } from './blob-check.js';
import { checkConfig, type ConfigInfo } from './config.js';
import { type Context, isObject } from './context.js';
import { checkDescriptor, type Descriptor } from './descriptor.js';
import { blobPath } from './digest.js';
import { documentKind, layerType, MT, type Compression, type DocKind } from './media-types.js';
import { isValidRefName, REF_NAME } from './refname.js';
import type { Where } from './report.js';

const CONTAINERD_NAME = 'io.containerd.image.name';

/** The index.json entry a document was reached from. */
interface Origin {
  ref?: string;
  names: string[];
}

interface BlobJob {
  promise: Promise<BlobResult>;
  desc: Descriptor;
  rel: string;
  where: Where;
  /** for layers: what the media type says, and the config's diff_id at this position */
  compression?: Compression;
  foreign?: boolean;
  expectedDiffID?: string;
  label: string;
}

export class Walker {
  private readonly jobs: BlobJob[] = [];

  constructor(private readonly ctx: Context) {}

  /** index.json: the top of the layout. */
  async walkTop(json: unknown): Promise<void> {
    const { ctx } = this;
    const where: Where = { file: 'index.json' };
    if (isObject(json) && json.mediaType !== undefined && json.mediaType !== MT.ociIndex) {
      if (json.mediaType === MT.dockerList) ctx.rep.add('docker-media-type', `index.json mediaType is the Docker manifest list type`, where);
      else ctx.rep.add('index-media-type', `index.json mediaType is ${JSON.stringify(json.mediaType)}, must be ${MT.ociIndex}`, where);
    }
    await this.walkIndex(json, where, [], undefined);
  }

  private async walkIndex(json: unknown, where: Where, stack: string[], origin: Origin | undefined): Promise<void> {
    const { ctx } = this;
    const isTop = origin === undefined;
    ctx.counters.indexes++;
    if (!isObject(json)) {
      ctx.rep.add('json-schema', 'an image index must be a JSON object', where);
      return;
    }
    if (json.schemaVersion !== 2) ctx.rep.add('schema-version', `schemaVersion is ${JSON.stringify(json.schemaVersion) ?? 'missing'}, must be 2`, where);
    if (!Array.isArray(json.manifests)) {
      ctx.rep.add('json-schema', 'manifests is required and must be an array', where);
      return;
    }
    const names = new Set<string>();
    const dockerEntries: string[] = [];
    let selected = 0;
    for (const [i, entry] of json.manifests.entries()) {
      const field = `manifests[${i}]`;
      let entryOrigin = origin;
      if (isTop) {
        const ann = isObject(entry) && isObject(entry.annotations) ? entry.annotations : {};
        const ref = typeof ann[REF_NAME] === 'string' ? (ann[REF_NAME] as string) : undefined;
        if (ctx.opts.ref !== undefined && ref !== ctx.opts.ref) continue;
        selected++;
        const at: Where = { ...where, ...(isObject(entry) && typeof entry.digest === 'string' && { digest: entry.digest }) };
        if (ref === undefined) ctx.rep.add('refname-missing', `${field} has no ${REF_NAME} annotation (reachable only by position)`, at);
        else {
          if (!isValidRefName(ref)) ctx.rep.add('refname-grammar', `${field} ref.name ${JSON.stringify(ref)} is outside the annotation grammar`, { ...at, ref });
          if (names.has(ref)) ctx.rep.add('refname-duplicate', `${field} ref.name ${JSON.stringify(ref)} is already used by an earlier entry`, { ...at, ref });
          names.add(ref);
        }
        const full = typeof ann[CONTAINERD_NAME] === 'string' ? (ann[CONTAINERD_NAME] as string) : undefined;
        entryOrigin = { ...(ref !== undefined && { ref }), names: [ref, full].filter((n): n is string => n !== undefined) };
      }
      const desc = checkDescriptor(ctx, entry, field, { ...where, ...(entryOrigin?.ref !== undefined && { ref: entryOrigin.ref }) });
      if (!desc || !entryOrigin) continue;
      if (documentKind(desc.mediaType)?.docker) dockerEntries.push(field);
      await this.follow(desc, field, where, stack, entryOrigin);
    }
    if (isTop && ctx.opts.ref !== undefined && selected === 0) {
      ctx.rep.add('ref-not-found', `no index.json entry has ${REF_NAME} ${JSON.stringify(ctx.opts.ref)}`, { file: 'index.json', ref: ctx.opts.ref });
    }
    if (dockerEntries.length > 0) {
      ctx.rep.add('docker-media-type', `Docker schema2 media types on ${dockerEntries.join(', ')} (containers/image finds such entries only by position, not by tag)`, where);
    }
  }

  /** Follow an index entry to the document it names. */
  private async follow(desc: Descriptor, field: string, parent: Where, stack: string[], origin: Origin): Promise<void> {
    const { ctx } = this;
    const rel = blobPath(desc.digest);
    const at: Where = { file: rel, digest: desc.digestText, ...(origin.ref !== undefined && { ref: origin.ref }) };
    const descAt: Where = { ...parent, digest: desc.digestText, ...(origin.ref !== undefined && { ref: origin.ref }) };
    if (stack.includes(desc.digestText)) {
      ctx.rep.add('index-cycle', `${field} refers back to an index that contains it`, descAt);
      return;
    }
    const described = documentKind(desc.mediaType);
    if (!described && (desc.size ?? 0) > 4 << 20) {
      ctx.rep.add('descriptor-media-type-unknown', `${field} has media type ${desc.mediaType}, not an image manifest or index; not followed`, descAt);
      this.queue(desc, at, 'hash', field);
      return;
    }
    const bytes = await ctx.readBlob(desc.digest, desc.size, at);
    if (!bytes) return;
    let json: unknown;
    if (described) json = ctx.parseJson(bytes, at);
    else {
      try {
        json = JSON.parse(bytes.toString('utf8'));
      } catch {
        json = undefined;
      }
    }
    if (json === undefined) {
      if (!described) ctx.rep.add('descriptor-media-type-unknown', `${field} has media type ${desc.mediaType}, not an image manifest or index; not followed`, descAt);
      return;
    }
    let kind: DocKind | undefined = described?.kind;
    const own = isObject(json) ? json.mediaType : undefined;
    if (own !== undefined && own !== desc.mediaType) {
      const ownKind = typeof own === 'string' ? documentKind(own) : undefined;
      if (ownKind) {
        ctx.rep.add('descriptor-media-type-mismatch', `${field} says ${desc.mediaType}, the document says ${own}`, descAt);
        kind = ownKind.kind;
      } else if (kind) {
        const rule = kind === 'manifest' ? 'manifest-media-type' : 'index-media-type';
        const want = kind === 'manifest' ? MT.ociManifest : MT.ociIndex;
        ctx.rep.add(rule, `mediaType field is ${JSON.stringify(own)}, must be ${want}`, at);
      }
    }
    if (!kind) {
      ctx.rep.add('descriptor-media-type-unknown', `${field} has media type ${desc.mediaType}, not an image manifest or index; not followed`, descAt);
      return;
    }
    if (kind === 'index') return this.walkIndex(json, at, [...stack, desc.digestText], origin);
    if (ctx.visited.has(desc.digestText)) {
      // a second tag for the same manifest: checked already, but this tag names the same image
      for (const img of ctx.images) if (img.manifestDigest === desc.digestText) img.refNames.push(...origin.names);
      return;
    }
    ctx.visited.add(desc.digestText);
    return this.walkManifest(json, desc, at, origin);
  }

  private async walkManifest(json: unknown, desc: Descriptor, where: Where, origin: Origin): Promise<void> {
    const { ctx } = this;
    ctx.counters.manifests++;
    if (!isObject(json)) {
      ctx.rep.add('json-schema', 'an image manifest must be a JSON object', where);
      return;
    }
    if (json.schemaVersion !== 2) ctx.rep.add('schema-version', `schemaVersion is ${JSON.stringify(json.schemaVersion) ?? 'missing'}, must be 2`, where);
    const dockerUses: string[] = documentKind(desc.mediaType)?.docker ? ['manifest'] : [];
    const cfg = json.config === undefined ? undefined : checkDescriptor(ctx, json.config, 'config', where);
    if (json.config === undefined) ctx.rep.add('json-schema', 'config is required', where);
    if (!Array.isArray(json.layers)) ctx.rep.add('json-schema', 'layers is required and must be an array', where);
    const layers = Array.isArray(json.layers) ? json.layers : [];
    const artifact = typeof json.artifactType === 'string' || cfg?.mediaType === MT.ociEmpty;
    const layerDescs = layers.map((l, i) => checkDescriptor(ctx, l, `layers[${i}]`, where));
    if (!artifact && Array.isArray(json.layers) && layers.length === 0) ctx.rep.add('manifest-no-layers', 'image manifest has no layers', where);
    const refAt = origin.ref !== undefined ? { ref: origin.ref } : {};

    let info: ConfigInfo | undefined;
    if (cfg) {
      const cfgAt: Where = { file: blobPath(cfg.digest), digest: cfg.digestText, ...refAt };
      const known = cfg.mediaType === MT.ociConfig || cfg.mediaType === MT.dockerConfig;
      if (artifact || !known) {
        if (!artifact) ctx.rep.add('config-media-type-unknown', `config media type ${cfg.mediaType} is not an image config`, { ...where, digest: cfg.digestText });
        this.queue(cfg, cfgAt, 'hash', 'config');
      } else {
        if (cfg.mediaType === MT.dockerConfig) dockerUses.push('config');
        ctx.counters.configs++;
        const bytes = await ctx.readBlob(cfg.digest, cfg.size, cfgAt);
        const cj = bytes && ctx.parseJson(bytes, cfgAt);
        if (cj !== undefined) info = checkConfig(ctx, cj, Array.isArray(json.layers) ? layers.length : undefined, cfgAt);
        if (info && desc.platform) checkPlatform(ctx, desc.platform, info, where);
      }
    }
    const dockerWritten = (info?.dockerWritten ?? false) || dockerUses.length > 0 || layerDescs.some((l) => l && layerType(l.mediaType)?.docker);
    const layerFiles: string[] = [];
    for (const [i, ld] of layerDescs.entries()) {
      if (!ld) continue;
      const rel = blobPath(ld.digest);
      layerFiles.push(rel);
      const lt = artifact ? undefined : layerType(ld.mediaType);
      const at: Where = { file: rel, digest: ld.digestText, ...refAt };
      if (!artifact && !lt) {
        ctx.rep.add('layer-media-type-unknown', `layers[${i}] media type ${ld.mediaType} is not a layer type any unpacker supports`, { ...where, digest: ld.digestText });
      }
      if (lt?.docker) dockerUses.push(`layers[${i}]`);
      if (lt?.foreign) ctx.rep.add('layer-nondistributable', `layers[${i}] uses the deprecated media type ${ld.mediaType}`, { ...where, digest: ld.digestText });
      const expected = info?.diffIDs?.[i];
      this.queue(ld, at, ctx.deep && lt ? 'layer' : 'hash', `layer ${i}`, {
        compression: lt?.compression,
        foreign: lt?.foreign,
        expectedDiffID: expected,
        dockerWritten,
      });
    }
    if (dockerUses.length > 0 && !artifact) {
      ctx.rep.add('docker-media-type', `Docker schema2 media types for ${dockerUses.join(', ')}`, where);
    }
    if (cfg && !artifact) {
      ctx.images.push({ manifestDigest: desc.digestText, refNames: [...origin.names], configDigest: cfg.digestText, layerFiles });
    }
  }

  private queue(
    desc: Descriptor,
    where: Where,
    mode: 'hash' | 'layer',
    label: string,
    layer: { compression?: Compression; foreign?: boolean; expectedDiffID?: string; dockerWritten?: boolean } = {},
  ): void {
    const rel = blobPath(desc.digest);
    this.ctx.referenced.add(rel);
    const diffIdAlgorithm = layer.expectedDiffID?.startsWith('sha512:') ? 'sha512' : 'sha256';
    const promise = this.ctx.checkBlob(rel, desc.digest, { mode, diffIdAlgorithm, dockerWritten: layer.dockerWritten ?? false });
    this.jobs.push({ promise, desc, rel, where, label, compression: layer.compression, foreign: layer.foreign, expectedDiffID: layer.expectedDiffID });
  }

  /** Wait for the queued blob checks and report their findings, in walk order. */
  async settle(): Promise<void> {
    const results = await Promise.all(this.jobs.map((j) => j.promise));
    const bad = new Set<string>();
    const done = new Set<string>();
    for (const [n, job] of this.jobs.entries()) {
      const r = results[n];
      if (!done.has(job.rel)) {
        done.add(job.rel);
        if (!reportBlob(this.ctx, job, r)) bad.add(job.rel);
      }
      const diffID = r.layer?.diffID;
      if (!bad.has(job.rel) && diffID !== undefined && job.expectedDiffID !== undefined && diffID !== job.expectedDiffID) {
        this.ctx.rep.add('diffid-mismatch', `${job.label}: uncompressed content hashes to ${diffID}, config diff_ids says ${job.expectedDiffID}`, job.where);
      }
    }
  }
}

/** Report blob-level findings once per blob; false when its content is not the described one. */
function reportBlob(ctx: Context, job: BlobJob, r: BlobResult): boolean {
  const { rep } = ctx;
  const at = job.where;
  if (r.readError) {
    if (r.readError.code === 'ENOENT' && job.foreign && job.desc.urls.length > 0) {
      rep.add('blob-external', `nondistributable layer is not in the layout (urls: ${job.desc.urls.join(' ')})`, at);
    } else if (r.readError.code === 'ENOENT') rep.add('blob-missing', `blob ${job.rel} is missing`, at);
    else rep.add('blob-unreadable', `blob ${job.rel} cannot be read: ${r.readError.code}`, at);
    return false;
  }
  if (job.desc.size !== undefined && r.size !== job.desc.size) rep.add('blob-size', `descriptor size is ${job.desc.size}, blob has ${r.size} bytes`, at);
  if (r.digest !== job.desc.digestText) {
    rep.add('blob-digest', `content hashes to ${r.digest}${r.layer ? '; layer content not checked further' : ''}`, at);
    return false;
  }
  const layer = r.layer;
  if (!layer) return true;
  let mismatch = false;
  if (job.compression === 'gzip' && layer.format !== 'gzip') {
    rep.add('layer-not-gzip', `media type ${job.desc.mediaType} but the data is ${describeFormat(layer.format)}`, at);
    mismatch = true;
  } else if (job.compression === 'zstd' && layer.format !== 'zstd') {
    rep.add('layer-not-zstd', `media type ${job.desc.mediaType} but the data is ${describeFormat(layer.format)}`, at);
    mismatch = true;
  } else if (job.compression === 'none' && layer.format !== 'tar') {
    rep.add('layer-not-tar', `media type ${job.desc.mediaType} (uncompressed) but the data is ${describeFormat(layer.format)}`, at);
    mismatch = true;
  }
  if (layer.zstdUnavailable) {
    rep.add('zstd-unavailable', `zstd layer not deep-checked: cannot run '${ctx.opts.zstdCommand ?? 'zstd'}' (install zstd); digest and size were checked`, at);
  } else if (layer.decodeError !== undefined) {
    if (!mismatch || layer.format === 'gzip' || layer.format === 'zstd') rep.add('layer-decompress', layer.decodeError, at);
  }
  for (const f of layer.findings) rep.add(f.rule, f.message, f.path === undefined ? at : { ...at, path: f.path }, f.severity);
  if (layer.diffID !== undefined) ctx.layerOutcomes.set(job.rel, { diffID: layer.diffID });
  return true;
}

function describeFormat(f: string): string {
  return f === 'tar' ? 'not compressed (plain tar or unknown)' : `${f} data`;
}

function checkPlatform(ctx: Context, platform: Record<string, unknown>, info: ConfigInfo, where: Where): void {
  const diffs: string[] = [];
  for (const k of ['os', 'architecture', 'variant'] as const) {
    const p = platform[k];
    if (typeof p === 'string' && info[k] !== undefined && p !== info[k]) diffs.push(`${k} ${p} vs ${info[k]}`);
  }
  if (diffs.length > 0) ctx.rep.add('platform-mismatch', `descriptor platform differs from the config: ${diffs.join(', ')}`, where);
}
