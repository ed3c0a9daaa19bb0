// Image references as users type them and as repositories-<driver> stores them:
// full id, unique id prefix, name:tag, name (→ :latest), name@sha256:…, with Docker's
// normalisation (docker.io/library/x = library/x = x).

import { RefError } from '../errors.js';
import { ID_RE } from '../ids.js';
import { splitReference } from '../reference-split.js';

const DEFAULT_DOMAINS = ['docker.io', 'index.docker.io', 'registry-1.docker.io'];
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_REF_RE = /^sha256:[a-f0-9]{64}$/;
/** One path component of a repository name (distribution/reference grammar). */
const COMPONENT_RE = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
/** A registry host: has a dot or a port, or is localhost. */
const DOMAIN_RE = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?))*(?::[0-9]+)?$/;

function isDomain(part: string): boolean {
  return (part.includes('.') || part.includes(':') || part === 'localhost') && DOMAIN_RE.test(part);
}

/**
 * Normalise a repository name to Docker's familiar form: `docker.io/library/busybox` → `busybox`,
 * `index.docker.io/user/app` → `user/app`, `localhost:5000/x/y` unchanged. Returns null for names
 * Docker 1.10 rejects (uppercase, a 64-hex name, bad grammar).
 */
export function normalizeRepository(name: string): string | null {
  let parts = name.split('/');
  if (parts.length > 1 && DEFAULT_DOMAINS.includes(parts[0]!)) parts = parts.slice(1);
  let domain: string | null = null;
  if (parts.length > 1 && isDomain(parts[0]!)) {
    domain = parts[0]!;
    parts = parts.slice(1);
  }
  if (domain === null && parts.length > 1 && parts[0] === 'library') parts = parts.slice(1);
  if (parts.length === 0 || !parts.every((p) => COMPONENT_RE.test(p))) return null;
  const path = parts.join('/');
  if (domain === null && ID_RE.test(path)) return null;
  if (path.length + (domain ? domain.length + 1 : 0) > 255) return null;
  return domain ? `${domain}/${path}` : path;
}

export function isValidTag(tag: string): boolean {
  return TAG_RE.test(tag);
}

export type ParsedRef =
  | { kind: 'id'; id: string }
  | { kind: 'prefix'; prefix: string; name: ParsedNamed | null }
  | ParsedNamed;

export type ParsedNamed =
  | { kind: 'tag'; repository: string; tag: string; ref: string }
  | { kind: 'digest'; repository: string; digest: string; ref: string };

/** Parse a reference typed by a user. Throws E_REF_INVALID for things that can be nothing. */
export function parseReference(input: string): ParsedRef {
  const s = input.trim();
  if (s === '') throw new RefError('E_REF_INVALID', 'empty image reference');
  const bare = s.startsWith('sha256:') ? s.slice('sha256:'.length) : s;
  if (ID_RE.test(bare)) return { kind: 'id', id: bare };
  const named = parseNamed(s);
  // A short hex string can be an id prefix or a repository name: try both, names first.
  if (/^[a-f0-9]{1,63}$/.test(bare)) return { kind: 'prefix', prefix: bare, name: named };
  if (!named) throw new RefError('E_REF_INVALID', `invalid image reference '${input}'`);
  return named;
}

function parseNamed(s: string): ParsedNamed | null {
  const { name, tag, digest } = splitReference(s);
  if (digest !== undefined) {
    // name@digest; a tag beside a digest is not a reference Docker 1.10 took
    const repository = tag === undefined ? normalizeRepository(name) : null;
    if (!repository || !DIGEST_REF_RE.test(digest)) return null;
    return { kind: 'digest', repository, digest, ref: `${repository}@${digest}` };
  }
  const repository = normalizeRepository(name);
  const t = tag ?? 'latest';
  if (!repository || !isValidTag(t)) return null;
  return { kind: 'tag', repository, tag: t, ref: `${repository}:${t}` };
}
