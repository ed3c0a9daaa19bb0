// The image config Docker 1.10 built for a legacy image (image/v1.MakeConfigFromV1Config), whose
// sha256 is the image ID `docker images --no-trunc` shows on an upgraded host; the ChainIDs; the
// minimal fixes that turn it into a valid OCI config; and a lenient summary for `inspect`.
// Rules: docs/docker-compat.md and docs/legacy-formats.md §4.3–4.6.

import { createHash } from 'node:crypto';
import { StoreError } from '../errors.js';
import { DIGEST_RE } from '../ids.js';
import {
  arrayElements,
  marshalGoString,
  marshalSortedObject,
  objectMembers,
  parseDocument,
  parseObjectRaw,
  rawString,
  structFieldOf,
  unquoteGo,
  type RawValue,
} from './gojson.js';
import {
  CONFIG_FIELDS,
  V1IMAGE_FIELDS,
  historyFromConfig,
  historyToPlain,
  marshalHistory,
  readDockerVersion,
  roundTripV1Image,
  usesFallback,
  type HistoryEntry,
} from './v1-image.js';

export function sha256Digest(bytes: Uint8Array): string {
  return 'sha256:' + createHash('sha256').update(bytes).digest('hex');
}

/**
 * OCI/Docker ChainIDs: ChainID(L0) = DiffID(L0); ChainID(L0..n) = sha256(ChainID(L0..n-1) + " " +
 * DiffID(n)), over the full "sha256:…" strings (layer/layer.go createChainIDFromParent).
 */
export function chainIDs(diffIDs: readonly string[]): string[] {
  const out: string[] = [];
  for (const d of diffIDs) out.push(out.length === 0 ? d : sha256Digest(Buffer.from(`${out[out.length - 1]} ${d}`, 'latin1')));
  return out;
}

/** json.Marshal(RootFS{Type: "layers", DiffIDs: diffIDs}) (diff_ids is omitempty). */
function marshalRootFS(diffIDs: readonly string[]): Buffer {
  const ids = diffIDs.map((d) => marshalGoString(Buffer.from(d, 'latin1')).toString('latin1')).join(',');
  return Buffer.from(diffIDs.length ? `{"type":"layers","diff_ids":[${ids}]}` : '{"type":"layers"}', 'latin1');
}

/** Keys MakeConfigFromV1Config deletes from the top level before adding rootfs and history. */
const DELETED_KEYS = ['id', 'parent', 'Size', 'parent_id', 'layer_id', 'throwaway'] as const;

/**
 * image/v1.MakeConfigFromV1Config(imageJSON, rootfs, history) of Docker 1.10.3, byte for byte:
 * the version check, the V1Image round trip for docker_version < 1.8.3, then the top level as
 * map[string]*json.RawMessage with six keys deleted and rootfs/history added, marshalled with
 * sorted keys and every value compacted and HTML-escaped.
 */
export function makeConfigFromV1Config(imageJSON: Buffer, diffIDs: readonly string[], history: readonly HistoryEntry[]): Buffer {
  const json = usesFallback(readDockerVersion(imageJSON)) ? roundTripV1Image(imageJSON) : imageJSON;
  const c = parseObjectRaw(json);
  for (const k of DELETED_KEYS) c.delete(k);
  c.set('rootfs', marshalRootFS(diffIDs));
  c.set('history', marshalHistory([...history]));
  return marshalSortedObject(c);
}

export interface DockerConfigResult {
  /** the config bytes Docker 1.10 stored (imagedb/content/sha256/<hex>) */
  configBytes: Buffer;
  /** "sha256:" + sha256(configBytes): the Docker 1.10 image ID */
  imageID: string;
  /** ChainIDs, base first (the last one names the image's top layer in layerdb) */
  chainIDs: string[];
  diffIDs: string[];
  /** one entry per v1 layer, base first */
  history: HistoryEntry[];
  /** history as plain strings, for reports */
  historyPlain: ReturnType<typeof historyToPlain>[];
  /** whether the top image went through the < 1.8.3 V1Image round trip */
  fallback: boolean;
}

