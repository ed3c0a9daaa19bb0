// `manifest.json` of `docker save` (read by docker load, podman load fallback, skopeo
// docker-archive:), when a layout carries one: shape, files present and inside the layout,
// RepoTags, layer count and diffIDs against the config, and agreement with index.json.
import { createHash } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import type { BlobResult } from './blob-check.js';
import { type Context, isObject } from './context.js';
import { isParsed, parseDigest } from './digest.js';
import { normalisePath } from './layer-rules.js';
import type { Where } from './report.js';

const FILE = 'manifest.json';
/** docker's reference grammar, loosely: name[:port]/path:tag (no digest references in RepoTags) */
const REPO_TAG = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const HOSTED = /^[a-z0-9.-]+(?::[0-9]+)?\//;

/** Returns false when there is no manifest.json. */
export async function checkDockerManifest(ctx: Context): Promise<boolean> {
  let bytes: Buffer;
  try {
    bytes = await readFile(ctx.abs(FILE));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    ctx.rep.add('docker-manifest-file', `manifest.json cannot be read: ${(err as NodeJS.ErrnoException).code}`, { file: FILE });
    return true;
  }
  const json = ctx.parseJson(bytes, { file: FILE });
  if (json === undefined) return true;
  if (!Array.isArray(json)) {
    ctx.rep.add('docker-manifest-invalid', 'manifest.json must be an array of {Config, RepoTags, Layers}', { file: FILE });
    return true;
  }
  for (const [i, item] of json.entries()) await checkItem(ctx, item, `[${i}]`);
  return true;
}

async function checkItem(ctx: Context, item: unknown, field: string): Promise<void> {
  const where: Where = { file: FILE };
  const rep = ctx.rep;
  if (!isObject(item) || typeof item.Config !== 'string' || !Array.isArray(item.Layers) || item.Layers.some((l) => typeof l !== 'string')) {
    rep.add('docker-manifest-invalid', `${field} needs Config (string) and Layers (array of strings)`, where);
    return;
  }
  const tags: string[] = [];
  if (item.RepoTags !== undefined && item.RepoTags !== null) {
    if (!Array.isArray(item.RepoTags)) rep.add('docker-manifest-invalid', `${field}.RepoTags must be an array`, where);
    else {
      for (const t of item.RepoTags) {
        if (typeof t === 'string' && REPO_TAG.test(t)) tags.push(t);
        else rep.add('docker-manifest-repotag', `${field}.RepoTags entry ${JSON.stringify(t)} is not name:tag`, { ...where, ref: String(t) });
      }
    }
  }
  const layers = item.Layers as string[];
  const configRel = await existing(ctx, item.Config, `${field}.Config`);
  const layerRels = await Promise.all(layers.map((l, j) => existing(ctx, l, `${field}.Layers[${j}]`)));
  if (configRel === undefined) return;
  const configBytes = await readFile(ctx.abs(configRel));
  // a blob is known by its name (the OCI side reports a content mismatch); other files by content
  const named = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(configRel);
  const configDigest = named ? `${named[1]}:${named[2]}` : `sha256:${createHash('sha256').update(configBytes).digest('hex')}`;
  const cfgAt: Where = { file: configRel, digest: configDigest };

  // Does index.json describe the same image? Then the OCI side already checked count and diffIDs.
  const same = ctx.images.find((img) => img.configDigest === configDigest && sameList(img.layerFiles, layerRels));
  if (!same) {
    let config: unknown;
    try {
      config = JSON.parse(configBytes.toString('utf8'));
    } catch (err) {
      if (!ctx.images.some((img) => img.configDigest === configDigest)) rep.add('json-invalid', `not valid JSON: ${(err as Error).message}`, cfgAt);
      return;
    }
    const rootfs = isObject(config) && isObject(config.rootfs) ? config.rootfs : undefined;
    const diffIDs = rootfs && Array.isArray(rootfs.diff_ids) ? rootfs.diff_ids : undefined;
    if (!diffIDs) {
      rep.add('docker-manifest-invalid', `${field}.Config ${configRel} has no rootfs.diff_ids`, cfgAt);
    } else {
      if (diffIDs.length !== layers.length) {
        rep.add('docker-manifest-layer-count', `${field} lists ${layers.length} layers, its config has ${diffIDs.length} diff_ids (docker load: layers length mismatch)`, where);
      }
      if (ctx.deep) await checkDiffIDs(ctx, field, layerRels, diffIDs);
    }
  }
  for (const tag of tags) {
    const entries = matchingImages(ctx, tag);
    if (entries.length > 0 && !entries.some((img) => img.configDigest === configDigest)) {
      rep.add('docker-manifest-config', `${tag}: manifest.json has config ${configDigest}, index.json has ${entries.map((e) => e.configDigest).join(', ')}`, { ...where, ref: tag });
    }
  }
}

