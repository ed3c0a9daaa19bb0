// Image config checks (image-spec config.md): os, architecture, rootfs, diff_ids, history,
// null optional fields. Returns what the manifest and layer checks need.
import type { Context } from './context.js';
import { isObject } from './context.js';
import { formatDigest, isParsed, parseDigest } from './digest.js';
import type { Where } from './report.js';

export interface ConfigInfo {
  /** diff_ids in order; undefined entries are unusable digests (already reported) */
  diffIDs: (string | undefined)[] | undefined;
  os?: string;
  architecture?: string;
  variant?: string;
  /** written by Docker (has docker_version): legacy layer quirks are warnings */
  dockerWritten: boolean;
}

const REQUIRED = new Set(['os', 'architecture', 'rootfs']);

/** `layerCount` undefined: the manifest's layers are unusable, counts are not compared. */
export function checkConfig(ctx: Context, json: unknown, layerCount: number | undefined, where: Where): ConfigInfo | undefined {
  const rep = ctx.rep;
  if (!isObject(json)) {
    rep.add('json-schema', 'config must be a JSON object', where);
    return undefined;
  }
  const info: ConfigInfo = { diffIDs: undefined, dockerWritten: typeof json.docker_version === 'string' && json.docker_version !== '' };
  for (const field of ['os', 'architecture'] as const) {
    const v = json[field];
    if (typeof v === 'string' && v !== '') info[field] = v;
    else rep.add(field === 'os' ? 'config-os' : 'config-architecture', `config ${field} is required, got ${JSON.stringify(v) ?? 'nothing'}`, where);
  }
  if (typeof json.variant === 'string') info.variant = json.variant;

  const rootfs = json.rootfs;
  if (!isObject(rootfs)) {
    rep.add('json-schema', 'config rootfs is required and must be an object', where);
  } else {
    if (rootfs.type !== 'layers') rep.add('rootfs-type', `rootfs.type is ${JSON.stringify(rootfs.type) ?? 'missing'}, must be "layers"`, where);
    if (!Array.isArray(rootfs.diff_ids)) {
      rep.add('json-schema', 'rootfs.diff_ids is required and must be an array', where);
    } else {
      info.diffIDs = rootfs.diff_ids.map((v, i) => {
        const p = parseDigest(v);
        if (isParsed(p)) return formatDigest(p);
        rep.add(p.rule, `rootfs.diff_ids[${i}]: ${p.message}`, where);
        return undefined;
      });
      if (layerCount !== undefined && info.diffIDs.length !== layerCount) {
        rep.add('diffid-count', `config has ${info.diffIDs.length} diff_ids, the manifest has ${layerCount} layers`, where);
      }
    }
  }

  if (Array.isArray(json.history)) {
    const nonEmpty = json.history.filter((h) => !(isObject(h) && h.empty_layer === true)).length;
    if (layerCount !== undefined && nonEmpty !== layerCount) {
      rep.add('history-count', `history has ${nonEmpty} entries that made a layer, the manifest has ${layerCount} layers`, where);
    }
  } else if (json.history !== undefined && json.history !== null) {
    rep.add('json-schema', 'config history must be an array', where);
  }
  if (json.config !== undefined && json.config !== null && !isObject(json.config)) {
    rep.add('json-schema', 'config.config must be an object', where);
  }

  const nulls = Object.entries(json).filter(([k, v]) => v === null && !REQUIRED.has(k)).map(([k]) => k);
  if (isObject(json.config)) nulls.push(...Object.entries(json.config).filter(([, v]) => v === null).map(([k]) => `config.${k}`));
  if (nulls.length > 0) {
    rep.add('config-null-field', `optional fields are null (treated as absent): ${nulls.join(', ')}`, where);
  }
  return info;
}