/**
 * The Docker 1.10 config of the top image of a chain: `chain` holds the v1 json bytes of every
 * image, base first, `diffIDs` the matching layer diffIDs. Every v1 layer gives one rootfs layer
 * and one history entry (built from that image's own json); empty_layer is never set.
 * `names` (optional, same order) label the chain members in error messages, e.g. their paths.
 * Throws E_JSON_* (StoreError) where Docker's own migration of the image would have failed.
 */
export function makeDockerConfig(chain: readonly Buffer[], diffIDs: readonly string[], opts: { names?: readonly string[] } = {}): DockerConfigResult {
  if (chain.length === 0) throw new StoreError('E_CHAIN_EMPTY', 'cannot build an image config from an empty chain');
  if (chain.length !== diffIDs.length) {
    throw new StoreError('E_CHAIN_MISMATCH', `chain has ${chain.length} images but ${diffIDs.length} diffIDs were given`);
  }
  diffIDs.forEach((d, i) => {
    if (!DIGEST_RE.test(d)) throw new StoreError('E_DIFFID_INVALID', `diffID ${i} is not sha256:<64 hex>: ${JSON.stringify(d)}`);
  });
  const label = (i: number) => opts.names?.[i] ?? `chain[${i}]`;
  const history = chain.map((json, i) => withFile(label(i), () => historyFromConfig(json)));
  const top = chain.length - 1;
  const configBytes = withFile(label(top), () => makeConfigFromV1Config(chain[top], diffIDs, history));
  return {
    configBytes,
    imageID: sha256Digest(configBytes),
    chainIDs: chainIDs(diffIDs),
    diffIDs: [...diffIDs],
    history,
    historyPlain: history.map(historyToPlain),
    fallback: usesFallback(readDockerVersion(chain[top])),
  };
}

/**
 * A 1.10+ store's config (imagedb/content/sha256/<id>): used byte for byte, so its digest stays
 * the Docker image id. Only when a layer could not be reproduced (regenerated without usable
 * tar-split data, so its diffID is ours) are rootfs.diff_ids replaced by the layers' real
 * diffIDs, or the image would not verify; that is reported as a fix, with the Docker id kept.
 */
export function storedConfig(config: Buffer, diffIDs: readonly string[]): { bytes: Buffer; fixed: string[] } {
  const c = parseObjectRaw(config);
  const rootfs = c.get('rootfs');
  let stored: string[] | null = null;
  if (rootfs !== undefined) {
    try {
      const v = JSON.parse(rootfs.toString('utf8')) as { diff_ids?: unknown };
      stored = Array.isArray(v.diff_ids) ? v.diff_ids.map(String) : v.diff_ids === undefined || v.diff_ids === null ? [] : null;
    } catch {
      stored = null;
    }
  }
  if (stored !== null && stored.length === diffIDs.length && stored.every((d, i) => d === diffIDs[i])) return { bytes: config, fixed: [] };
  const changed = stored === null ? diffIDs.length : diffIDs.filter((d, i) => stored![i] !== d).length;
  c.set('rootfs', marshalRootFS(diffIDs));
  return { bytes: marshalSortedObject(c), fixed: [`rootfs.diff_ids: ${changed} regenerated layer${changed === 1 ? '' : 's'} replaced`] };
}

/** Re-throw a StoreError with the file it is about (message and .file). */
function withFile<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof StoreError && err.file === undefined) throw new StoreError(err.code, `${file}: ${err.message}`, file, err);
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------
// Docker config → OCI config (policy in docs/docker-compat.md)
// ---------------------------------------------------------------------------------------------

/** GOARCH values (go tool dist list), which OCI's `architecture` must use. */
export const GOARCH = new Set([
  '386', 'amd64', 'amd64p32', 'arm', 'armbe', 'arm64', 'arm64be', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le',
  'mips64p32', 'mips64p32le', 'ppc', 'ppc64', 'ppc64le', 'riscv', 'riscv64', 's390', 's390x', 'sparc', 'sparc64', 'wasm',
]);