/** A path named in manifest.json: inside the layout and present; marks it referenced. */
async function existing(ctx: Context, p: string, field: string): Promise<string | undefined> {
  const n = normalisePath(p);
  if (n.key === undefined || n.key === '') {
    ctx.rep.add('docker-manifest-file', `${field} ${JSON.stringify(p)} is outside the layout`, { file: FILE });
    return undefined;
  }
  try {
    if (!(await stat(ctx.abs(n.key))).isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
  } catch (err) {
    // a blob the OCI side already reported missing is one defect, not two
    if (!ctx.rep.hasFile('blob-missing', n.key)) {
      ctx.rep.add('docker-manifest-file', `${field} ${n.key} is missing (${(err as NodeJS.ErrnoException).code})`, { file: FILE });
    }
    return undefined;
  }
  ctx.referenced.add(n.key);
  return n.key;
}

async function checkDiffIDs(ctx: Context, field: string, layerRels: (string | undefined)[], diffIDs: unknown[]): Promise<void> {
  const n = Math.min(layerRels.length, diffIDs.length);
  for (let j = 0; j < n; j++) {
    const rel = layerRels[j];
    const want = diffIDs[j];
    if (rel === undefined || typeof want !== 'string') continue;
    let got = ctx.layerOutcomes.get(rel)?.diffID;
    if (got === undefined) {
      // a layer file the OCI side did not check (e.g. <id>/layer.tar of an old docker save)
      const r: BlobResult = await ctx.checkBlob(rel, { algorithm: 'sha256', hex: '' }, { mode: 'layer', dockerWritten: true });
      if (r.readError || !r.layer) continue;
      const at: Where = { file: rel };
      for (const f of r.layer.findings) ctx.rep.add(f.rule, f.message, f.path === undefined ? at : { ...at, path: f.path }, f.severity);
      if (r.layer.zstdUnavailable || r.layer.decodeError !== undefined) {
        ctx.rep.add('docker-manifest-diffid', `${field}.Layers[${j}] ${rel} could not be decompressed here (${r.layer.decodeError ?? 'no zstd'}); diffID not verified`, at, 'warning');
        continue;
      }
      got = r.layer.diffID;
    }
    const parsed = parseDigest(want);
    if (got !== undefined && isParsed(parsed) && got !== want) {
      ctx.rep.add('docker-manifest-diffid', `${field}.Layers[${j}] ${rel} has diffID ${got}, config diff_ids[${j}] says ${want} (docker load rejects this)`, { file: FILE, path: rel });
    }
  }
}

function sameList(a: string[], b: (string | undefined)[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** index.json images a RepoTag names: full name in ref.name or io.containerd.image.name, else a unique bare tag. */
function matchingImages(ctx: Context, tag: string): Context['images'] {
  const full = new Set([tag, HOSTED.test(tag) ? tag : `docker.io/${tag.includes('/') ? tag : `library/${tag}`}`]);
  const byName = ctx.images.filter((img) => img.refNames.some((n) => full.has(n)));
  if (byName.length > 0) return byName;
  const bare = tag.slice(tag.lastIndexOf(':') + 1);
  const byTag = ctx.images.filter((img) => img.refNames.includes(bare));
  return byTag.length === 1 ? byTag : [];
}
