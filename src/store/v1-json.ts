// Reading the few fields the store needs out of a v1 image json. The bytes themselves are kept
// untouched elsewhere (export rebuilds the config from them); this is only for metadata.

import { ID_RE, DIGEST_RE } from '../ids.js';

/** Largest graph/<id>/json we accept: real ones are a few KiB. */
export const MAX_JSON_BYTES = 8 * 1024 * 1024;

export type JsonObject = { [key: string]: unknown };

/**
 * Parse a json object. JSON.parse creates `__proto__`/`constructor` as own data properties, so
 * crafted keys cannot pollute prototypes; values are only ever read with hasOwn.
 */
export function parseJsonObject(bytes: Buffer): JsonObject {
  const value: unknown = JSON.parse(bytes.toString('utf8'));
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
  return value as JsonObject;
}

/**
 * Go's struct decoding matches keys case-insensitively (an exact match is preferred for each key,
 * and later keys overwrite earlier ones), so `"Parent"` fills the `parent` field too.
 */
export function goStructField(obj: JsonObject, name: string): unknown {
  let found: unknown = undefined;
  const lower = name.toLowerCase();
  for (const key of Object.keys(obj)) {
    if (key.toLowerCase() === lower) found = obj[key];
  }
  return found;
}

export interface V1Fields {
  id: string | null;
  parent: string | null;
  parentId: string | null;
  created: string | null;
  dockerVersion: string | null;
}

/** The json keys (lowercased) of the fields readV1Fields reads. */
const V1_KEYS = new Map<string, keyof V1Fields>([['id', 'id'], ['parent', 'parent'], ['parent_id', 'parentId'], ['created', 'created'], ['docker_version', 'dockerVersion']]);

/**
 * The store's fields of a v1 json, each as goStructField reads it (the last key matching
 * case-insensitively; a value that is not a string reads as null), in one pass over the keys:
 * `ls` reads one json per layer, 20,000 on a big root.
 */
export function readV1Fields(obj: JsonObject): V1Fields {
  const fields: V1Fields = { id: null, parent: null, parentId: null, created: null, dockerVersion: null };
  for (const key of Object.keys(obj)) {
    const field = V1_KEYS.get(key.toLowerCase());
    if (field === undefined) continue;
    const value = obj[key];
    fields[field] = typeof value === 'string' ? value : null;
  }
  return fields;
}

/** `parent_id` is `sha256:<hex>` (1.9 v2 pulls); its hex is the parent's id unless a parent file says otherwise. */
export function parentIdHex(parentId: string | null): string | null {
  if (parentId && DIGEST_RE.test(parentId)) return parentId.slice('sha256:'.length);
  return null;
}

export { ID_RE };
