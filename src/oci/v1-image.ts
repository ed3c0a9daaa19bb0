// Docker 1.10.3's view of a legacy v1 image json, reproduced byte for byte:
//  - the "fallback" round trip (json.Unmarshal into image.V1Image, json.Marshal back) used by
//    MakeConfigFromV1Config when docker_version < 1.8.3;
//  - HistoryFromConfig (one history entry per v1 image);
//  - pkg/version's comparison of docker_version.
//
// Types mirror moby/moby@v1.10.3 image/image.go (V1Image, History) and the vendored engine-api
// container.Config and strslice.StrSlice (docs/legacy-formats.md §4.4). Go decoding semantics
// that change bytes are kept on purpose: keys match struct fields case-insensitively; a later
// duplicate key overwrites, or *merges into*, what an earlier one decoded (maps and structs are
// reused, slices reuse their backing array); `null` leaves strings, bools and numbers alone but
// clears maps, slices and pointers; any type mismatch makes Go's Unmarshal fail, and with it
// Docker's migration of the image (we throw E_JSON_TYPE / E_JSON_TIME).

import {
  JSON_ERR,
  arrayElements,
  formatRFC3339Nano,
  GO_ZERO_TIME,
  marshalGoString,
  marshalGoTime,
  objectMembers,
  parseDocument,
  rawBytes,
  structMembers,
  unmarshalGoTime,
  unquoteGo,
  type GoTime,
  type RawValue,
} from './gojson.js';
import { StoreError } from '../errors.js';

// ---------------------------------------------------------------------------------------------
// The Go types, as TS values
// ---------------------------------------------------------------------------------------------

/** A Go []string decoded by encoding/json: its backing array (length = cap) and len. */
export interface GoSlice {
  backing: Buffer[];
  len: number;
}

/** map[string]struct{} (ExposedPorts, Volumes): the keys. */
export type GoSet = Set<string>;
/** map[string]string (Labels). Keys are Go strings (valid UTF-8), values raw bytes. */
export type GoStringMap = Map<string, Buffer>;

/** engine-api container.Config as vendored in Docker 1.10.3. `null` = Go nil. */
export interface ContainerConfig {
  Hostname: Buffer;
  Domainname: Buffer;
  User: Buffer;
  AttachStdin: boolean;
  AttachStdout: boolean;
  AttachStderr: boolean;
  ExposedPorts: GoSet | null;
  PublishService: Buffer;
  Tty: boolean;
  OpenStdin: boolean;
  StdinOnce: boolean;
  Env: GoSlice | null;
  /** *strslice.StrSlice: null = nil pointer */
  Cmd: Buffer[] | null;
  ArgsEscaped: boolean;
  Image: Buffer;
  Volumes: GoSet | null;
  WorkingDir: Buffer;
  Entrypoint: Buffer[] | null;
  NetworkDisabled: boolean;
  MacAddress: Buffer;
  OnBuild: GoSlice | null;
  Labels: GoStringMap | null;
  StopSignal: Buffer;
}

/** image.V1Image of Docker 1.10.3. */
export interface V1Image {
  id: Buffer;
  parent: Buffer;
  comment: Buffer;
  created: GoTime;
  container: Buffer;
  container_config: ContainerConfig;
  docker_version: Buffer;
  author: Buffer;
  /** *container.Config: null = nil */
  config: ContainerConfig | null;
  architecture: Buffer;
  os: Buffer;
  Size: bigint;
}

type Kind = 'string' | 'bool' | 'int64' | 'time' | 'strslice' | 'strings' | 'set' | 'labels' | 'config' | 'configPtr';

interface FieldSpec {
  /** JSON name (the tag name, or the Go field name when the tag has none) */
  name: string;
  kind: Kind;
  omitEmpty: boolean;
}

const f = (name: string, kind: Kind, omitEmpty = false): FieldSpec => ({ name, kind, omitEmpty });

/** container.Config fields in declaration order (= marshal order). */
export const CONFIG_FIELDS: readonly FieldSpec[] = [
  f('Hostname', 'string'),
  f('Domainname', 'string'),
  f('User', 'string'),
  f('AttachStdin', 'bool'),
  f('AttachStdout', 'bool'),
  f('AttachStderr', 'bool'),
  f('ExposedPorts', 'set', true),
  f('PublishService', 'string', true),
  f('Tty', 'bool'),
  f('OpenStdin', 'bool'),
  f('StdinOnce', 'bool'),
  f('Env', 'strings'),
  f('Cmd', 'strslice'),
  f('ArgsEscaped', 'bool', true),
  f('Image', 'string'),
  f('Volumes', 'set'),
  f('WorkingDir', 'string'),
  f('Entrypoint', 'strslice'),
  f('NetworkDisabled', 'bool', true),
  f('MacAddress', 'string', true),
  f('OnBuild', 'strings'),
  f('Labels', 'labels'),
  f('StopSignal', 'string', true),
];

