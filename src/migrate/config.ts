// migrate.toml: parsing (@iarna/toml), schema checks and path resolution.
//
// Every problem is collected, not just the first, and each one names the file, the line and column
// of the key it is about (found by toml-positions.ts, since the parser only locates syntax errors)
// and the key path: `migrate.toml:12:1: host[1].root: /mnt/x: no such directory`. Nothing is
// written and no root is read before the whole file is accepted. migrate.toml.example documents
// every key listed in TOP_KEYS and HOST_KEYS (a test keeps them in step).

import { readFileSync, realpathSync, statSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import TOML from '@iarna/toml';
import { EXIT, L2OError } from '../errors.js';
import { defaultCompression, parseCompression, formatCompression } from '../engine/compression/registry.js';
import type { CompressionSpec } from '../engine/types.js';
import { normalizeRepository } from '../store/index.js';
import { compilePattern, type NamePattern } from './patterns.js';
import { formatPath, locateKeys, type KeyPositions, type PathSegment, type Position } from './toml-positions.js';

export const DEFAULT_CONFIG = 'migrate.toml';
export const DEFAULT_OUTPUT = 'out';
export const DEFAULT_COMPRESS = 'gzip';
export const DEFAULT_PARALLEL_HOSTS = 4;

/** Top-level keys, with a one-line description each (the example file documents them all). */
export const TOP_KEYS = {
  output: 'parent folder of the layouts (per-host) or the shared layout itself; default ./out',
  layout: '"per-host" (one layout per host, default) or "shared" (one layout for all hosts)',
  compress: 'layer compression, as export --compress (gzip[:1-9], gzip:fast, gzip:ENGINE[:N], zstd[:1-19], none); default as export',
  jobs: 'layers processed in parallel (worker threads, shared by all hosts); default: number of cores',
  parallel_hosts: 'hosts worked on at the same time; default 4',
  docker_save: 'also write manifest.json and repositories (docker load), as export --docker-save',
  on_error: '"continue" (default) or "stop": after a failure, start no further host',
  host: 'one [[host]] table per legacy root',
} as const;

export const HOST_KEYS = {
  name: 'unique name of the host (letters, digits, . _ -); names its layout and report entry',
  root: 'the legacy Docker root (a copied or mounted /var/lib/docker); never written',
  output: 'this host\'s layout (per-host only); default <output>/<name>',
  images: '"tagged" (default) or "all" (untagged and intermediate images too, by id)',
  include: 'name patterns an image must match (repo or repo:tag; * within a segment, ** across)',
  exclude: 'name patterns that drop an image',
  prefix: 'prepended to every exported name, e.g. "registry.example.com/legacy/"',
} as const;

export type LayoutMode = 'per-host' | 'shared';

export interface HostConfig {
  /** position in the [[host]] array */
  index: number;
  name: string;
  /** absolute path of the root as configured (not resolved through symlinks) */
  root: string;
  /** absolute path of this host's OCI layout */
  layout: string;
  images: 'tagged' | 'all';
  include: NamePattern[];
  exclude: NamePattern[];
  prefix: string;
}

export interface MigrateConfig {
  /** absolute path of the config file */
  file: string;
  output: string;
  layout: LayoutMode;
  compression: CompressionSpec;
  /** canonical text of the compression (`gzip:6`) */
  compress: string;
  jobs: number;
  parallelHosts: number;
  dockerSave: boolean;
  onError: 'continue' | 'stop';
  hosts: HostConfig[];
}

export interface ConfigIssue {
  file: string;
  line: number;
  column: number;
  /** key path, e.g. host[1].root; empty for a syntax error */
  key: string;
  message: string;
}

export function formatIssue(i: ConfigIssue): string {
  return `${i.file}:${i.line}:${i.column}: ${i.key ? `${i.key}: ` : ''}${i.message}`;
}

/** A config that cannot be used: exit 2, nothing done. */
export class ConfigError extends L2OError {
  readonly issues: ConfigIssue[];
  constructor(issues: ConfigIssue[]) {
    super('E_CONFIG', issues.map(formatIssue).join('\n'), { exitCode: EXIT.USAGE, file: issues[0]?.file });
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

function typeName(v: unknown): string {
  if (v instanceof Date) return 'a date-time';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'an integer' : 'a float';
  if (typeof v === 'bigint') return 'an integer';
  if (typeof v === 'object' && v !== null) return 'a table';
  return `a ${typeof v}`;
}

function isTable(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

const HOST_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface ParseOptions {
  /** check roots exist and outputs stay out of them (default true; false for the example test) */
  checkPaths?: boolean;
  /** default for `jobs` (tests) */
  defaultJobs?: number;
}

/** Read and check a config file. Throws ConfigError listing every problem. */
export function loadConfig(path: string, opts: ParseOptions = {}): MigrateConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ConfigError([{ file, line: 1, column: 1, key: '', message: code === 'ENOENT' ? 'no such file (give the config path, or run where migrate.toml is)' : `cannot be read (${code ?? (err as Error).message})` }]);
  }
  return parseConfig(text, file, opts);
}

/** Check a config's text; `file` names it in messages and anchors relative paths. */
export function parseConfig(text: string, file: string, opts: ParseOptions = {}): MigrateConfig {
  const baseDir = dirname(file);
  let doc: Record<string, unknown>;
  try {
    doc = TOML.parse(text) as Record<string, unknown>;
  } catch (err) {
    const e = err as Error & { line?: number; col?: number };
    const message = String(e.message).split('\n')[0]!.replace(/ at row \d+, col \d+, pos \d+:?$/, '');
    throw new ConfigError([{ file, line: (e.line ?? 0) + 1, column: (e.col ?? 0) + 1, key: '', message: `syntax error: ${message}` }]);
  }
  const positions = locateKeys(text);
  const issues: ConfigIssue[] = [];
  const add = (path: PathSegment[], message: string, at?: Position) => {
    const p = at ?? positions.of(path);
    issues.push({ file, line: p.line, column: p.column, key: formatPath(path), message });
  };

  // ── top level ──
  for (const key of Object.keys(doc)) {
    if (!Object.hasOwn(TOP_KEYS, key)) add([key], `unknown key (known: ${Object.keys(TOP_KEYS).join(', ')})`);
  }
  const str = (path: PathSegment[], v: unknown, dflt: string): string => {
    if (v === undefined) return dflt;
    if (typeof v !== 'string') {
      add(path, `must be a string, not ${typeName(v)}`);
      return dflt;
    }
    return v;
  };
  const oneOf = <T extends string>(path: PathSegment[], v: unknown, allowed: readonly T[], dflt: T): T => {
    const s = str(path, v, dflt);
    if (!(allowed as readonly string[]).includes(s)) {
      add(path, `must be ${allowed.map((a) => JSON.stringify(a)).join(' or ')}, not ${JSON.stringify(s)}`);
      return dflt;
    }
    return s as T;
  };
  const posInt = (path: PathSegment[], v: unknown, dflt: number, max: number): number => {
    if (v === undefined) return dflt;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > max) {
      add(path, `must be a whole number from 1 to ${max}, not ${typeof v === 'number' ? v : typeName(v)}`);
      return dflt;
    }
    return v;
  };
  const bool = (path: PathSegment[], v: unknown, dflt: boolean): boolean => {
    if (v === undefined) return dflt;
    if (typeof v !== 'boolean') {
      add(path, `must be true or false, not ${typeName(v)}`);
      return dflt;
    }
    return v;
  };
  const strList = (path: PathSegment[], v: unknown): string[] => {
    if (v === undefined) return [];
    if (!Array.isArray(v)) {
      add(path, `must be an array of strings, not ${typeName(v)}`);
      return [];
    }
    const out: string[] = [];
    v.forEach((item, k) => {
      if (typeof item !== 'string' || item === '') add([...path, k], `must be a non-empty string, not ${typeof item === 'string' ? 'an empty one' : typeName(item)}`);
      else out.push(item);
    });
    return out;
  };
  const pathValue = (path: PathSegment[], v: unknown, dflt: string): string => {
    const s = str(path, v, dflt);
    if (s === '') {
      add(path, 'must not be empty');
      return resolve(baseDir, dflt);
    }
    return resolve(baseDir, s);
  };

  const output = pathValue(['output'], doc.output, DEFAULT_OUTPUT);
  const layout = oneOf(['layout'], doc.layout, ['per-host', 'shared'] as const, 'per-host');
  if (layout === 'shared' && output.endsWith('.tar')) add(['output'], `${output}: migrate writes layout directories, not .tar archives (pack one with legacy2oci export … OUT.tar)`);
  // No compress key: what export does without --compress (defaultCompression: igzip when
  // installed, else zlib level 6); the report names the engine either way.
  let compression = parseCompression(DEFAULT_COMPRESS);
  if (doc.compress === undefined) compression = defaultCompression();
  else {
    const compressText = str(['compress'], doc.compress, DEFAULT_COMPRESS);
    try {
      compression = parseCompression(compressText);
    } catch (err) {
      add(['compress'], (err as Error).message);
    }
  }
  const jobs = posInt(['jobs'], doc.jobs, opts.defaultJobs ?? availableParallelism(), 999);
  const parallelHosts = posInt(['parallel_hosts'], doc.parallel_hosts, DEFAULT_PARALLEL_HOSTS, 999);
  const dockerSave = bool(['docker_save'], doc.docker_save, false);
  const onError = oneOf(['on_error'], doc.on_error, ['continue', 'stop'] as const, 'continue');

  // ── hosts ──
  const hosts: HostConfig[] = [];
  const rawHosts = doc.host;
  if (rawHosts === undefined) {
    add(['host'], 'no [[host]] table: nothing to migrate');
  } else if (!Array.isArray(rawHosts) || !rawHosts.every(isTable)) {
    add(['host'], `must be an array of tables ([[host]] sections), not ${typeName(rawHosts)}`);
  } else if (rawHosts.length === 0) {
    add(['host'], 'no [[host]] table: nothing to migrate');
  } else {
    const names = new Map<string, number>();
    rawHosts.forEach((h, index) => {
      const at = (key?: string): PathSegment[] => (key === undefined ? ['host', index] : ['host', index, key]);
      for (const key of Object.keys(h)) {
        if (!Object.hasOwn(HOST_KEYS, key)) add(at(key), `unknown key (known in [[host]]: ${Object.keys(HOST_KEYS).join(', ')})`);
      }
      let name = '';
      if (h.name === undefined) add(at(), 'missing required key name');
      else if (typeof h.name !== 'string') add(at('name'), `must be a string, not ${typeName(h.name)}`);
      else if (!HOST_NAME_RE.test(h.name)) add(at('name'), `${JSON.stringify(h.name)} is not a usable host name (letters, digits, '.', '_', '-'; not starting with '.' or '-')`);
      else if (names.has(h.name)) add(at('name'), `duplicate host name ${JSON.stringify(h.name)} (first used by host[${names.get(h.name)}] at line ${positions.of(['host', names.get(h.name)!, 'name']).line})`);
      else {
        names.set(h.name, index);
        name = h.name;
      }
      let root = '';
      if (h.root === undefined) add(at(), 'missing required key root');
      else if (typeof h.root !== 'string' || h.root === '') add(at('root'), typeof h.root === 'string' ? 'must not be empty' : `must be a string, not ${typeName(h.root)}`);
      else root = resolve(baseDir, h.root);
      if (h.output !== undefined && layout === 'shared') add(at('output'), 'only with layout = "per-host" (a shared layout is the top-level output)');
      const hostLayout = layout === 'shared'
        ? output
        : h.output !== undefined ? pathValue(at('output'), h.output, join(DEFAULT_OUTPUT, name || `host-${index}`)) : join(output, name || `host-${index}`);
      if (layout === 'per-host' && hostLayout.endsWith('.tar')) {
        add(at(h.output !== undefined ? 'output' : 'name'), `${hostLayout}: migrate writes layout directories, not .tar archives (pack one with legacy2oci export … OUT.tar)`);
      }
      const images = oneOf(at('images'), h.images, ['tagged', 'all'] as const, 'tagged');
      const include = strList(at('include'), h.include).map(compilePattern);
      const exclude = strList(at('exclude'), h.exclude).map(compilePattern);
      const prefix = str(at('prefix'), h.prefix, '');
      if (prefix !== '' && normalizeRepository(`${prefix}x`) === null) {
        add(at('prefix'), `${JSON.stringify(prefix)} does not make valid image names (e.g. ${JSON.stringify(`${prefix}busybox`)}); use lowercase letters, digits, '.', '_', '-' and '/', like "registry.example.com/legacy/"`);
      }
      hosts.push({ index, name, root, layout: hostLayout, images, include, exclude, prefix });
    });
  }

  // ── paths: roots must exist; outputs stay out of roots and apart ──
  if (opts.checkPaths !== false) checkPaths(hosts, output, layout, positions, add);
  if (issues.length > 0) {
    issues.sort((a, b) => a.line - b.line || a.column - b.column);
    throw new ConfigError(issues);
  }
  return { file, output, layout, compression, compress: formatCompression(compression), jobs, parallelHosts, dockerSave, onError, hosts };
}

/** realpath of the nearest existing ancestor, plus the part that does not exist yet. */
function realish(p: string): string {
  let probe = p;
  const rest: string[] = [];
  for (;;) {
    try {
      return join(realpathSync(probe), ...rest.reverse());
    } catch {
      const parent = dirname(probe);
      if (parent === probe) return p;
      rest.push(probe.slice(parent.length).replace(/^[/\\]+/, ''));
      probe = parent;
    }
  }
}

function inside(child: string, parent: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

function checkPaths(hosts: HostConfig[], output: string, layout: LayoutMode, positions: KeyPositions, add: (path: PathSegment[], message: string) => void): void {
  const roots: { host: HostConfig; real: string }[] = [];
  for (const h of hosts) {
    if (h.root === '') continue; // reported already
    let st;
    try {
      st = statSync(h.root);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      add(['host', h.index, 'root'], `${h.root}: ${code === 'ENOENT' || code === 'ENOTDIR' ? 'no such directory' : `cannot be read (${code})`}`);
      continue;
    }
    if (!st.isDirectory()) {
      add(['host', h.index, 'root'], `${h.root}: not a directory`);
      continue;
    }
    roots.push({ host: h, real: realpathSync(h.root) });
  }
  // No command ever writes into a root: neither the output nor any layout may lie inside one.
  const outReal = realish(output);
  for (const r of roots) {
    if (inside(outReal, r.real)) add(positions.exact(['output']) ? ['output'] : ['host', r.host.index, 'root'], `${output} is inside the root of host ${r.host.name} (${r.host.root}); roots are never written`);
  }
  if (layout === 'per-host') {
    const seen = new Map<string, HostConfig>();
    for (const h of hosts) {
      if (h.name === '') continue; // reported already
      const real = realish(h.layout);
      const key = positions.exact(['host', h.index, 'output']) ? ['host', h.index, 'output'] : ['host', h.index, 'name'];
      for (const r of roots) {
        if (!inside(outReal, r.real) && inside(real, r.real)) add(key, `layout ${h.layout} is inside the root of host ${r.host.name} (${r.host.root}); roots are never written`);
      }
      const other = seen.get(real);
      if (other) add(key, `layout ${h.layout} is also the layout of host ${other.name}; give each host its own output (or use layout = "shared")`);
      else seen.set(real, h);
    }
  }
}
