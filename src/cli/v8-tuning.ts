// V8 tiering for the bulk commands (export, check, migrate, validate). Their hot code is a few
// small functions run millions of times (one tar-split line, one file, one chunk) by two or more
// worker isolates on a machine with as many cores. V8's default budget sends every function that
// has run a little to TurboFan, and each isolate compiles its own copy on background threads
// that compete with the workers for the same cores: ~1 s of CPU in a `check` of the bench host
// that itself takes ~2.6 s on 2 cores, ~0.36 s with this budget. A larger budget optimizes only
// what stays hot (the per-entry code still is, within milliseconds). Measured on the bench host,
// the CLI with and without this call in alternating runs (8 pairs): `check` medians 2.90 s
// against 3.16 s; export `gzip:fast` and `none` a few per cent faster.
// The flag is set before any worker starts (workers read the process-wide flags when their
// isolate is made); only for the V8 it was measured on (Node 20's 11.x): another V8 tiers
// differently, and an unknown flag would only print a complaint.
import { setFlagsFromString } from 'node:v8';

/** Bytecode budget before a function is considered for optimization (V8 11's default: 132 KiB). */
export const INTERRUPT_BUDGET = 1_000_000;

let tuned = false;

/** Apply the bulk-work tiering once per process; a no-op on a V8 other than 11.x. */
export function tuneV8ForBulkWork(v8Version: string = process.versions.v8): boolean {
  if (tuned) return true;
  if (!/^11\./.test(v8Version)) return false;
  setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
  tuned = true;
  return true;
}
