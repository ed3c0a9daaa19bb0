// image/<driver>/layerdb/sha256/<chainID>/ (legacy-formats.md §5): one dir per layer, named by
// its ChainID, holding `diff` (the diffID), `size`, `cache-id` (the driver dir id), `parent`
// (the parent ChainID) and `tar-split.json.gz`. Read into the same LegacyLayer record the graph
// reader makes, so planning and export treat both alike.

import { join } from 'node:path';
import { DIGEST_RE, ID_RE } from '../../ids.js';
import { locateDir, locateDriverLayer } from '../drivers.js';
import { locateTarSplitFile, readSmallFile } from '../graph-aufs.js';
import type { LegacyLayer, Problem } from '../types.js';

const SMALL = 4096;

/** `sha256:<hex>` file content → hex, or a problem. Docker writes these without a newline; tolerate one. */
function readDigestFile(path: string, what: string, problems: Problem[], required: boolean): string | null {
  const r = readSmallFile(path, SMALL, what);
  if (!r.ok) {
    if (r.problem) problems.push(r.problem);
    else if (required) problems.push({ code: 'E_LAYERDB_INVALID', severity: 'error', message: `${path}: ${what} is missing`, file: path });
    return null;
  }
  const text = r.bytes.toString('latin1').trim();
  if (!DIGEST_RE.test(text)) {
    problems.push({ code: 'E_LAYERDB_INVALID', severity: 'error', message: `${path}: ${what} is not sha256:<64 hex> (${JSON.stringify(text.slice(0, 80))})`, file: path });
    return null;
  }
  return text.slice('sha256:'.length);
}

/** Read layerdb/sha256/<chainID>. Never throws for bad content: problems are recorded on the layer. */
export function readLayerdbEntry(root: string, realRoot: string, storeDir: string, driver: string, chainId: string): LegacyLayer {
  const problems: Problem[] = [];
  const dir = join(storeDir, 'layerdb', 'sha256', chainId);
  const layer: LegacyLayer = {
    id: chainId, json: null, parent: null, parentSource: null, created: null, dockerVersion: null,
    layerSize: null, checksum: null, diffDir: null, tarDataPath: null, tarDataSize: 0, aufsAncestors: null, problems,
    store: 'image-store', driver, rules: 'aufs', parentDir: null, diffID: null, cacheId: null,
  };
  // a layerdb entry that is a symlink out of the root (a crafted or mis-copied root) is not read
  const real = locateDir(dir, realRoot, problems, 'layerdb entry');
  if (real === null) return layer;
  if (real === undefined) {
    problems.push({ code: 'E_LAYERDB_INVALID', severity: 'error', message: `${dir}: layerdb entry vanished`, file: dir });
    return layer;
  }
  const diff = readDigestFile(join(dir, 'diff'), 'layer diffID', problems, true);
  layer.diffID = diff === null ? null : `sha256:${diff}`;
  const parent = readDigestFile(join(dir, 'parent'), 'parent chainID', problems, false);
  if (parent !== null) {
    layer.parent = parent;
    layer.parentSource = 'layerdb';
  }
  const sr = readSmallFile(join(dir, 'size'), SMALL, 'layer size');
  if (sr.ok && /^\d{1,15}$/.test(sr.bytes.toString('latin1').trim())) layer.layerSize = Number(sr.bytes.toString('latin1').trim());

  const cr = readSmallFile(join(dir, 'cache-id'), SMALL, 'cache-id');
  const cacheId = cr.ok ? cr.bytes.toString('latin1').trim() : null;
  if (!cr.ok) problems.push(cr.problem ?? { code: 'E_LAYERDB_INVALID', severity: 'error', message: `${join(dir, 'cache-id')}: cache-id is missing`, file: join(dir, 'cache-id') });
  else if (!ID_RE.test(cacheId!)) {
    // dockerd always writes 64-hex cache-ids; anything else is never turned into a path
    problems.push({ code: 'E_BAD_ID', severity: 'error', message: `${join(dir, 'cache-id')}: cache-id ${JSON.stringify(cacheId!.slice(0, 80))} is not 64 lowercase hex; the layer is not read`, file: join(dir, 'cache-id') });
  } else {
    layer.cacheId = cacheId;
    const located = locateDriverLayer(root, realRoot, driver, cacheId!, problems);
    if (located) {
      layer.diffDir = located.dir;
      layer.rules = located.rules;
    }
  }
  locateTarSplitFile(join(dir, 'tar-split.json.gz'), layer, 'the recorded one');
  return layer;
}
