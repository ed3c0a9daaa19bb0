// The migrate report: `<output>/migrate-report.json` (schemaVersion 1), also printed by --json.
//
// It describes the result, not the run: everything but the `run` section depends only on the
// config, the roots and the tool version, so an interrupted-then-resumed migration and a clean one
// give the same report, and a rerun of a finished migration leaves the file untouched (it is only
// rewritten when something other than `run` changed; `run` then describes the run that wrote it).
//
// {
//   schemaVersion: 1, tool: "legacy2oci 0.1.0", config: <abs path>, output: <abs path>,
//   layout: "per-host" | "shared", compression: "gzip:6", dockerSave, onError, dryRun,
//   hosts: [{
//     name, root, layout: <abs layout dir>, select: "tagged" | "all" (the host's images key), prefix,
//     status: "exported" | "partial" | "failed" | "skipped" | "planned", code?, reason?,
//     plan: { images, uniqueLayers, bytesToRead },          // bytesToRead from layersize: an estimate
//                                                           // (--dry-run adds pendingLayers, pendingBytes:
//                                                           //  what the journal does not have yet)
//     warnings: [string],                                   // root-level problems, name conflicts
//     images: [{
//       legacyId, status: "exported" | "skipped" | "failed" | "planned", code?, reason?,
//       refs: [string],          // exported names (prefix included); for others the names it would get
//       digestRefs: [string],    // repo@sha256:… references the old host had (never become names)
//       // exported only:
//       dockerImageID, chainIDs, configDigest, configFixes, manifestDigest, manifestSize,
//       layers: [{ legacyId, diffID, digest, size, uncompressedSize, mediaType,
//                  source: "tar-split" | "regenerated", reason?, warnings }]
//     }],
//     totals: Totals
//   }],
//   totals: Totals & { hosts, hostsFailed },
//   run: { startedAt, elapsedMs, verify, imagesFromJournal, layersProcessed, layersFromJournal,
//          layersReused, bytesRead, bytesWritten }
// }
// Totals = { images, exported, skipped, failed, layers, layersRegenerated, uncompressedBytes, blobBytes }
// (layers: unique layers of the exported images; bytes: their uncompressed tars and their blobs).

import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { LayerResult } from '../engine/types.js';
import { writeFileAtomic } from '../oci/layout.js';
import type { ImageReport } from '../export/export.js';

export const REPORT_FILE = 'migrate-report.json';

export interface ExportedLayer {
  legacyId: string;
  diffID: string;
  digest: string;
  size: number;
  uncompressedSize: number;
  mediaType: string;
  source: LayerResult['source'];
  reason?: string;
  warnings: string[];
}

/** What an exported image is, as the journal keeps it. */
export interface ExportedImage {
  legacyId: string;
  refs: string[];
  dockerImageID: string;
  chainIDs: string[];
  configDigest: string;
  configFixes: string[];
  manifestDigest: string;
  manifestSize: number;
  layers: ExportedLayer[];
}

export type ImageStatus = 'exported' | 'skipped' | 'failed' | 'planned';

export interface MigrateImage {
  legacyId: string;
  status: ImageStatus;
  code?: string;
  reason?: string;
  refs: string[];
  digestRefs: string[];
  dockerImageID?: string;
  chainIDs?: string[];
  configDigest?: string;
  configFixes?: string[];
  manifestDigest?: string;
  manifestSize?: number;
  layers?: ExportedLayer[];
}

export interface Totals {
  images: number;
  exported: number;
  skipped: number;
  failed: number;
  layers: number;
  layersRegenerated: number;
  uncompressedBytes: number;
  blobBytes: number;
}

export type HostStatus = 'exported' | 'partial' | 'failed' | 'skipped' | 'planned';

export interface MigrateHostReport {
  name: string;
  root: string;
  layout: string;
  images: 'tagged' | 'all';
  prefix: string;
  status: HostStatus;
  code?: string;
  reason?: string;
  plan: { images: number; uniqueLayers: number; bytesToRead: number; pendingLayers: number; pendingBytes: number };
  warnings: string[];
  imageList: MigrateImage[];
  totals: Totals;
}

export interface RunStats {
  startedAt: string;
  elapsedMs: number;
  verify: boolean;
  imagesFromJournal: number;
  layersProcessed: number;
  layersFromJournal: number;
  layersReused: number;
  bytesRead: number;
  bytesWritten: number;
}

export interface MigrateReport {
  schemaVersion: 1;
  tool: string;
  config: string;
  output: string;
  layout: 'per-host' | 'shared';
  compression: string;
  dockerSave: boolean;
  onError: 'continue' | 'stop';
  dryRun: boolean;
  hosts: MigrateHostReport[];
  totals: Totals & { hosts: number; hostsFailed: number };
  run: RunStats;
}

