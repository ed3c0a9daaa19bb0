// `legacy2oci export REF... OUT`: thin wrapper over runExport: arguments, progress, report.
//
// --json prints the ExportReport (src/export/export.ts, schemaVersion 1): per image the refs,
// legacy id, Docker 1.10 image ID, ChainIDs, config and manifest digests, and per layer its legacy
// id, diffID, digest, size, source (tar-split | regenerated) and the reason for regeneration;
// images that could not be exported are listed in `failed` with a code and reason.
import { availableParallelism } from 'node:os';
import { EXIT, UsageError } from '../errors.js';
import { defaultRoot } from '../store/index.js';
import { runExport, compressionLabel, type ExportReport } from '../export/export.js';
import { defaultCompression, parseCompression } from '../engine/compression/registry.js';
import { humanSize, parseCommandArgs, printJson } from './args.js';
import { createProgress } from './progress.js';
import { installSignalHandlers } from './signals.js';

const USAGE = `usage: legacy2oci export REF... OUT [--root DIR] [--compress gzip[:N]|gzip:fast|zstd[:N]|none] [--jobs N]
                         [--name REF] [--docker-save] [--dry-run] [--json] [--quiet]`;

export function parseJobs(value: string | undefined): number {
  if (value === undefined) return availableParallelism();
  if (!/^[1-9]\d{0,2}$/.test(value)) throw new UsageError(`--jobs must be a positive integer, not '${value}'`);
  return Number(value);
}

function printHuman(report: ExportReport): void {
  const lines: string[] = [];
  if (report.dryRun) {
    lines.push(`Plan for ${report.out} (${report.compression}):`);
    lines.push(`  images          ${report.plan.images}`);
    lines.push(`  unique layers   ${report.plan.uniqueLayers}`);
    lines.push(`  bytes to read   ${humanSize(report.plan.bytesToRead)} (from layersize; unreliable on very old roots)`);
    lines.push(`  output estimate ${humanSize(report.plan.estimatedOutputBytes)}`);
  }
  for (const img of report.images) {
    const byteExact = img.layers.every((l) => l.source === 'tar-split');
    lines.push(`${img.refs.join(', ') || img.legacyId.slice(0, 12)}  manifest ${img.manifestDigest}`);
    lines.push(`  legacy id ${img.legacyId}`);
    lines.push(`  config    ${img.configDigest}${img.configDigest === img.dockerImageID ? '  (= Docker 1.10 image ID)' : `  (Docker 1.10 image ID ${img.dockerImageID}; config fixed: ${img.configFixes.join(', ') || 'layers regenerated'})`}`);
    lines.push(`  layers    ${img.layers.length}, ${byteExact ? 'all byte-exact from tar-split' : `${img.layers.filter((l) => l.source === 'regenerated').length} regenerated`}`);
    for (const l of img.layers) if (l.reason) lines.push(`    ${l.legacyId.slice(0, 12)} regenerated: ${l.reason}`);
  }
  for (const f of report.failed) lines.push(`FAILED ${f.requested}: ${f.code}: ${f.reason}`);
  if (!report.dryRun) {
    const t = report.totals;
    lines.push(`${report.images.length} image(s) exported to ${report.out}, ${report.failed.length} failed; ${t.layersProcessed} layers (${t.layersReused} reused, ${t.layersRegenerated} regenerated), ${humanSize(t.bytesRead)} read, ${humanSize(t.bytesWritten)} written in ${(t.elapsedMs / 1000).toFixed(1)} s`);
  }
  process.stdout.write(lines.join('\n') + '\n');
}

export async function runExportCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    root: { type: 'string' },
    compress: { type: 'string' },
    jobs: { type: 'string', short: 'j' },
    name: { type: 'string' },
    'docker-save': { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
  }, USAGE);
  if (values.help) { process.stdout.write(USAGE + '\n'); return EXIT.OK; }
  if (positionals.length < 2) throw new UsageError(`export needs at least one REF and an OUT\n${USAGE}`);
  const out = positionals[positionals.length - 1]!;
  const refs = positionals.slice(0, -1);
  if (values.name !== undefined && refs.length !== 1) throw new UsageError('--name renames a single image; give exactly one REF');
  // no --compress: igzip when installed, else zlib level 6 (the report names the engine either way)
  const compression = values.compress !== undefined ? parseCompression(values.compress as string) : defaultCompression();
  const jobs = parseJobs(values.jobs as string | undefined);
  const json = Boolean(values.json);
  const quiet = Boolean(values.quiet) || Boolean(values['dry-run']);
  const progress = await createProgress({ quiet, label: `export ${compressionLabel(compression)}` });
  // --quiet silences progress, never warnings: a layer that fell back to regeneration always says so
  const warn = (line: string) => (quiet ? process.stderr.write(line + '\n') : progress.log(line));
  let bytesTotal = 0;
  let bytesDone = 0;
  const restoreSignals = installSignalHandlers(out);
  try {
    const report = await runExport({
      root: defaultRoot(values.root as string | undefined),
      refs,
      out,
      compression,
      jobs,
      rename: values.name as string | undefined,
      dockerSave: Boolean(values['docker-save']),
      dryRun: Boolean(values['dry-run']),
      onPlan: (plan) => { bytesTotal = plan.bytesToRead; },
      onLayerDone: (r, done, total) => {
        bytesDone += r.uncompressedSize;
        if (r.source === 'regenerated') warn(`warning: layer ${r.id.slice(0, 12)} regenerated: ${r.reason ?? 'no tar-split data'}`);
        for (const w of r.warnings) warn(`warning: layer ${r.id.slice(0, 12)}: ${w}`);
        progress.update({ layersDone: done, layersTotal: total, bytesDone, bytesTotal: Math.max(bytesTotal, bytesDone) });
      },
    });
    if (report.failed.length) progress.fail(`${report.failed.length} image(s) not exported`);
    else progress.done(`exported ${report.images.length} image(s)`);
    if (json) printJson(report);
    else printHuman(report);
    return report.failed.length > 0 ? EXIT.PARTIAL : EXIT.OK;
  } finally {
    restoreSignals();
  }
}

