// `legacy2oci migrate [CONFIG] [--dry-run] [--verify] [--json] [--quiet]`: batch migration of whole
// hosts from migrate.toml (src/migrate/). Thin: arguments, signals, progress, printing.
//
// Exit codes: 0 every selected image exported; 1 some image or host failed (the rest exported);
// 2 config error, nothing done (every problem listed as `file:line:column: key.path: problem`);
// 130/143 interrupted (temp files removed; a rerun resumes).
// --json prints the report (src/migrate/report.ts, schemaVersion 1) on stdout; a config error
// prints {"schemaVersion":1,"errors":[{file,line,column,key,message}]}.
import { EXIT, UsageError } from '../errors.js';
import { ConfigError, DEFAULT_CONFIG, formatIssue, loadConfig, type MigrateConfig } from '../migrate/config.js';
import { createMigrateProgress } from '../migrate/progress.js';
import { reportJson, type MigrateHostReport, type MigrateReport } from '../migrate/report.js';
import { runMigration } from '../migrate/run.js';
import { humanSize, parseCommandArgs, printJson } from './args.js';
import { onInterrupt, removeOwnTempFiles } from './signals.js';

const USAGE = `usage: legacy2oci migrate [CONFIG] [--dry-run] [--verify] [--json] [--quiet]

  CONFIG      the migration config (default ./migrate.toml; see migrate.toml.example)
  --dry-run   print the plan (images, unique layers, bytes to read, what the journal already has); write nothing
  --verify    re-hash every blob a previous run journaled instead of trusting it
  --json      print the report as JSON on stdout (progress goes to stderr)
  --quiet     no progress`;

function installSignals(cfg: MigrateConfig): () => void {
  const dirs = [...new Set([cfg.output, ...cfg.hosts.map((h) => h.layout)])];
  return onInterrupt(() => {
    for (const d of dirs) removeOwnTempFiles(d);
  }, 'temp files removed, a rerun resumes from the journal');
}

function byReason(images: MigrateHostReport['imageList'], status: 'skipped'): Map<string, number> {
  const m = new Map<string, number>();
  for (const i of images) if (i.status === status) m.set(i.reason ?? '', (m.get(i.reason ?? '') ?? 0) + 1);
  return m;
}

function imageLabel(i: { refs: string[]; legacyId: string }): string {
  return i.refs.length ? i.refs.join(', ') : i.legacyId.slice(0, 12);
}

function printPlan(r: MigrateReport): void {
  const lines = [`Plan for ${r.hosts.length} host(s) from ${r.config} (${r.layout} layout${r.layout === 'shared' ? ` ${r.output}` : `s under ${r.output}`}, ${r.compression}):`];
  let images = 0;
  let layers = 0;
  let bytes = 0;
  let pendingLayers = 0;
  let pendingBytes = 0;
  for (const h of r.hosts) {
    if (h.status === 'failed') {
      lines.push(`${h.name}  ${h.root}`, `  FAILED ${h.code}: ${h.reason}`);
      continue;
    }
    const planned = h.imageList.filter((i) => i.status === 'planned');
    const named = planned.filter((i) => i.refs.length > 0);
    lines.push(`${h.name}  ${h.root} → ${h.layout}`);
    lines.push(`  images          ${h.plan.images}${planned.length > named.length ? ` (${planned.length - named.length} untagged, by id)` : ''}`);
    lines.push(`  unique layers   ${h.plan.uniqueLayers}`);
    lines.push(`  bytes to read   ${humanSize(h.plan.bytesToRead)}`);
    lines.push(`  still to do     ${h.plan.pendingLayers} layer(s), ${humanSize(h.plan.pendingBytes)} (the rest is in the journal)`);
    for (const i of named) lines.push(`    ${i.refs.join(', ')}`);
    for (const [reason, n] of byReason(h.imageList, 'skipped')) lines.push(`  skipped ${n}: ${reason}`);
    for (const i of h.imageList.filter((x) => x.status === 'failed')) lines.push(`  FAILED ${imageLabel(i)}: ${i.code}: ${i.reason}`);
    images += h.plan.images;
    layers += h.plan.uniqueLayers;
    bytes += h.plan.bytesToRead;
    pendingLayers += h.plan.pendingLayers;
    pendingBytes += h.plan.pendingBytes;
  }
  lines.push(`Total: ${images} image(s), ${layers} unique layer(s), ${humanSize(bytes)} to read (estimate from layersize); still to do: ${pendingLayers} layer(s), ${humanSize(pendingBytes)}`);
  process.stdout.write(lines.join('\n') + '\n');
}