/** V1Image fields in declaration order. `container_config` is a struct: omitempty never omits it. */
export const V1IMAGE_FIELDS: readonly FieldSpec[] = [
  f('id', 'string', true),
  f('parent', 'string', true),
  f('comment', 'string', true),
  f('created', 'time'),
  f('container', 'string', true),
  f('container_config', 'config', true),
  f('docker_version', 'string', true),
  f('author', 'string', true),
  f('config', 'configPtr', true),
  f('architecture', 'string', true),
  f('os', 'string', true),
  f('Size', 'int64', true),
];

const CONFIG_NAMES = CONFIG_FIELDS.map((x) => x.name);
const V1IMAGE_NAMES = V1IMAGE_FIELDS.map((x) => x.name);
const EMPTY = Buffer.alloc(0);

export function zeroContainerConfig(): ContainerConfig {
  return {
    Hostname: EMPTY, Domainname: EMPTY, User: EMPTY,
    AttachStdin: false, AttachStdout: false, AttachStderr: false,
    ExposedPorts: null, PublishService: EMPTY,
    Tty: false, OpenStdin: false, StdinOnce: false,
    Env: null, Cmd: null, ArgsEscaped: false, Image: EMPTY, Volumes: null, WorkingDir: EMPTY,
    Entrypoint: null, NetworkDisabled: false, MacAddress: EMPTY, OnBuild: null, Labels: null, StopSignal: EMPTY,
  };
}

export function zeroV1Image(): V1Image {
  return {
    id: EMPTY, parent: EMPTY, comment: EMPTY, created: GO_ZERO_TIME, container: EMPTY,
    container_config: zeroContainerConfig(), docker_version: EMPTY, author: EMPTY, config: null,
    architecture: EMPTY, os: EMPTY, Size: 0n,
  };
}

// ---------------------------------------------------------------------------------------------
// Decoding (Go 1.5 decode.go semantics)
// ---------------------------------------------------------------------------------------------

function typeError(what: string, v: RawValue, field: string): never {
  throw new StoreError(JSON_ERR.TYPE, `cannot decode JSON ${v.kind} into Go ${what} (field ${field}); Docker 1.10 could not migrate this image`);
}

function str(buf: Buffer, v: RawValue): Buffer {
  return unquoteGo(rawBytes(buf, v));
}

/** strconv.ParseInt(s, 10, 64): an integer lexeme within int64; anything else is a type error. */
function parseInt64(buf: Buffer, v: RawValue, field: string): bigint {
  const s = rawBytes(buf, v).toString('latin1');
  if (!/^-?[0-9]+$/.test(s)) typeError('int64', v, field);
  const n = BigInt(s);
  if (n < -(2n ** 63n) || n > 2n ** 63n - 1n) typeError('int64', v, field);
  return n;
}

/**
 * StrSlice.UnmarshalJSON: try []string, then string (one element). Array elements that are
 * null become "" (a fresh zero element); any other kind makes both attempts fail.
 */
function decodeStrSlice(buf: Buffer, v: RawValue, field: string): Buffer[] {
  if (v.kind === 'string') return [str(buf, v)];
  if (v.kind !== 'array') typeError('strslice.StrSlice', v, field);
  return arrayElements(buf, v).map((el) => {
    if (el.kind === 'string') return str(buf, el);
    if (el.kind === 'null') return EMPTY;
    return typeError('strslice.StrSlice', v, field);
  });
}

/**
 * Decoding a JSON array into a Go []string that may already hold values (a duplicate key):
 * Go reuses the backing array, grows it to max(4, cap*3/2) when full, decodes element i into
 * slot i — where `null` leaves whatever the slot held — and finally cuts len to the count.
 */
