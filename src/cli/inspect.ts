// `legacy2oci inspect REF`: one image's chain base → top, each layer's data and problems,
// its names and a summary of its v1 config.
//
// --json schema (schemaVersion 1):
// { "schemaVersion": 1, "root", "id", "repoTags", "repoDigests", "status", "problems": [...],
//   "config": { "created", "author", "dockerVersion", "architecture", "os", "cmd", "entrypoint",
//               "env", "workingDir", "exposedPorts", "comment" },
//   "layers": [ { "id", "parent", "parentSource", "created", "createdBy", "size", "diffDir",
//                 "tarSplit": "ok"|"missing"|"corrupt"|"unreadable", "tarSplitError"?, "checksum",
//                 "problems": [...] } ] }   // base first
// Images of a Docker 1.10+ store (and non-aufs graphs) add "store", "driver", "legacyId" at the
// top and per layer "diffID" (the one layerdb recorded; the layer id is then its ChainID),
// "cacheId", "driver" and "rules" (aufs|overlay|naive: how it would be regenerated).
import { createReadStream } from 'node:fs';
import { createGunzip } from 'node:zlib';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { EXIT } from '../errors.js';
import { defaultRoot, openStore, resolveReference, type LegacyLayer } from '../store/index.js';
import { goStructField, parseJsonObject, type JsonObject } from '../store/v1-json.js';
import { humanSize, parseCommandArgs, printJson } from './args.js';
import { statusCell } from './ls.js';

const USAGE = 'usage: legacy2oci inspect REF [--root DIR] [--json]';

/** Decompress the whole tar-split file to prove it is intact (a truncated gzip fails here). */
async function checkTarSplit(layer: LegacyLayer): Promise<{ state: 'ok' | 'missing' | 'corrupt'; error?: string }> {
  if (!layer.tarDataPath) return { state: 'missing' };
  try {
    await pipeline(createReadStream(layer.tarDataPath), createGunzip(), new Writable({ write(_c, _e, cb) { cb(); } }));
    return { state: 'ok' };
  } catch (err) {
    return { state: 'corrupt', error: `${layer.tarDataPath}: ${(err as Error).message}` };
  }
}

function obj(v: unknown): JsonObject | null {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as JsonObject) : null;
}

function strSlice(v: unknown): string[] | null {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.map(String);
  return null;
}

export function v1ConfigSummary(json: Buffer | null) {
  let o: JsonObject = {};
  try { if (json) o = parseJsonObject(json); } catch { /* reported as a problem already */ }
  const config = obj(goStructField(o, 'config')) ?? {};
  const cc = obj(goStructField(o, 'container_config')) ?? {};
  const s = (x: unknown) => (typeof x === 'string' ? x : null);
  const ports = obj(goStructField(config, 'ExposedPorts'));
  return {
    summary: {
      created: s(goStructField(o, 'created')),
      author: s(goStructField(o, 'author')),
      dockerVersion: s(goStructField(o, 'docker_version')),
      architecture: s(goStructField(o, 'architecture')),
      os: s(goStructField(o, 'os')),
      cmd: strSlice(goStructField(config, 'Cmd')),
      entrypoint: strSlice(goStructField(config, 'Entrypoint')),
      env: strSlice(goStructField(config, 'Env')),
      workingDir: s(goStructField(config, 'WorkingDir')),
      exposedPorts: ports ? Object.keys(ports).sort() : null,
      comment: s(goStructField(o, 'comment')),
    },
    createdBy: (strSlice(goStructField(cc, 'Cmd')) ?? []).join(' '),
  };
}

/** created_by of the history entries that made a layer (empty_layer not true), in order. */
function nonEmptyHistory(config: Buffer): Array<{ createdBy: string }> {
  try {
    const h = (parseJsonObject(config).history ?? []) as Array<{ created_by?: unknown; empty_layer?: unknown }>;
    return Array.isArray(h) ? h.filter((e) => e && e.empty_layer !== true).map((e) => ({ createdBy: typeof e.created_by === 'string' ? e.created_by : '' })) : [];
  } catch {
    return [];
  }
}