/** Non-GOARCH spellings seen in old images (uname -m / Debian names) → GOARCH. */
export const ARCH_ALIASES: Readonly<Record<string, string>> = {
  x86_64: 'amd64',
  'x86-64': 'amd64',
  i386: '386',
  i486: '386',
  i586: '386',
  i686: '386',
  aarch64: 'arm64',
  armhf: 'arm',
  armel: 'arm',
  armv6l: 'arm',
  armv7l: 'arm',
  ppc64el: 'ppc64le',
};

export const DEFAULT_ARCH = 'amd64';
export const DEFAULT_OS = 'linux';

export interface OciConfigResult {
  /** the config to write: the Docker bytes themselves when nothing needed fixing */
  bytes: Buffer;
  /** what was changed, e.g. `architecture: "x86_64" → "amd64"`; empty = bytes are Docker's */
  fixed: string[];
  /** problems left as they are (an architecture we cannot map) */
  warnings: string[];
}

/** A top-level value as a JS string when it is a JSON string; undefined otherwise. */
function stringValue(raw: Buffer | undefined): string | undefined {
  if (raw === undefined) return undefined;
  const doc = parseDocument(raw);
  return doc.kind === 'string' ? unquoteGo(raw.subarray(doc.start, doc.end)).toString('utf8') : undefined;
}

/** How a missing or unusable value is described in `fixed`. */
function describeOld(raw: Buffer | undefined): string {
  if (raw === undefined) return 'missing';
  const s = stringValue(raw);
  return s === '' ? 'empty' : raw.toString('utf8');
}

/**
 * Make a Docker 1.10 config a valid OCI config with the fewest changes: emit it as is when
 * `architecture` is a GOARCH name, `os` is set and rootfs.type is "layers"; otherwise fix only
 * what is wrong (x86_64 → amd64 and friends, a missing os → linux, a missing architecture →
 * amd64) and re-emit with the same Go rules (sorted keys, compacted raw values), so every other
 * byte stays Docker's.
 */
export function toOciConfig(dockerConfigBytes: Buffer): OciConfigResult {
  const c = parseObjectRaw(dockerConfigBytes);
  const fixed: string[] = [];
  const warnings: string[] = [];

  const rootfs = c.get('rootfs');
  const rootfsType = rootfs === undefined ? undefined : (() => {
    const doc = parseDocument(rootfs);
    return doc.kind === 'object' ? rawString(rootfs, structFieldOf(rootfs, doc, 'type')) : undefined;
  })();
  if (rootfsType?.toString('utf8') !== 'layers') {
    throw new StoreError('E_CONFIG_INVALID', 'image config has no rootfs of type "layers"; it cannot be an OCI config');
  }

  const arch = stringValue(c.get('architecture'));
  if (arch === undefined || arch === '') {
    fixed.push(`architecture: ${describeOld(c.get('architecture'))} → "${DEFAULT_ARCH}"`);
    c.set('architecture', marshalGoString(Buffer.from(DEFAULT_ARCH)));
  } else if (!GOARCH.has(arch)) {
    const mapped = Object.hasOwn(ARCH_ALIASES, arch) ? ARCH_ALIASES[arch] : undefined;
    if (mapped) {
      c.set('architecture', marshalGoString(Buffer.from(mapped)));
      fixed.push(`architecture: ${JSON.stringify(arch)} → "${mapped}"`);
    } else {
      warnings.push(`architecture ${JSON.stringify(arch)} is not a GOARCH name; left as it is`);
    }
  }
  const os = stringValue(c.get('os'));
  if (os === undefined || os === '') {
    fixed.push(`os: ${describeOld(c.get('os'))} → "${DEFAULT_OS}"`);
    c.set('os', marshalGoString(Buffer.from(DEFAULT_OS)));
  }
  return { bytes: fixed.length ? marshalSortedObject(c) : dockerConfigBytes, fixed, warnings };
}

// ---------------------------------------------------------------------------------------------
// A lenient summary of a v1 json, for `inspect`
// ---------------------------------------------------------------------------------------------

export interface V1RunConfigSummary {
  Cmd?: string[] | null;
  Entrypoint?: string[] | null;
  Env?: string[] | null;
  ExposedPorts?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string> | null;
}