/** An ExportReport image in the journal's (run-independent) form. */
export function fromImageReport(r: ImageReport): ExportedImage {
  return {
    legacyId: r.legacyId,
    refs: [...r.refs],
    dockerImageID: r.dockerImageID,
    chainIDs: r.chainIDs,
    configDigest: r.configDigest,
    configFixes: r.configFixes,
    manifestDigest: r.manifestDigest,
    manifestSize: r.manifestSize,
    layers: r.layers.map((l) => ({
      legacyId: l.legacyId,
      diffID: l.diffID,
      digest: l.digest,
      size: l.size,
      uncompressedSize: l.uncompressedSize,
      mediaType: l.mediaType,
      source: l.source,
      ...(l.reason !== undefined ? { reason: l.reason } : {}),
      warnings: [...l.warnings],
    })),
  };
}

export function exportedEntry(img: ExportedImage, digestRefs: string[]): MigrateImage {
  return {
    legacyId: img.legacyId,
    status: 'exported',
    refs: img.refs,
    digestRefs,
    dockerImageID: img.dockerImageID,
    chainIDs: img.chainIDs,
    configDigest: img.configDigest,
    configFixes: img.configFixes,
    manifestDigest: img.manifestDigest,
    manifestSize: img.manifestSize,
    layers: img.layers,
  };
}

/** Plain string order, the same under every locale. */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Images in one order: named first by first name, then by legacy id. */
export function sortImages(list: MigrateImage[]): MigrateImage[] {
  return list.sort((a, b) => {
    const an = a.refs[0];
    const bn = b.refs[0];
    if ((an === undefined) !== (bn === undefined)) return an === undefined ? 1 : -1;
    return byCodeUnit(an ?? '', bn ?? '') || byCodeUnit(a.legacyId, b.legacyId);
  });
}

export function emptyTotals(): Totals {
  return { images: 0, exported: 0, skipped: 0, failed: 0, layers: 0, layersRegenerated: 0, uncompressedBytes: 0, blobBytes: 0 };
}

export function hostTotals(images: MigrateImage[]): Totals {
  const t = emptyTotals();
  const layers = new Map<string, ExportedLayer>();
  for (const img of images) {
    t.images++;
    if (img.status === 'exported') t.exported++;
    else if (img.status === 'skipped') t.skipped++;
    else if (img.status === 'failed') t.failed++;
    for (const l of img.layers ?? []) layers.set(`${l.legacyId}/${l.digest}`, l);
  }
  for (const l of layers.values()) {
    t.layers++;
    if (l.source === 'regenerated') t.layersRegenerated++;
    t.uncompressedBytes += l.uncompressedSize;
    t.blobBytes += l.size;
  }
  return t;
}

export function sumTotals(list: Totals[]): Totals {
  const t = emptyTotals();
  for (const x of list) for (const k of Object.keys(t) as (keyof Totals)[]) t[k] += x[k];
  return t;
}

/** The report as written, keys in a fixed order (the host's `images` mode is `select` in the file). */
export function reportJson(r: MigrateReport): unknown {
  return {
    schemaVersion: r.schemaVersion,
    tool: r.tool,
    config: r.config,
    output: r.output,
    layout: r.layout,
    compression: r.compression,
    dockerSave: r.dockerSave,
    onError: r.onError,
    dryRun: r.dryRun,
    hosts: r.hosts.map((h) => ({
      name: h.name,
      root: h.root,
      layout: h.layout,
      select: h.images,
      prefix: h.prefix,
      status: h.status,
      ...(h.code !== undefined ? { code: h.code } : {}),
      ...(h.reason !== undefined ? { reason: h.reason } : {}),
      plan: r.dryRun ? h.plan : { images: h.plan.images, uniqueLayers: h.plan.uniqueLayers, bytesToRead: h.plan.bytesToRead },
      warnings: h.warnings,
      images: h.imageList.map((i) => ({
        legacyId: i.legacyId,
        status: i.status,
        ...(i.code !== undefined ? { code: i.code } : {}),
        ...(i.reason !== undefined ? { reason: i.reason } : {}),
        refs: i.refs,
        digestRefs: i.digestRefs,
        ...(i.status === 'exported' ? {
          dockerImageID: i.dockerImageID,
          chainIDs: i.chainIDs,
          configDigest: i.configDigest,
          configFixes: i.configFixes,
          manifestDigest: i.manifestDigest,
          manifestSize: i.manifestSize,
          layers: i.layers,
        } : {}),
      })),
      totals: h.totals,
    })),
    totals: r.totals,
    run: r.run,
  };
}

function withoutRun(text: string): string | null {
  try {
    const doc = JSON.parse(text) as Record<string, unknown>;
    delete doc.run;
    return JSON.stringify(doc);
  } catch {
    return null;
  }
}

/**
 * Write `<output>/migrate-report.json` unless the file already says the same apart from `run`.
 * Returns whether it was written.
 */
export function writeReportIfChanged(output: string, report: MigrateReport): { path: string; written: boolean } {
  const path = join(output, REPORT_FILE);
  const text = JSON.stringify(reportJson(report), null, 2) + '\n';
  let old: string | null = null;
  try {
    old = readFileSync(path, 'utf8');
  } catch { /* none yet */ }
  if (old !== null && withoutRun(old) === withoutRun(text)) return { path, written: false };
  mkdirSync(output, { recursive: true });
  writeFileAtomic(path, Buffer.from(text, 'utf8'));
  return { path, written: true };
}
