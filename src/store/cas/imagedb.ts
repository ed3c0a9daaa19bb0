// image/<driver>/imagedb (legacy-formats.md §5): content/sha256/<id> holds the image config bytes
// exactly as Docker stored them (their sha256 IS the image id), metadata/sha256/<id>/parent the
// build parent. The layers of an image are not listed anywhere else: they are the ChainIDs of the
// config's rootfs.diff_ids, looked up in layerdb.

import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { DIGEST_RE } from '../../ids.js';
import { chainIDs } from '../../oci/docker-config.js';
import { readSmallFile } from '../graph-aufs.js';
import { locateDir } from '../drivers.js';
import { MAX_JSON_BYTES, parseJsonObject } from '../v1-json.js';
import type { Problem } from '../types.js';

export interface CasImage {
  id: string;
  config: Buffer | null;
  created: string | null;
  /** config rootfs.diff_ids, base first */
  diffIDs: string[];
  /** ChainIDs (hex) of those diffIDs: the layerdb dirs, base first */
  chain: string[];
  /** imagedb/metadata parent image id (hex), when recorded */
  parent: string | null;
  problems: Problem[];
}

export function readImagedbEntry(storeDir: string, realRoot: string, id: string): CasImage {
  const problems: Problem[] = [];
  const img: CasImage = { id, config: null, created: null, diffIDs: [], chain: [], parent: null, problems };
  const p = join(storeDir, 'imagedb', 'content', 'sha256', id);
  const r = readSmallFile(p, MAX_JSON_BYTES, 'image config');
  if (!r.ok) {
    problems.push(r.problem ?? { code: 'E_JSON_MISSING', severity: 'error', message: `${p}: image config is missing`, file: p });
    return img;
  }
  const digest = createHash('sha256').update(r.bytes).digest('hex');
  if (digest !== id) {
    problems.push({ code: 'E_CONFIG_DIGEST_MISMATCH', severity: 'error', message: `${p}: content hashes to sha256:${digest.slice(0, 12)}…, not its name (a damaged or edited config)`, file: p });
    return img;
  }
  img.config = r.bytes;
  try {
    const obj = parseJsonObject(r.bytes);
    if (typeof obj.created === 'string') img.created = obj.created;
    const rootfs = obj.rootfs as { type?: unknown; diff_ids?: unknown } | undefined;
    const ids = rootfs && typeof rootfs === 'object' ? rootfs.diff_ids : undefined;
    if (ids === undefined || ids === null) img.diffIDs = [];
    else if (!Array.isArray(ids) || !ids.every((d) => typeof d === 'string' && DIGEST_RE.test(d))) {
      problems.push({ code: 'E_JSON_INVALID', severity: 'error', message: `${p}: rootfs.diff_ids is not a list of sha256 digests`, file: p });
    } else img.diffIDs = ids as string[];
    img.chain = chainIDs(img.diffIDs).map((c) => c.slice('sha256:'.length));
  } catch (err) {
    problems.push({ code: 'E_JSON_INVALID', severity: 'error', message: `${p}: invalid JSON (${(err as Error).message})`, file: p });
    img.config = null;
  }
  // metadata only says which image was built on which; a dir that leads elsewhere is ignored
  const meta = join(storeDir, 'imagedb', 'metadata', 'sha256', id);
  const pr = locateDir(meta, realRoot, [], 'image metadata') ? readSmallFile(join(meta, 'parent'), 4096, 'parent image') : null;
  if (pr?.ok) {
    const text = pr.bytes.toString('latin1').trim();
    if (DIGEST_RE.test(text)) img.parent = text.slice('sha256:'.length);
  }
  return img;
}