export interface V1Summary {
  id?: string;
  created?: string;
  author?: string;
  docker_version?: string;
  architecture?: string;
  os?: string;
  comment?: string;
  container?: string;
  /** container_config.Cmd joined with " " (what history's created_by shows) */
  created_by?: string;
  parent?: string;
  parent_id?: string;
  /** the runtime config (`config`), when present */
  config?: V1RunConfigSummary;
  /** whether Docker 1.10 takes the < 1.8.3 V1Image round trip for this json */
  fallback: boolean;
}

const V1_NAMES = [...V1IMAGE_FIELDS.map((x) => x.name), 'parent_id'];
const CONFIG_NAMES = CONFIG_FIELDS.map((x) => x.name);

function strOf(buf: Buffer, v: RawValue | undefined): string | undefined {
  return rawString(buf, v)?.toString('utf8');
}

/** string, array of strings (StrSlice), or null → string[] | null; anything else undefined. */
function strListOf(buf: Buffer, v: RawValue | undefined): string[] | null | undefined {
  if (!v) return undefined;
  if (v.kind === 'null') return null;
  if (v.kind === 'string') return [strOf(buf, v)!];
  if (v.kind !== 'array') return undefined;
  return arrayElements(buf, v).map((el) => strOf(buf, el) ?? '');
}

function runConfigOf(buf: Buffer, v: RawValue | undefined): V1RunConfigSummary | undefined {
  if (!v || v.kind !== 'object') return undefined;
  const field = (name: string) => structFieldOf(buf, v, name, CONFIG_NAMES);
  const ports = field('ExposedPorts');
  const labels = field('Labels');
  const out: V1RunConfigSummary = {};
  const cmd = strListOf(buf, field('Cmd'));
  if (cmd !== undefined) out.Cmd = cmd;
  const ep = strListOf(buf, field('Entrypoint'));
  if (ep !== undefined) out.Entrypoint = ep;
  const env = strListOf(buf, field('Env'));
  if (env !== undefined) out.Env = env;
  if (ports?.kind === 'object') out.ExposedPorts = objectMembers(buf, ports).map((m) => m.key.toString('utf8')).sort();
  const wd = strOf(buf, field('WorkingDir'));
  if (wd) out.WorkingDir = wd;
  const user = strOf(buf, field('User'));
  if (user) out.User = user;
  if (labels?.kind === 'null') out.Labels = null;
  else if (labels?.kind === 'object') {
    // a null-prototype record: label keys such as "__proto__" are plain data here
    const rec = Object.create(null) as Record<string, string>;
    for (const m of objectMembers(buf, labels)) rec[m.key.toString('utf8')] = strOf(buf, m.value) ?? '';
    out.Labels = rec;
  }
  return out;
}

/**
 * What `inspect` shows about a v1 json. Lenient: a field of the wrong type is left out rather
 * than failing (only invalid JSON throws, E_JSON_SYNTAX / E_JSON_TOO_DEEP). Keys are matched the
 * way Go's struct decoding matches them. `created` is shown as written.
 */
export function v1Summary(jsonBytes: Buffer): V1Summary {
  const doc = parseDocument(jsonBytes);
  let fallback = true;
  try {
    fallback = usesFallback(readDockerVersion(jsonBytes));
  } catch {
    // a non-string docker_version: Docker could not migrate it at all; report it as fallback
  }
  const out: V1Summary = { fallback };
  if (doc.kind !== 'object') return out;
  const field = (name: string) => structFieldOf(jsonBytes, doc, name, V1_NAMES);
  for (const name of ['id', 'created', 'author', 'docker_version', 'architecture', 'os', 'comment', 'container', 'parent', 'parent_id'] as const) {
    const s = strOf(jsonBytes, field(name));
    if (s !== undefined && s !== '') out[name] = s;
  }
  const cc = field('container_config');
  if (cc?.kind === 'object') {
    const cmd = strListOf(jsonBytes, structFieldOf(jsonBytes, cc, 'Cmd', CONFIG_NAMES));
    if (cmd && cmd.length) out.created_by = cmd.join(' ');
  }
  const config = runConfigOf(jsonBytes, field('config'));
  if (config) out.config = config;
  return out;
}
