// OCI manifest, index and docker-save documents, as canonical bytes: fixed key order, annotation
// keys sorted, no whitespace, no trailing newline. The same inputs always give the same bytes,
// and the same set of images gives the same index.json whatever order they were exported in.
// Spec: image-spec v1.1 (docs/oci-and-consumers.md §6.2–6.5, §7.2).

import { createHash } from 'node:crypto';
import { OutputError, RefError } from '../errors.js';
import { DIGEST_RE, ID_RE } from '../ids.js';
import { splitReference } from '../reference-split.js';
import { compareUtf8, validateJson } from './gojson.js';
import { MEDIA_TYPES } from './media-types.js';

// ---------------------------------------------------------------------------------------------
// Annotations
// ---------------------------------------------------------------------------------------------

/**
 * Our own annotation namespace: `io.github.legacy2oci.` (reverse-DNS of the project's home; the
 * `org.opencontainers` prefix is reserved by the spec). Keys:
 *   io.github.legacy2oci.layer.id               on a layer descriptor: the legacy v1 layer id (64 hex)
 *   io.github.legacy2oci.layer.registry-digest  on a layer descriptor: graph/<id>/checksum, when it
 *                                               is a sha256 digest (the registry's compressed blob)
 *   io.github.legacy2oci.layer.source           on a layer descriptor: "tar-split" | "regenerated"
 *   io.github.legacy2oci.image.id               on manifest and index entry: the legacy v1 id of the top image
 *   io.github.legacy2oci.docker.image-id        on manifest and index entry: the Docker 1.10 image ID
 *                                               (sha256 of Docker's config bytes)
 *   io.github.legacy2oci.config.fixed           on a manifest: what was changed to make Docker's config a
 *                                               valid OCI config ("; "-separated); absent = config digest is
 *                                               the Docker image ID
 */
export const L2O_ANNOTATION_PREFIX = 'io.github.legacy2oci.';

export const ANNOTATIONS = {
  refName: 'org.opencontainers.image.ref.name',
  containerdName: 'io.containerd.image.name',
  layerId: `${L2O_ANNOTATION_PREFIX}layer.id`,
  registryDigest: `${L2O_ANNOTATION_PREFIX}layer.registry-digest`,
  layerSource: `${L2O_ANNOTATION_PREFIX}layer.source`,
  legacyImageId: `${L2O_ANNOTATION_PREFIX}image.id`,
  dockerImageId: `${L2O_ANNOTATION_PREFIX}docker.image-id`,
  configFixed: `${L2O_ANNOTATION_PREFIX}config.fixed`,
} as const;

// ---------------------------------------------------------------------------------------------
// Descriptors
// ---------------------------------------------------------------------------------------------

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  platform?: Platform;
  annotations?: Record<string, string>;
}

function checkDigest(digest: string, what: string): void {
  if (!DIGEST_RE.test(digest)) throw new OutputError('E_DIGEST_INVALID', `${what}: digest must be sha256:<64 lowercase hex>, got ${JSON.stringify(digest)}`);
}

function checkSize(size: number, what: string): void {
  if (!Number.isSafeInteger(size) || size < 0) throw new OutputError('E_SIZE_INVALID', `${what}: size must be a non-negative integer, got ${size}`);
}

/** Annotations without empty-valued optional entries; undefined when none remain. */
function annotationsOf(pairs: Array<[string, string | undefined]>, extra: Record<string, string> = {}): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  let any = false;
  for (const [k, v] of [...Object.entries(extra), ...pairs]) {
    if (v === undefined) continue;
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
    any = true;
  }
  return any ? out : undefined;
}

/** A validated descriptor. */
export function descriptor(mediaType: string, digest: string, size: number, extra: { annotations?: Record<string, string>; platform?: Platform; urls?: string[] } = {}): Descriptor {
  checkDigest(digest, mediaType);
  checkSize(size, mediaType);
  const d: Descriptor = { mediaType, digest, size };
  if (extra.urls?.length) d.urls = [...extra.urls];
  if (extra.platform) d.platform = extra.platform;
  const ann = extra.annotations ? annotationsOf([], extra.annotations) : undefined;
  if (ann) d.annotations = ann;
  return d;
}

