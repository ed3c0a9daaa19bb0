// `validateLayout(dir, opts)`: a CI-grade check of an OCI image layout. It re-derives what it
// checks (digests, sizes, diffIDs, tar structure) instead of trusting any field. Throws an
// L2OError with exit code 2 only when there is nothing to validate (missing or unreadable
// directory); everything else is a finding in the report.
import { performance } from 'node:perf_hooks';
import { Context } from './context.js';
import { checkDockerManifest } from './docker-manifest.js';
import { assertLayoutDir, checkBlobsDir, checkLayoutFile, checkUnreferenced, readIndexJson } from './layout.js';
import { createChecker } from './pool.js';
import type { ValidateOptions, ValidationReport } from './types.js';
import { Walker } from './walk.js';

export type { Finding, ValidateOptions, ValidationReport, ValidationStats, RuleId, Severity } from './types.js';
export { RULES, RULE_IDS, type RuleInfo } from './rules.js';
export { formatText, formatJson, formatJunit } from './format.js';

export async function validateLayout(dir: string, opts: ValidateOptions = {}): Promise<ValidationReport> {
  const started = performance.now();
  await assertLayoutDir(dir);
  const checker = createChecker(opts.jobs);
  const ctx = new Context(dir, opts, checker);
  let dockerManifest = false;
  try {
    await checkLayoutFile(ctx);
    await checkBlobsDir(ctx);
    const index = await readIndexJson(ctx);
    const walker = new Walker(ctx);
    if (index !== undefined) await walker.walkTop(index);
    await walker.settle();
    // with --ref only that entry is checked: manifest.json and unreferenced blobs are about the whole layout
    if (opts.ref === undefined) {
      dockerManifest = await checkDockerManifest(ctx);
      await checkUnreferenced(ctx);
    }
  } finally {
    await checker.close();
  }
  const durationMs = Math.round(performance.now() - started);
  const c = ctx.counters;
  return ctx.rep.build(
    {
      mode: ctx.deep ? 'deep' : 'shallow',
      strict: opts.strict ?? false,
      ...c,
      unreferencedChecked: opts.ref === undefined,
      dockerManifest,
      durationMs,
      mbPerSecond: durationMs > 0 ? Math.round((c.bytesRead / 1e6 / (durationMs / 1000)) * 10) / 10 : 0,
    },
    opts.strict ?? false,
  );
}
