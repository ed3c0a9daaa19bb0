// Structural checks of one descriptor (image-spec descriptor.md): mediaType, digest grammar,
// size, annotations, urls and embedded data.
import { createHash } from 'node:crypto';
import type { Context } from './context.js';
import { isObject } from './context.js';
import { formatDigest, isParsed, parseDigest, type ParsedDigest } from './digest.js';
import type { Where } from './report.js';

export interface Descriptor {
  mediaType: string;
  digest: ParsedDigest;
  /** the digest as written */
  digestText: string;
  /** undefined when the size field is unusable (already reported) */
  size: number | undefined;
  annotations: Record<string, string>;
  urls: string[];
  platform?: Record<string, unknown>;
}

/**
 * Check a descriptor found at `field` (e.g. `manifests[0]`) of the document `where.file`.
 * Returns undefined when it cannot be followed (no usable mediaType or digest).
 */
export function checkDescriptor(ctx: Context, value: unknown, field: string, where: Where): Descriptor | undefined {
  const rep = ctx.rep;
  if (!isObject(value)) {
    rep.add('json-schema', `${field} must be a descriptor object`, where);
    return undefined;
  }
  const at: Where = typeof value.digest === 'string' ? { ...where, digest: value.digest } : where;
  let ok = true;
  if (typeof value.mediaType !== 'string' || value.mediaType === '') {
    rep.add('json-schema', `${field}.mediaType is required and must be a string`, at);
    ok = false;
  }
  const parsed = parseDigest(value.digest);
  if (!isParsed(parsed)) {
    if (value.digest === undefined) rep.add('json-schema', `${field}.digest is required`, at);
    else rep.add(parsed.rule, `${field}: ${parsed.message}`, at);
    ok = false;
  }
  let size: number | undefined;
  if (typeof value.size === 'number' && Number.isSafeInteger(value.size) && value.size >= 0) size = value.size;
  else rep.add('json-schema', `${field}.size must be a non-negative integer, got ${JSON.stringify(value.size)}`, at);

  const annotations: Record<string, string> = {};
  if (value.annotations !== undefined && value.annotations !== null) {
    if (!isObject(value.annotations)) rep.add('json-schema', `${field}.annotations must be an object`, at);
    else {
      for (const [k, v] of Object.entries(value.annotations)) {
        if (typeof v === 'string') annotations[k] = v;
        else rep.add('json-schema', `${field}.annotations[${JSON.stringify(k)}] must be a string`, at);
      }
    }
  }
  const urls: string[] = [];
  if (value.urls !== undefined && value.urls !== null) {
    if (!Array.isArray(value.urls) || value.urls.some((u) => typeof u !== 'string')) rep.add('json-schema', `${field}.urls must be an array of strings`, at);
    else urls.push(...(value.urls as string[]));
  }
  if (value.platform !== undefined && value.platform !== null && !isObject(value.platform)) {
    rep.add('json-schema', `${field}.platform must be an object`, at);
  }
  if (!ok || !isParsed(parsed)) return undefined;
  if (value.data !== undefined) checkData(ctx, value.data, parsed, size, field, at);
  const d: Descriptor = { mediaType: value.mediaType as string, digest: parsed, digestText: formatDigest(parsed), size, annotations, urls };
  if (isObject(value.platform)) d.platform = value.platform;
  return d;
}

function checkData(ctx: Context, data: unknown, digest: ParsedDigest, size: number | undefined, field: string, at: Where): void {
  if (typeof data !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(data) || data.length % 4 !== 0) {
    ctx.rep.add('descriptor-data', `${field}.data is not base64`, at);
    return;
  }
  const bytes = Buffer.from(data, 'base64');
  if (size !== undefined && bytes.length !== size) {
    ctx.rep.add('descriptor-data', `${field}.data has ${bytes.length} bytes, size says ${size}`, at);
  }
  const actual = `${digest.algorithm}:${createHash(digest.algorithm).update(bytes).digest('hex')}`;
  if (actual !== formatDigest(digest)) ctx.rep.add('descriptor-data', `${field}.data hashes to ${actual}`, at);
}