/** The descriptor of a blob given as bytes (config, manifest). */
export function descriptorOf(mediaType: string, bytes: Uint8Array, extra: Parameters<typeof descriptor>[3] = {}): Descriptor {
  return descriptor(mediaType, 'sha256:' + createHash('sha256').update(bytes).digest('hex'), bytes.byteLength, extra);
}

/** graph/<id>/checksum content → the registry digest, when it is a plain sha256 digest (tarsums are ignored). */
export function registryDigestFromChecksum(checksum: string | Buffer | null | undefined): string | undefined {
  if (checksum === null || checksum === undefined) return undefined;
  const s = (typeof checksum === 'string' ? checksum : checksum.toString('latin1')).trim();
  return DIGEST_RE.test(s) ? s : undefined;
}

export interface LayerDescriptorInput {
  mediaType: string;
  digest: string;
  size: number;
  /** legacy v1 layer id */
  legacyId?: string;
  /** raw content of graph/<id>/checksum, if any */
  checksum?: string | Buffer | null;
  source?: 'tar-split' | 'regenerated';
}

export function layerDescriptor(l: LayerDescriptorInput): Descriptor {
  if (l.legacyId !== undefined && !ID_RE.test(l.legacyId)) throw new OutputError('E_ID_INVALID', `layer id is not 64 hex: ${JSON.stringify(l.legacyId)}`);
  const annotations = annotationsOf([
    [ANNOTATIONS.layerId, l.legacyId],
    [ANNOTATIONS.registryDigest, registryDigestFromChecksum(l.checksum)],
    [ANNOTATIONS.layerSource, l.source],
  ]);
  return descriptor(l.mediaType, l.digest, l.size, annotations ? { annotations } : {});
}

// ---------------------------------------------------------------------------------------------
// Canonical JSON
// ---------------------------------------------------------------------------------------------

/** A JSON object whose member order is given, so integer-like keys are not reordered by JS. */
class Obj {
  constructor(readonly entries: Array<[string, Json]>) {}
}
type Json = string | number | boolean | null | Json[] | Obj;

function stringify(j: Json): string {
  if (j instanceof Obj) return `{${j.entries.map(([k, v]) => `${JSON.stringify(k)}:${stringify(v)}`).join(',')}}`;
  if (Array.isArray(j)) return `[${j.map(stringify).join(',')}]`;
  return JSON.stringify(j);
}

function ownKeys(o: object): string[] {
  return Object.keys(o);
}

function get(o: object, k: string): unknown {
  return Object.hasOwn(o, k) ? (o as Record<string, unknown>)[k] : undefined;
}

