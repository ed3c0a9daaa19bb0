// Digest grammar (image-spec descriptor.md): algorithm ":" encoded, with the registered
// algorithms' encodings checked exactly (lowercase hex of the right length).

export type DigestAlgorithm = 'sha256' | 'sha512';

export interface ParsedDigest {
  algorithm: DigestAlgorithm;
  hex: string;
}

export type DigestProblem = { rule: 'digest-format' | 'digest-uppercase' | 'digest-algorithm'; message: string };

const GRAMMAR = /^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const HEX_LEN: Record<DigestAlgorithm, number> = { sha256: 64, sha512: 128 };

/** Parse a digest string; returns the problem (with its rule id) when it is not usable. */
export function parseDigest(value: unknown): ParsedDigest | DigestProblem {
  if (typeof value !== 'string') return { rule: 'digest-format', message: `digest must be a string, got ${typeof value}` };
  if (!GRAMMAR.test(value)) return { rule: 'digest-format', message: `digest ${JSON.stringify(value)} does not match the digest grammar` };
  const colon = value.indexOf(':');
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (algorithm !== 'sha256' && algorithm !== 'sha512') {
    return { rule: 'digest-algorithm', message: `digest algorithm '${algorithm}' is not registered (sha256, sha512)` };
  }
  const len = HEX_LEN[algorithm];
  if (encoded.length === len && /^[a-fA-F0-9]+$/.test(encoded) && /[A-F]/.test(encoded)) {
    return { rule: 'digest-uppercase', message: `digest ${value} uses uppercase hex (must be lowercase)` };
  }
  if (encoded.length !== len || !/^[a-f0-9]+$/.test(encoded)) {
    return { rule: 'digest-format', message: `digest ${JSON.stringify(value)}: ${algorithm} needs ${len} lowercase hex digits` };
  }
  return { algorithm, hex: encoded };
}

export function isParsed(d: ParsedDigest | DigestProblem): d is ParsedDigest {
  return 'hex' in d;
}

export function formatDigest(d: ParsedDigest): string {
  return `${d.algorithm}:${d.hex}`;
}

/** Relative path of a blob inside the layout. */
export function blobPath(d: ParsedDigest): string {
  return `blobs/${d.algorithm}/${d.hex}`;
}

/** Short form for human output. */
export function shortDigest(digest: string): string {
  const i = digest.indexOf(':');
  return i < 0 ? digest : digest.slice(0, i + 13);
}
