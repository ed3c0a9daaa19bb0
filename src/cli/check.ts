// `legacy2oci check [REF...] [--root DIR] [--jobs N] [--json]`: the pre-flight before a migration.
// Replays every layer of the images (all tagged and dangling images without REF), verifies every
// CRC, computes diffIDs, ChainIDs and Docker 1.10 image IDs, and lists changed files per layer.
// Writes nothing anywhere. What Docker's v1.10-migrator did (hash only), without writing into the root.
//
// Exit codes: 0 = every layer checked (byte-exact, or regenerated only because it predates
// tar-split); 1 = a layer is corrupt (files changed since the pull, or its tar-split data is
// damaged: it would be regenerated and get a new diffID), an image could not be checked, or the
// root has errors; 2 = usage or root errors.
//
// --json prints the CheckReport (src/check/check.ts, schemaVersion 1).
import { availableParallelism } from 'node:os';
import { EXIT, UsageError } from '../errors.js';
import { defaultRoot } from '../store/index.js';
import { runCheckJob, type CheckReport } from '../check/check.js';
import { formatTable, humanSize, parseCommandArgs, printJson } from './args.js';
import type { Progress } from './progress.js';

const USAGE = 'usage: legacy2oci check [REF...] [--root DIR] [--jobs N] [--json] [--quiet]';

/** --jobs, as export takes it (default: the number of cores). */
function parseJobs(value: string | undefined): number {
  if (value === undefined) return availableParallelism();
  if (!/^[1-9]\d{0,2}$/.test(value)) throw new UsageError(`--jobs must be a positive integer, not '${value}'`);
  return Number(value);
}

const SILENT: Progress = { update() {}, log() {}, done() {}, fail() {} };

function statusCell(status: string): string {
  return status === 'ok' ? 'ok' : status === 'no-tar-split' ? 'warn: regenerated (no tar-split)' : 'CORRUPT';
}

function printHuman(r: CheckReport): void {
  const lines: string[] = [];
  const t = r.totals;
  const secs = t.elapsedMs / 1000;
  lines.push(`checked ${t.images} image(s), ${t.layers} layer(s), ${humanSize(t.bytes)} in ${secs.toFixed(1)} s (${humanSize(t.bytes / Math.max(secs, 0.001))}/s): ${t.byteExact} byte-exact from tar-split, ${t.noTarSplit} regenerated (no tar-split data), ${t.corrupt} corrupt`);
  if (r.images.length > 0) {
    lines.push('');
    const rows = r.images.flatMap((img) => (img.refs.length ? img.refs : ['<none>']).map((name) => [name, img.legacyId.slice(0, 12), img.dockerImageID.slice(0, 19), String(img.layers.length), statusCell(img.status)]));
    lines.push(formatTable(['IMAGE', 'LEGACY ID', 'DOCKER 1.10 ID', 'LAYERS', 'STATUS'], rows).trimEnd());
  }
  const notOk = r.layers.filter((l) => l.status !== 'ok');
  if (notOk.length > 0) {
    lines.push('');
    for (const l of notOk) {
      lines.push(`layer ${l.legacyId.slice(0, 12)} ${l.status === 'corrupt' ? 'CORRUPT' : 'regenerated'}: ${l.reason ?? ''}`);
      for (const c of l.changedFiles ?? []) lines.push(`    ${c.problem.padEnd(15)} ${c.path}: ${c.detail}`);
      if (l.moreChangedFiles) lines.push(`    ... and ${l.moreChangedFiles} more changed files`);
      if (l.metadataError) lines.push(`    tar-split data: ${l.metadataError}`);
    }
  }
  for (const f of r.failed) lines.push(`FAILED ${f.requested}: ${f.code}: ${f.reason}`);
  lines.push('', r.ok ? 'ok: every layer can be exported' + (t.noTarSplit ? ` (${t.noTarSplit} regenerated: new diffIDs)` : '') : 'NOT OK: see above');
  process.stdout.write(lines.join('\n') + '\n');
}

export async function runCheck(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    root: { type: 'string' },
    jobs: { type: 'string', short: 'j' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
  }, USAGE);
  if (values.help) { process.stdout.write(USAGE + '\n'); return EXIT.OK; }
  const jobs = parseJobs(values.jobs as string | undefined);
  const json = Boolean(values.json);
  // the spinner's modules are only loaded when there is progress to show
  const progress = Boolean(values.quiet) || json ? SILENT : await (await import('./progress.js')).createProgress({ label: 'check' });
  let bytes = 0;
  let bytesTotal = 0;
  const report = await runCheckJob({
    root: defaultRoot(values.root as string | undefined),
    refs: positionals,
    jobs,
    onPlan: (plan) => { bytesTotal = plan.bytesToRead; },
    onLayerDone: (l, done, total) => {
      bytes += l.size;
      if (l.status === 'corrupt') progress.log(`layer ${l.legacyId.slice(0, 12)} CORRUPT: ${l.reason}`);
      progress.update({ layersDone: done, layersTotal: total, bytesDone: bytes, bytesTotal: Math.max(bytesTotal, bytes) });
    },
  });
  if (report.ok) progress.done('check finished');
  else progress.fail('check found problems');
  for (const p of report.problems) process.stderr.write(`${p.severity}: ${p.message}\n`);
  if (json) printJson(report);
  else printHuman(report);
  return report.ok ? EXIT.OK : EXIT.PARTIAL;
}