export async function runInspect(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, { root: { type: 'string' }, json: { type: 'boolean' } }, USAGE);
  if (values.help) { process.stdout.write(USAGE + '\n'); return EXIT.OK; }
  if (positionals.length !== 1) { process.stderr.write(USAGE + '\n'); return EXIT.USAGE; }
  const store = openStore(defaultRoot(values.root as string | undefined));
  const { id } = resolveReference(store, positionals[0]!);
  const image = store.images.get(id)!;
  const chainIds = image.chain ?? (store.layers.has(id) ? [id] : []);
  // 1.10+ images: each non-empty history entry belongs to the next layer
  const casHistory = image.config ? nonEmptyHistory(image.config) : null;
  const layers = [];
  for (const [index, lid] of chainIds.entries()) {
    const l = store.layers.get(lid)!;
    const ts = await checkTarSplit(l);
    const problems = [...l.problems];
    if (ts.state === 'corrupt') problems.push({ code: 'W_TAR_SPLIT_CORRUPT', severity: 'warning', message: `${ts.error}; the layer will be regenerated`, file: l.tarDataPath ?? undefined });
    layers.push({
      id: lid,
      parent: l.parent,
      parentSource: l.parentSource,
      created: l.created,
      createdBy: casHistory ? casHistory[index]?.createdBy ?? '' : v1ConfigSummary(l.json).createdBy,
      size: l.layerSize,
      diffDir: l.diffDir,
      tarSplit: ts.state,
      ...(ts.error ? { tarSplitError: ts.error } : {}),
      checksum: l.checksum,
      problems,
      ...(store.stores ? { diffID: l.diffID ?? null, cacheId: l.cacheId ?? null, driver: l.driver ?? 'aufs', rules: l.rules ?? 'aufs' } : {}),
    });
  }
  const extraProblems = layers.flatMap((l) => l.problems.filter((p) => p.code === 'W_TAR_SPLIT_CORRUPT'));
  const problems = [...image.problems, ...extraProblems];
  const status = image.status === 'ok' && extraProblems.length > 0 ? 'warning' : image.status;
  const { summary } = v1ConfigSummary(image.config ?? store.layers.get(id)?.json ?? null);
  if (values.json) {
    const origin = store.stores ? { store: image.store ?? 'graph', driver: image.driver ?? store.driver, legacyId: image.legacyId ?? null } : {};
    printJson({ schemaVersion: 1, root: store.root, id, ...origin, repoTags: image.tags, repoDigests: image.digests, status, problems, config: summary, layers });
  } else {
    const out: string[] = [];
    out.push(`Image      ${id}`);
    if (store.stores) out.push(`Store      ${image.store === 'image-store' ? `image/${image.driver} (Docker 1.10+; the id is Docker's image id)` : `graph/${image.driver ?? store.driver} (legacy)`}${image.legacyId ? `, migrated from graph image ${image.legacyId}` : ''}`);
    out.push(`Names      ${[...image.tags, ...image.digests].join(', ') || '<none>'}`);
    out.push(`Status     ${statusCell({ status, problems })}`);
    out.push(`Created    ${summary.created ?? '?'}   docker ${summary.dockerVersion ?? '?'}   ${summary.os ?? '?'}/${summary.architecture ?? '?'}`);
    if (summary.entrypoint) out.push(`Entrypoint ${JSON.stringify(summary.entrypoint)}`);
    if (summary.cmd) out.push(`Cmd        ${JSON.stringify(summary.cmd)}`);
    if (summary.workingDir) out.push(`WorkingDir ${summary.workingDir}`);
    if (summary.exposedPorts?.length) out.push(`Ports      ${summary.exposedPorts.join(' ')}`);
    if (summary.env?.length) out.push(`Env        ${summary.env.join(' ')}`);
    out.push('', `Layers (${layers.length}, base first):`);
    layers.forEach((l, i) => {
      out.push(`  ${String(i + 1).padStart(3)}  ${l.id}  ${humanSize(l.size).padStart(8)}  tar-split:${l.tarSplit}`);
      if (l.createdBy) out.push(`       ${l.createdBy.length > 100 ? l.createdBy.slice(0, 97) + '...' : l.createdBy}`);
      out.push(`       diff: ${l.diffDir ?? '(missing)'}`);
      for (const p of l.problems) out.push(`       ${p.severity}: ${p.message}`);
    });
    const imageOnly = image.problems.filter((p) => !p.message.startsWith('layer '));
    if (imageOnly.length) out.push('', 'Problems:', ...imageOnly.map((p) => `  ${p.severity}: ${p.message}`));
    process.stdout.write(out.join('\n') + '\n');
  }
  return status === 'broken' ? EXIT.PARTIAL : EXIT.OK;
}