function decodeStringSlice(buf: Buffer, v: RawValue, cur: GoSlice | null, field: string): GoSlice {
  const items = arrayElements(buf, v);
  if (items.length === 0) return { backing: [], len: 0 }; // MakeSlice(0, 0): empty, non-nil
  // Updated in place (all values belong to the one decode in progress), so a json repeating a
  // key many times costs linear, not quadratic, time.
  let backing = cur ? cur.backing : [];
  let len = cur ? cur.len : 0;
  items.forEach((el, i) => {
    if (i >= backing.length) {
      const cap = backing.length;
      const newCap = Math.max(4, cap + Math.floor(cap / 2));
      const grown: Buffer[] = new Array<Buffer>(newCap).fill(EMPTY);
      for (let k = 0; k < len; k++) grown[k] = backing[k];
      backing = grown;
    }
    if (i >= len) len = i + 1;
    if (el.kind === 'string') backing[i] = str(buf, el);
    else if (el.kind !== 'null') typeError('[]string', el, field);
  });
  return { backing, len: Math.min(len, items.length) };
}

function decodeSet(buf: Buffer, v: RawValue, cur: GoSet | null, field: string): GoSet {
  const out = cur ?? new Set<string>(); // Go reuses an existing map: duplicate keys merge
  for (const m of objectMembers(buf, v)) {
    // the element type is struct{}: an object (any keys) or null is fine, nothing else
    if (m.value.kind !== 'object' && m.value.kind !== 'null') typeError('struct{}', m.value, `${field}[…]`);
    out.add(m.key.toString('utf8'));
  }
  return out;
}

function decodeLabels(buf: Buffer, v: RawValue, cur: GoStringMap | null, field: string): GoStringMap {
  const out = cur ?? new Map<string, Buffer>();
  for (const m of objectMembers(buf, v)) {
    const key = m.key.toString('utf8');
    if (m.value.kind === 'string') out.set(key, str(buf, m.value));
    else if (m.value.kind === 'null') out.set(key, EMPTY); // a fresh zero element each time
    else typeError('string', m.value, `${field}[…]`);
  }
  return out;
}

type AnyStruct = Record<string, unknown>;

/** Decode one value of the given kind into the current value, returning the new one. */
function decodeKind(buf: Buffer, v: RawValue, kind: Kind, cur: unknown, field: string): unknown {
  // time.Time's UnmarshalJSON sees every value, null included (Go 1.5)
  if (kind === 'time') return unmarshalGoTime(rawBytes(buf, v));
  if (v.kind === 'null') {
    // nil for pointers, maps and slices; primitives and struct values are left alone
    if (kind === 'strslice' || kind === 'strings' || kind === 'set' || kind === 'labels' || kind === 'configPtr') return null;
    return cur;
  }
  switch (kind) {
    case 'string':
      return v.kind === 'string' ? str(buf, v) : typeError('string', v, field);
    case 'bool':
      return v.kind === 'true' ? true : v.kind === 'false' ? false : typeError('bool', v, field);
    case 'int64':
      return v.kind === 'number' ? parseInt64(buf, v, field) : typeError('int64', v, field);
    case 'strslice':
      return decodeStrSlice(buf, v, field);
    case 'strings':
      return v.kind === 'array' ? decodeStringSlice(buf, v, cur as GoSlice | null, field) : typeError('[]string', v, field);
    case 'set':
      return v.kind === 'object' ? decodeSet(buf, v, cur as GoSet | null, field) : typeError('map[string]struct{}', v, field);
    case 'labels':
      return v.kind === 'object' ? decodeLabels(buf, v, cur as GoStringMap | null, field) : typeError('map[string]string', v, field);
    case 'config':
    case 'configPtr':
      if (v.kind !== 'object') return typeError('container.Config', v, field);
      return decodeStruct(buf, v, CONFIG_FIELDS, CONFIG_NAMES, (cur as ContainerConfig | null) ?? zeroContainerConfig());
  }
}

/** Decode an object into a struct value, in place (Go decodes into the existing value). */
function decodeStruct<T extends object>(buf: Buffer, obj: RawValue, fields: readonly FieldSpec[], names: readonly string[], into: T): T {
  const out = into as AnyStruct;
  for (const { field, value } of structMembers(buf, obj, names)) {
    const spec = fields.find((x) => x.name === field)!;
    out[field] = decodeKind(buf, value, spec.kind, out[field], field);
  }
  return out as T;
}

/**
 * json.Unmarshal(imageJSON, &v1Image) as Docker 1.10.3 does it. Throws E_JSON_SYNTAX for bad
 * JSON and E_JSON_TYPE / E_JSON_TIME where Go's Unmarshal returns an error.
 */
export function decodeV1Image(raw: Buffer): V1Image {
  const doc = parseDocument(raw);
  if (doc.kind === 'null') return zeroV1Image();
  if (doc.kind !== 'object') typeError('image.V1Image', doc, '(top level)');
  return decodeStruct(raw, doc, V1IMAGE_FIELDS, V1IMAGE_NAMES, zeroV1Image());
}

