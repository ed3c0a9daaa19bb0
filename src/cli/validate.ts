// `legacy2oci validate LAYOUT [--ref NAME] [--deep|--shallow] [--strict] [--json] [--format text|json|junit] [--jobs N]`
//
// Exit codes: 0 the layout is valid (warnings allowed unless --strict), 1 it is invalid,
// 2 the check could not run (bad flags, missing or unreadable LAYOUT).
//
// --json (same as --format json) prints the ValidationReport of src/oci/validate. This schema is
// stable; fields may be added, never renamed or removed:
//
//   {
//     "valid": boolean,            // no finding with severity "error"
//     "errors": number,            // findings with severity "error" (warnings count here with --strict)
//     "warnings": number,
//     "findings": [{
//       "severity": "error" | "warning",
//       "rule": string,            // stable kebab-case id, e.g. "blob-digest"; see RULES in src/oci/validate/rules.ts
//       "file"?: string,           // relative to LAYOUT: "index.json", "blobs/sha256/<hex>", "manifest.json"
//       "digest"?: string,         // "sha256:<hex>" of the blob or descriptor concerned
//       "ref"?: string,            // org.opencontainers.image.ref.name of the index.json entry it was reached from
//       "path"?: string,           // entry path inside a layer tar
//       "message": string          // one line
//     }],
//     "stats": {
//       "mode": "deep" | "shallow", "strict": boolean,
//       "indexes": number, "manifests": number, "configs": number, "layers": number, "blobs": number,
//       "bytesRead": number, "uncompressedBytes": number, "tarEntries": number,
//       "unreferencedChecked": boolean, "dockerManifest": boolean,
//       "durationMs": number, "mbPerSecond": number
//     }
//   }
//
// --format junit prints JUnit XML: one testcase per rule id (failure = error findings,
// system-out = warnings, skipped = rule not evaluated in this mode).
import { parseArgs } from 'node:util';
import { EXIT, UsageError } from '../errors.js';
import { formatJson, formatJunit, formatText, validateLayout } from '../oci/validate/index.js';

export const VALIDATE_USAGE = `usage: legacy2oci validate LAYOUT [options]

Check an OCI image layout directory. Exit 0 valid, 1 invalid, 2 could not run.

options:
  --ref NAME              check only the index.json entry with this ref.name
  --deep                  also decompress layers, check diffIDs and tar content (default)
  --shallow               check documents, digests and sizes only
  --strict                warnings count as errors
  --json                  same as --format json
  --format text|json|junit
  --jobs N                worker threads for blob checks (default: number of cores; 0 = none)
  -h, --help`;

export async function runValidate(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        ref: { type: 'string' },
        deep: { type: 'boolean' },
        shallow: { type: 'boolean' },
        strict: { type: 'boolean' },
        json: { type: 'boolean' },
        format: { type: 'string' },
        jobs: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n${VALIDATE_USAGE}`);
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${VALIDATE_USAGE}\n`);
    return EXIT.OK;
  }
  if (positionals.length !== 1) throw new UsageError(`expected exactly one LAYOUT directory, got ${positionals.length}\n${VALIDATE_USAGE}`);
  if (values.deep && values.shallow) throw new UsageError('--deep and --shallow cannot be used together');
  const format = values.format ?? (values.json ? 'json' : 'text');
  if (format !== 'text' && format !== 'json' && format !== 'junit') throw new UsageError(`--format must be text, json or junit, not '${format}'`);
  if (values.json && format !== 'json') throw new UsageError(`--json conflicts with --format ${format}`);
  let jobs: number | undefined;
  if (values.jobs !== undefined) {
    if (!/^\d+$/.test(values.jobs)) throw new UsageError(`--jobs must be a non-negative integer, not '${values.jobs}'`);
    jobs = Number(values.jobs);
  }
  if (values.ref === '') throw new UsageError('--ref needs a name');

  const layout = positionals[0];
  const report = await validateLayout(layout, {
    ref: values.ref,
    deep: !values.shallow,
    strict: values.strict ?? false,
    jobs,
  });
  const out = format === 'json' ? formatJson(report) : format === 'junit' ? formatJunit(report, layout) : formatText(report, layout);
  process.stdout.write(out);
  return report.valid ? EXIT.OK : EXIT.PARTIAL;
}
