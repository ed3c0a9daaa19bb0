// Per-entry rules for the content of one layer tar: path escapes, duplicates, whiteouts and
// hard links (image-spec layer.md). Fed by TarScanner; pure, no I/O.
import type { TarEntry } from './tar-scan.js';
import { RULES, type RuleId, type Severity } from './rules.js';

export interface LayerFinding {
  rule: RuleId;
  severity: Severity;
  path?: string;
  message: string;
}

const WH = '.wh.';
const OPAQUE = '.wh..wh..opq';
/** aufs's own metadata: xino file, pseudo-link dir, orphan dir */
const AUFS_META = new Set(['.wh..wh.aufs', '.wh..wh.plnk', '.wh..wh.orph']);
const REGULAR = new Set(['0', '7']);
const KNOWN_TYPES = new Set(['0', '1', '2', '3', '4', '5', '6', '7']);

/** Display form of a raw (latin1) tar name: UTF-8 when it decodes, escaped bytes otherwise. */
export function displayName(raw: string): string {
  const bytes = Buffer.from(raw, 'latin1');
  const utf8 = bytes.toString('utf8');
  return Buffer.from(utf8, 'utf8').equals(bytes) ? utf8 : raw.replace(/[\x80-\xff]/g, (c) => `\\x${c.charCodeAt(0).toString(16)}`);
}

type Normalised = { key: string; problem?: undefined } | { key?: undefined; problem: string };

/** Strip `./`, `//` and a trailing `/`; reject absolute and `..` paths. */
export function normalisePath(raw: string): Normalised {
  if (raw.startsWith('/')) return { problem: 'absolute path' };
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) return { problem: "path contains '..'" };
  return { key: parts.join('/') };
}

export class LayerChecker {
  readonly findings: LayerFinding[] = [];
  /** normalised path -> type of the first entry with that path */
  private readonly seen = new Map<string, string>();
  private readonly pendingLinks: { key: string; target: string; display: string }[] = [];
  private readonly counts = new Map<RuleId, number>();
  private readonly overflow = new Map<RuleId, { n: number; severity: Severity }>();

  constructor(private readonly opts: { dockerWritten: boolean; maxPerRule: number }) {}

  entry(e: TarEntry): void {
    const display = displayName(e.name);
    if (e.name === '') return this.add('tar-corrupt', `entry at offset ${e.offset} has an empty name`);
    if (!KNOWN_TYPES.has(e.type)) {
      this.add('tar-entry-type', `entry has type '${e.type}'${e.sparse ? ' (sparse file)' : ''}, not a plain file type`, display);
    } else if (e.sparse) {
      this.add('tar-entry-type', 'sparse file (layers SHOULD NOT use sparse files)', display);
    }
    const n = normalisePath(e.name);
    if (n.problem !== undefined) return this.add('tar-path-escape', `${n.problem}: entry would land outside the root`, display);
    const key = n.key;
    const parts = key.split('/');
    if (parts.some((p) => AUFS_META.has(p))) {
      return this.add('aufs-meta-entry', 'aufs metadata entry (Docker wrote these for aufs layers; consumers ignore or unpack them)', display);
    }
    const base = parts[parts.length - 1];
    if (parts.slice(0, -1).some((p) => p.startsWith(WH))) {
      this.add('whiteout-malformed', 'a whiteout name is used as a directory', display);
    } else if (base.startsWith(WH)) {
      if (!this.whiteout(e, base, display)) return;
    }
    if (key !== '' && this.seen.has(key)) {
      const docker = this.opts.dockerWritten;
      this.add('tar-duplicate-path', `path appears more than once in this layer${docker ? ' (Docker-written layer; later entry wins)' : ''}`, display, docker ? 'warning' : 'error');
    }
    if (e.type === '1') this.hardlink(key, e.linkname, display);
    if (!this.seen.has(key)) this.seen.set(key, e.type);
  }

  /** Whiteout and opaque markers; false when the entry needs no further checks. */
  private whiteout(e: TarEntry, base: string, display: string): boolean {
    if (base !== OPAQUE && base.startsWith(`${WH}${WH}`)) {
      this.add('whiteout-malformed', 'whiteout of a whiteout (.wh..wh.*) is not a valid whiteout', display);
      return false;
    }
    if (base === WH) {
      this.add('whiteout-malformed', "whiteout '.wh.' names nothing", display);
      return false;
    }
    if (e.type === '1') {
      this.add('whiteout-hardlink', `whiteout stored as a hard link to ${displayName(e.linkname)} (aufs/Docker quirk)`, display);
      return true;
    }
    if (!REGULAR.has(e.type)) {
      this.add('whiteout-malformed', `whiteout is not a regular file (type '${e.type}')`, display);
    } else if (e.size !== 0) {
      this.add('whiteout-malformed', `whiteout is not empty (${e.size} bytes)`, display);
    }
    return true;
  }

  private hardlink(key: string, linkname: string, display: string): void {
    const t = normalisePath(linkname);
    if (t.problem !== undefined) {
      this.add('tar-path-escape', `hard link target ${JSON.stringify(displayName(linkname))}: ${t.problem}`, display);
      return;
    }
    if (t.key === key || t.key === '') {
      this.add('hardlink-target', 'hard link points to itself', display);
      return;
    }
    const type = this.seen.get(t.key);
    if (type === undefined) this.pendingLinks.push({ key, target: t.key, display });
    else if (type === '5') this.add('hardlink-target', `hard link target ${displayName(t.key)} is a directory`, display);
  }

  /** Call after the last entry. */
  finish(): LayerFinding[] {
    for (const l of this.pendingLinks) {
      if (this.seen.has(l.target)) {
        this.add('hardlink-target', `hard link target ${displayName(l.target)} appears only after the link`, l.display);
      } else {
        this.add('hardlink-target', `hard link target ${displayName(l.target)} is not in this layer (works only if a lower layer has it)`, l.display, 'warning');
      }
    }
    for (const [rule, o] of this.overflow) {
      this.findings.push({ rule, severity: o.severity, message: `${o.n} more ${rule} findings in this layer not shown` });
    }
    this.overflow.clear();
    return this.findings;
  }

  private add(rule: RuleId, message: string, path?: string, severity: Severity = RULES[rule].severity): void {
    const n = (this.counts.get(rule) ?? 0) + 1;
    this.counts.set(rule, n);
    if (n > this.opts.maxPerRule) {
      const o = this.overflow.get(rule);
      this.overflow.set(rule, { n: (o?.n ?? 0) + 1, severity: o?.severity === 'error' ? 'error' : severity });
      return;
    }
    this.findings.push(path === undefined ? { rule, severity, message } : { rule, severity, path, message });
  }
}