/**
 * The first step of MakeConfigFromV1Config: json.Unmarshal into struct{ DockerVersion string
 * `json:"docker_version"` } (so a case-folded key counts, the last one wins, and a non-string
 * value is an error).
 */
export function readDockerVersion(raw: Buffer): string {
  const doc = parseDocument(raw);
  if (doc.kind === 'null') return '';
  if (doc.kind !== 'object') typeError('struct', doc, '(top level)');
  let version: Buffer = EMPTY;
  for (const { value } of structMembers(raw, doc, ['docker_version'])) {
    version = decodeKind(raw, value, 'string', version, 'docker_version') as Buffer;
  }
  return version.toString('utf8');
}

// ---------------------------------------------------------------------------------------------
// Encoding (encode.go: struct fields in order, omitempty, maps with sorted keys)
// ---------------------------------------------------------------------------------------------

function isEmpty(kind: Kind, v: unknown): boolean {
  switch (kind) {
    case 'string':
      return (v as Buffer).length === 0;
    case 'bool':
      return v === false;
    case 'int64':
      return v === 0n;
    case 'strings':
      return v === null || (v as GoSlice).len === 0;
    case 'strslice':
    case 'configPtr':
      return v === null; // pointers: only nil is empty
    case 'set':
    case 'labels':
      return v === null || (v as Set<string> | Map<string, Buffer>).size === 0;
    case 'time':
    case 'config':
      return false; // structs are never empty
  }
}

const bytes = (s: string) => Buffer.from(s, 'latin1');

/** Go sorts map keys as byte strings: compare the UTF-8 forms (computed once per key). */
function sortedKeys(keys: Iterable<string>): string[] {
  return [...keys]
    .map((k) => ({ k, bytes: Buffer.from(k, 'utf8') }))
    .sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    .map((x) => x.k);
}

function marshalKind(kind: Kind, v: unknown): Buffer {
  switch (kind) {
    case 'string':
      return marshalGoString(v as Buffer);
    case 'bool':
      return bytes(v ? 'true' : 'false');
    case 'int64':
      return bytes((v as bigint).toString());
    case 'time':
      return marshalGoTime(v as GoTime);
    case 'strslice':
      return v === null ? bytes('null') : marshalStringArray(v as Buffer[]);
    case 'strings':
      return v === null ? bytes('null') : marshalStringArray((v as GoSlice).backing.slice(0, (v as GoSlice).len));
    case 'set': {
      if (v === null) return bytes('null');
      const parts = sortedKeys(v as GoSet).map((k) => Buffer.concat([marshalGoString(Buffer.from(k, 'utf8')), bytes(':{}')]));
      return Buffer.concat([bytes('{'), join(parts), bytes('}')]);
    }
    case 'labels': {
      if (v === null) return bytes('null');
      const m = v as GoStringMap;
      const parts = sortedKeys(m.keys()).map((k) => Buffer.concat([marshalGoString(Buffer.from(k, 'utf8')), bytes(':'), marshalGoString(m.get(k)!)]));
      return Buffer.concat([bytes('{'), join(parts), bytes('}')]);
    }
    case 'config':
    case 'configPtr':
      return v === null ? bytes('null') : marshalStruct(CONFIG_FIELDS, v as ContainerConfig);
  }
}

function join(parts: Buffer[]): Buffer {
  const out: Buffer[] = [];
  parts.forEach((p, i) => {
    if (i > 0) out.push(bytes(','));
    out.push(p);
  });
  return Buffer.concat(out);
}

function marshalStringArray(items: Buffer[]): Buffer {
  return Buffer.concat([bytes('['), join(items.map((s) => marshalGoString(s))), bytes(']')]);
}

function marshalStruct(fields: readonly FieldSpec[], value: object): Buffer {
  const v = value as AnyStruct;
  const parts: Buffer[] = [];
  for (const spec of fields) {
    const fv = v[spec.name];
    if (spec.omitEmpty && isEmpty(spec.kind, fv)) continue;
    parts.push(Buffer.concat([marshalGoString(Buffer.from(spec.name, 'latin1')), bytes(':'), marshalKind(spec.kind, fv)]));
  }
  return Buffer.concat([bytes('{'), join(parts), bytes('}')]);
}

/** json.Marshal(v1Image). */
export function marshalV1Image(img: V1Image): Buffer {
  return marshalStruct(V1IMAGE_FIELDS, img);
}