function printSummary(r: MigrateReport, reportPath: string | null, written: boolean): void {
  const lines: string[] = [];
  for (const h of r.hosts) {
    const t = h.totals;
    if (h.code !== undefined && h.imageList.length === 0) {
      lines.push(`${h.name}: FAILED ${h.code}: ${h.reason}`);
      continue;
    }
    lines.push(`${h.name}: ${h.status}: ${t.exported} exported, ${t.skipped} skipped, ${t.failed} failed; ${t.layers} layers (${t.layersRegenerated} regenerated), ${humanSize(t.blobBytes)} in ${h.layout}`);
    for (const i of h.imageList) {
      if (i.status === 'failed') lines.push(`  FAILED ${imageLabel(i)}: ${i.code}: ${i.reason}`);
      else if (i.status === 'exported' && i.layers?.some((l) => l.source === 'regenerated')) {
        const regen = i.layers.filter((l) => l.source === 'regenerated');
        lines.push(`  ${imageLabel(i)}: ${regen.length} layer(s) regenerated (${[...new Set(regen.map((l) => l.reason ?? 'no tar-split data'))].join('; ')}), Docker 1.10 ID ${i.dockerImageID}`);
      }
    }
    for (const [reason, n] of byReason(h.imageList, 'skipped')) lines.push(`  skipped ${n}: ${reason}`);
  }
  const t = r.totals;
  const run = r.run;
  lines.push(`${t.exported} image(s) exported, ${t.skipped} skipped, ${t.failed} failed, from ${t.hosts} host(s)${t.hostsFailed ? ` (${t.hostsFailed} failed)` : ''}; ` +
    `this run: ${run.layersProcessed} layer(s) processed (${run.layersReused} already in place), ${run.layersFromJournal} from the journal, ` +
    `${humanSize(run.bytesRead)} read, ${humanSize(run.bytesWritten)} written in ${(run.elapsedMs / 1000).toFixed(1)} s`);
  if (reportPath) lines.push(`report: ${reportPath}${written ? '' : ' (unchanged)'}`);
  process.stdout.write(lines.join('\n') + '\n');
}

export async function runMigrate(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    'dry-run': { type: 'boolean' },
    verify: { type: 'boolean' },
    json: { type: 'boolean' },
    quiet: { type: 'boolean', short: 'q' },
  }, USAGE);
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    return EXIT.OK;
  }
  if (positionals.length > 1) throw new UsageError(`migrate takes one CONFIG, got ${positionals.length}\n${USAGE}`);
  const json = Boolean(values.json);
  let cfg: MigrateConfig;
  try {
    cfg = loadConfig(positionals[0] ?? DEFAULT_CONFIG);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const i of err.issues) process.stderr.write(`legacy2oci migrate: E_CONFIG: ${formatIssue(i)}\n`);
    process.stderr.write(`legacy2oci migrate: ${err.issues.length} problem(s) in the config; nothing done\n`);
    if (json) printJson({ schemaVersion: 1, errors: err.issues });
    return EXIT.USAGE;
  }
  const dryRun = Boolean(values['dry-run']);
  const restore = dryRun ? () => {} : installSignals(cfg);
  try {
    const outcome = await runMigration({
      config: cfg,
      dryRun,
      verify: Boolean(values.verify),
      progress: dryRun ? undefined : (hosts) => createMigrateProgress({ quiet: Boolean(values.quiet), hosts }),
    });
    if (json) printJson(reportJson(outcome.report));
    else if (dryRun) printPlan(outcome.report);
    else printSummary(outcome.report, outcome.reportPath, outcome.reportWritten);
    return outcome.exitCode;
  } finally {
    restore();
  }
}