/** Any JSON value (e.g. from JSON.parse) with object keys in byte order, recursively. */
function sortedJson(v: unknown): Json {
  if (v === null || typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (Array.isArray(v)) return v.map(sortedJson);
  if (typeof v === 'object') return new Obj(ownKeys(v).sort(compareUtf8).map((k) => [k, sortedJson(get(v, k))]));
  return null;
}

/** An object with some keys first in a fixed order, the rest in byte order. */
function orderedJson(v: object, first: readonly string[], nested: Record<string, (x: unknown) => Json> = {}): Obj {
  const keys = ownKeys(v).filter((k) => get(v, k) !== undefined);
  const known = first.filter((k) => keys.includes(k));
  const rest = keys.filter((k) => !first.includes(k)).sort(compareUtf8);
  return new Obj([...known, ...rest].map((k) => [k, Object.hasOwn(nested, k) ? nested[k](get(v, k)) : sortedJson(get(v, k))]));
}

const DESCRIPTOR_ORDER = ['mediaType', 'artifactType', 'digest', 'size', 'urls', 'data', 'platform', 'annotations'];
const PLATFORM_ORDER = ['architecture', 'os', 'os.version', 'os.features', 'variant', 'features'];

function descriptorJson(d: object): Obj {
  return orderedJson(d, DESCRIPTOR_ORDER, {
    platform: (p) => (p !== null && typeof p === 'object' && !Array.isArray(p) ? orderedJson(p, PLATFORM_ORDER) : sortedJson(p)),
  });
}

/** One descriptor as canonical JSON text. */
export function canonicalDescriptor(d: Descriptor | object): string {
  return stringify(descriptorJson(d));
}

// ---------------------------------------------------------------------------------------------
// Manifest
// ---------------------------------------------------------------------------------------------

export interface ManifestInput {
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** An OCI image manifest: schemaVersion, mediaType, config, layers (base first), annotations?. */
export function buildManifest(m: ManifestInput): Buffer {
  const entries: Array<[string, Json]> = [
    ['schemaVersion', 2],
    ['mediaType', MEDIA_TYPES.ociManifest],
    ['config', descriptorJson(m.config)],
    ['layers', m.layers.map(descriptorJson)],
  ];
  const ann = m.annotations ? annotationsOf([], m.annotations) : undefined;
  if (ann) entries.push(['annotations', sortedJson(ann)]);
  return Buffer.from(stringify(new Obj(entries)), 'utf8');
}

/** The annotations we put on a manifest. */
export function manifestAnnotations(a: { legacyId?: string; dockerImageId?: string; configFixed?: string[] }): Record<string, string> {
  return annotationsOf([
    [ANNOTATIONS.legacyImageId, a.legacyId],
    [ANNOTATIONS.dockerImageId, a.dockerImageId],
    [ANNOTATIONS.configFixed, a.configFixed?.length ? a.configFixed.join('; ') : undefined],
  ]) ?? {};
}

// ---------------------------------------------------------------------------------------------
// References and names (Docker's normalisation: distribution/reference normalize.go)
// ---------------------------------------------------------------------------------------------

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';

export interface ParsedReference {
  domain: string;
  /** repository path inside the domain, e.g. library/busybox */
  path: string;
  tag?: string;
  digest?: string;
}

/**
 * Split a reference into domain, path, tag and digest the way Docker normalises names: the first
 * component is a registry host only if it contains "." or ":", is "localhost", or has uppercase;
 * otherwise the domain is docker.io, and a single-component path gets "library/".
 */
export function parseReference(ref: string): ParsedReference {
  const { name: rest, tag, digest } = splitReference(ref);
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let domain: string;
  let path: string;
  if (slash < 0 || (!/[.:]/.test(first) && first !== 'localhost' && first.toLowerCase() === first)) {
    domain = DEFAULT_DOMAIN;
    path = rest;
  } else {
    domain = first;
    path = rest.slice(slash + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

function suffix(r: ParsedReference): string {
  return (r.tag !== undefined ? `:${r.tag}` : '') + (r.digest !== undefined ? `@${r.digest}` : '');
}

/** `busybox` → `docker.io/library/busybox`; `training/webapp:latest` → `docker.io/training/webapp:latest`; `localhost:5000/x` unchanged. */
export function fullyQualify(name: string): string {
  const r = parseReference(name);
  return `${r.domain}/${r.path}${suffix(r)}`;
}

/** The short form Docker shows: `docker.io/library/busybox` → `busybox`, `index.docker.io/a/b` → `a/b`. */
export function familiarName(name: string): string {
  const r = parseReference(name);
  let short = `${r.domain}/${r.path}`;
  if (r.domain === DEFAULT_DOMAIN) {
    short = r.path.startsWith(OFFICIAL_REPO_PREFIX) && !r.path.slice(OFFICIAL_REPO_PREFIX.length).includes('/') ? r.path.slice(OFFICIAL_REPO_PREFIX.length) : r.path;
  }
  return short + suffix(r);
}

// org.opencontainers.image.ref.name grammar (annotations.md):
//   ref ::= component ("/" component)*;  component ::= alphanum (separator alphanum)*
//   alphanum ::= [A-Za-z0-9]+;  separator ::= [-._:@+] | "--"
const REF_COMPONENT = '[A-Za-z0-9]+(?:(?:--|[-._:@+])[A-Za-z0-9]+)*';
const REF_NAME_RE = new RegExp(`^${REF_COMPONENT}(?:/${REF_COMPONENT})*$`);

export function refNameIsValid(name: string): boolean {
  return REF_NAME_RE.test(name);
}

// ---------------------------------------------------------------------------------------------
// Index
// ---------------------------------------------------------------------------------------------

export interface IndexEntryParams {
  /** the manifest blob */
  manifestDigest: string;
  manifestSize: number;
  /** a whole reference, `repo:tag` or `repo@sha256:…` (instead of name + tag/digest) */
  ref?: string;
  /** repository name as stored in the legacy root (`training/webapp`, `localhost:5000/x/y`), if tagged */
  name?: string;
  /** the tag, or … */
  tag?: string;
  /** … a digest reference (`sha256:…` keys of repositories-<driver>) */
  digest?: string;
  legacyId?: string;
  dockerImageId?: string;
  platform: Platform;
}

/** What mergeIndex takes: index entries as built by buildIndexEntry (manifest descriptors). */
export type IndexEntryInput = Descriptor;

/**
 * A manifest descriptor for index.json. For a tagged image: `org.opencontainers.image.ref.name` =
 * familiar `repo:tag` (e.g. `training/webapp:latest`; `name@sha256:…` for digest references) and
 * `io.containerd.image.name` = the fully qualified form (`docker.io/training/webapp:latest`).
 * Throws E_REF_INVALID when the ref.name would break the OCI grammar (e.g. `a__b`).
 */
export function buildIndexEntry(params: IndexEntryParams): Descriptor {
  const p = params.ref !== undefined ? { ...params, ...splitReference(params.ref) } : params;
  if (params.ref !== undefined && p.tag === undefined && p.digest === undefined) {
    throw new RefError('E_REF_INVALID', `${params.ref}: a reference needs a tag or a digest`);
  }
  let refName: string | undefined;
  let fullName: string | undefined;
  if (p.name !== undefined) {
    if ((p.tag === undefined) === (p.digest === undefined)) throw new RefError('E_REF_INVALID', `${p.name}: an index entry needs exactly one of tag or digest`);
    const r = parseReference(p.name);
    if (r.tag !== undefined || r.digest !== undefined) throw new RefError('E_REF_INVALID', `${p.name}: give the repository name without tag or digest`);
    const ref = p.tag !== undefined ? `:${p.tag}` : `@${p.digest}`;
    refName = familiarName(p.name) + ref;
    fullName = fullyQualify(p.name) + ref;
    if (!refNameIsValid(refName)) throw new RefError('E_REF_INVALID', `${refName}: not a valid org.opencontainers.image.ref.name (OCI grammar); rename the image`);
  }
  const annotations = annotationsOf([
    [ANNOTATIONS.refName, refName],
    [ANNOTATIONS.containerdName, fullName],
    [ANNOTATIONS.legacyImageId, p.legacyId],
    [ANNOTATIONS.dockerImageId, p.dockerImageId],
  ]);
  return descriptor(MEDIA_TYPES.ociManifest, p.manifestDigest, p.manifestSize, { platform: p.platform, ...(annotations ? { annotations } : {}) });
}

interface Entry {
  refName: string | undefined;
  digest: string;
  text: string;
}

function entryOf(d: unknown, where: string): Entry {
  if (d === null || typeof d !== 'object' || Array.isArray(d)) throw new OutputError('E_INDEX_INVALID', `${where}: an index entry is not an object`);
  const digest = get(d, 'digest');
  if (typeof digest !== 'string') throw new OutputError('E_INDEX_INVALID', `${where}: an index entry has no digest`);
  const ann = get(d, 'annotations');
  const ref = ann !== null && typeof ann === 'object' ? get(ann, ANNOTATIONS.refName) : undefined;
  return { refName: typeof ref === 'string' ? ref : undefined, digest, text: canonicalDescriptor(d) };
}

/** Tagged entries first, by ref.name, then by digest, then by the whole entry (byte order). */
function compareEntries(a: Entry, b: Entry): number {
  if ((a.refName === undefined) !== (b.refName === undefined)) return a.refName === undefined ? 1 : -1;
  return compareUtf8(a.refName ?? '', b.refName ?? '') || compareUtf8(a.digest, b.digest) || compareUtf8(a.text, b.text);
}

/** Does `incoming` replace `old`? Same ref.name; or both untagged with the same manifest digest. */
function replaces(incoming: Entry, old: Entry): boolean {
  if (incoming.refName !== undefined) return old.refName === incoming.refName;
  return old.refName === undefined && old.digest === incoming.digest;
}

function indexBytes(entries: Entry[], annotations: unknown): Buffer {
  const sorted = [...entries].sort(compareEntries);
  let text = `{"schemaVersion":2,"mediaType":${JSON.stringify(MEDIA_TYPES.ociIndex)},"manifests":[${sorted.map((e) => e.text).join(',')}]`;
  if (annotations !== null && typeof annotations === 'object' && ownKeys(annotations).length > 0) text += `,"annotations":${stringify(sortedJson(annotations))}`;
  return Buffer.from(text + '}', 'utf8');
}

/** An index.json holding exactly these entries (canonical order). */
export function buildIndex(entries: readonly Descriptor[], annotations?: Record<string, string>): Buffer {
  return mergeIndexWith([], annotations, entries);
}

function mergeIndexWith(existing: Entry[], annotations: unknown, incoming: readonly Descriptor[]): Buffer {
  let entries = existing;
  incoming.forEach((d, i) => {
    const e = entryOf(d, `new entry ${i}`);
    entries = entries.filter((old) => !replaces(e, old));
    entries.push(e);
  });
  return indexBytes(entries, annotations);
}

/**
 * Merge new entries into an existing index.json (null = none yet): an entry with the same
 * ref.name is replaced (a tag names one image), untagged entries are deduplicated by digest,
 * everything else is kept as it was (unknown fields included), and entries are written in one
 * canonical order, so the result depends only on the final set of entries.
 */
export function mergeIndex(existingIndexBytes: Buffer | null, newEntries: readonly IndexEntryInput[]): Buffer {
  if (existingIndexBytes === null || existingIndexBytes.length === 0) return mergeIndexWith([], undefined, newEntries);
  let parsed: unknown;
  try {
    validateJson(existingIndexBytes);
    parsed = JSON.parse(existingIndexBytes.toString('utf8'));
  } catch (err) {
    throw new OutputError('E_INDEX_INVALID', `index.json is not valid JSON (${(err as Error).message})`, 'index.json', err);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed) || get(parsed, 'schemaVersion') !== 2 || !Array.isArray(get(parsed, 'manifests'))) {
    throw new OutputError('E_INDEX_INVALID', 'index.json is not an OCI image index (schemaVersion 2 with a manifests array)', 'index.json');
  }
  const existing = (get(parsed, 'manifests') as unknown[]).map((d, i) => entryOf(d, `index.json manifests[${i}]`));
  return mergeIndexWith(existing, get(parsed, 'annotations'), newEntries);
}

// ---------------------------------------------------------------------------------------------
// docker save / docker load files
// ---------------------------------------------------------------------------------------------

export interface DockerSaveItem {
  /** config blob digest */
  config: string;
  /** familiar `name:tag` references; digest references are skipped (docker load wants name:tag) */
  repoTags: string[];
  /** layer blob digests, base first */
  layers: string[];
}

function blobPath(digest: string): string {
  checkDigest(digest, 'docker save manifest');
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}

function saveItemJson(item: DockerSaveItem): { key: string; text: string; tags: string[] } {
  const tags = [...new Set(item.repoTags.filter((t) => !t.includes('@')))].sort(compareUtf8);
  const text = stringify(new Obj([
    ['Config', blobPath(item.config)],
    ['RepoTags', tags.length ? tags : null],
    ['Layers', item.layers.map(blobPath)],
  ]));
  return { key: tags[0] ?? '\u{10ffff}', text, tags };
}

/**
 * `manifest.json` as docker load reads it: [{"Config","RepoTags","Layers"}], paths relative to
 * the layout root. Items are sorted (by first tag, then content) so the file is deterministic.
 */
export function buildDockerSaveManifest(items: readonly DockerSaveItem[]): Buffer {
  const rows = items.map(saveItemJson).sort((a, b) => compareUtf8(a.key, b.key) || compareUtf8(a.text, b.text));
  return Buffer.from(`[${rows.map((r) => r.text).join(',')}]`, 'utf8');
}

/**
 * Merge items into an existing manifest.json: an item with the same Config replaces the old one,
 * and a tag now given to another image is taken off the old one (a tag names one image).
 */
export function mergeDockerSaveManifest(existing: Buffer | null, items: readonly DockerSaveItem[]): Buffer {
  let old: DockerSaveItem[] = [];
  if (existing && existing.length) {
    let parsed: unknown;
    try {
      validateJson(existing);
      parsed = JSON.parse(existing.toString('utf8'));
    } catch (err) {
      throw new OutputError('E_DOCKER_MANIFEST_INVALID', `manifest.json is not valid JSON (${(err as Error).message})`, 'manifest.json', err);
    }
    if (!Array.isArray(parsed)) throw new OutputError('E_DOCKER_MANIFEST_INVALID', 'manifest.json is not an array', 'manifest.json');
    old = parsed.map((row, i) => {
      const cfg = row !== null && typeof row === 'object' ? get(row, 'Config') : undefined;
      const layers = row !== null && typeof row === 'object' ? get(row, 'Layers') : undefined;
      const tags = row !== null && typeof row === 'object' ? get(row, 'RepoTags') : undefined;
      if (typeof cfg !== 'string' || !cfg.startsWith('blobs/sha256/') || !Array.isArray(layers)) {
        throw new OutputError('E_DOCKER_MANIFEST_INVALID', `manifest.json item ${i} is not a {Config, RepoTags, Layers} entry`, 'manifest.json');
      }
      const toDigest = (p: unknown) => `sha256:${String(p).slice('blobs/sha256/'.length)}`;
      return { config: toDigest(cfg), layers: layers.map(toDigest), repoTags: Array.isArray(tags) ? tags.map(String) : [] };
    });
  }
  // A tag names one image: a tag given now is taken off any other image. The same image exported
  // again under another name keeps the names it had (two exports into one layout both land).
  const newTags = new Set(items.flatMap((i) => i.repoTags));
  const byConfig = new Map(items.map((i) => [i.config, { ...i, repoTags: [...i.repoTags] }]));
  const kept: DockerSaveItem[] = [];
  for (const o of old) {
    const incoming = byConfig.get(o.config);
    if (incoming) incoming.repoTags.push(...o.repoTags.filter((t) => !incoming.repoTags.includes(t)));
    else kept.push({ ...o, repoTags: o.repoTags.filter((t) => !newTags.has(t)) });
  }
  return buildDockerSaveManifest([...kept, ...byConfig.values()]);
}

/**
 * The legacy `repositories` file ({"name":{"tag":"<id hex>"}}), keys in byte order. `id` is what
 * the tag points to (Docker ≤ 24 wrote the top v1 layer id, Docker 25+ the top diffID hex).
 */
export function buildDockerRepositories(entries: ReadonlyArray<{ name: string; tag: string; id: string }>): Buffer {
  const byName = new Map<string, Map<string, string>>();
  for (const e of entries) {
    const name = familiarName(e.name);
    if (!byName.has(name)) byName.set(name, new Map());
    byName.get(name)!.set(e.tag, e.id.replace(/^sha256:/, ''));
  }
  const obj = new Obj([...byName.keys()].sort(compareUtf8).map((name) => {
    const tags = byName.get(name)!;
    return [name, new Obj([...tags.keys()].sort(compareUtf8).map((t) => [t, tags.get(t)!]))];
  }));
  return Buffer.from(stringify(obj), 'utf8');
}