/** json.Marshal(container.Config). */
export function marshalContainerConfig(c: ContainerConfig): Buffer {
  return marshalStruct(CONFIG_FIELDS, c);
}

/** The fallback path: json.Unmarshal into V1Image, then json.Marshal. */
export function roundTripV1Image(raw: Buffer): Buffer {
  return marshalV1Image(decodeV1Image(raw));
}

// ---------------------------------------------------------------------------------------------
// pkg/version (Docker 1.10.3) and the fallback decision
// ---------------------------------------------------------------------------------------------

const INT64_MAX = 2n ** 63n - 1n;
const INT64_MIN = -(2n ** 63n);

/**
 * strconv.Atoi with the error ignored, as pkg/version does: a syntax error gives 0 (`"3-rc1"`,
 * `""`, `"1-ce"`), an out-of-range value gives the clamped int64 (Atoi returns it with ErrRange).
 */
function atoiIgnoringErrors(s: string): bigint {
  if (!/^[+-]?[0-9]+$/.test(s)) return 0n;
  const n = BigInt(s);
  return n > INT64_MAX ? INT64_MAX : n < INT64_MIN ? INT64_MIN : n;
}

/** version.Version(a).compareTo(b): split on ".", compare part by part, missing parts are 0. */
export function compareDockerVersion(a: string, b: string): -1 | 0 | 1 {
  const pa = a.split('.');
  const pb = b.split('.');
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const x = i < pa.length ? atoiIgnoringErrors(pa[i]) : 0n;
    const y = i < pb.length ? atoiIgnoringErrors(pb[i]) : 0n;
    if (x > y) return 1;
    if (x < y) return -1;
  }
  return 0;
}

/** MakeConfigFromV1Config's `noFallbackMinVersion`. */
export const NO_FALLBACK_MIN_VERSION = '1.8.3';

/** True when Docker 1.10 re-marshals the json through V1Image (docker_version < 1.8.3). */
export function usesFallback(dockerVersion: string): boolean {
  return compareDockerVersion(dockerVersion, NO_FALLBACK_MIN_VERSION) < 0;
}

// ---------------------------------------------------------------------------------------------
// History (image.History, HistoryFromConfig)
// ---------------------------------------------------------------------------------------------

/** image.History of Docker 1.10.3. `empty_layer` is never set by migration, so it is not modelled. */
export interface HistoryEntry {
  created: GoTime;
  author: Buffer;
  created_by: Buffer;
  comment: Buffer;
}

/**
 * imagev1.HistoryFromConfig(imageJSON, false): decoded through V1Image (so it fails exactly when
 * Go's Unmarshal fails); created_by = strings.Join(container_config.Cmd, " ").
 */
export function historyFromConfig(raw: Buffer): HistoryEntry {
  const v1 = decodeV1Image(raw);
  const cmd = v1.container_config.Cmd ?? [];
  const createdBy = Buffer.concat(cmd.flatMap((part, i) => (i === 0 ? [part] : [bytes(' '), part])));
  return { created: v1.created, author: v1.author, created_by: createdBy, comment: v1.comment };
}

/** json.Marshal of one History: created, author?, created_by?, comment? (empty_layer omitted). */
export function marshalHistoryEntry(h: HistoryEntry): Buffer {
  const parts = [Buffer.concat([bytes('"created":'), marshalGoTime(h.created)])];
  if (h.author.length) parts.push(Buffer.concat([bytes('"author":'), marshalGoString(h.author)]));
  if (h.created_by.length) parts.push(Buffer.concat([bytes('"created_by":'), marshalGoString(h.created_by)]));
  if (h.comment.length) parts.push(Buffer.concat([bytes('"comment":'), marshalGoString(h.comment)]));
  return Buffer.concat([bytes('{'), join(parts), bytes('}')]);
}

/** json.Marshal([]History). */
export function marshalHistory(entries: HistoryEntry[]): Buffer {
  return Buffer.concat([bytes('['), join(entries.map(marshalHistoryEntry)), bytes(']')]);
}

/** A history entry as plain strings, for reports. */
export function historyToPlain(h: HistoryEntry): { created: string; author?: string; created_by?: string; comment?: string } {
  return {
    created: formatRFC3339Nano(h.created),
    ...(h.author.length ? { author: h.author.toString('utf8') } : {}),
    ...(h.created_by.length ? { created_by: h.created_by.toString('utf8') } : {}),
    ...(h.comment.length ? { comment: h.comment.toString('utf8') } : {}),
  };
}
