// Runs a list of legacy2oci command lines one after the other and prints, as one JSON document,
// what each did (exit status, output, and a fingerprint of the layout it wrote, if any).
// read-only.test.ts starts it inside a private mount namespace where the root is a read-only bind
// mount, and again on the writable root under strace. Not a test file itself.
import { existsSync, statSync } from 'node:fs';
import { fingerprint, runCli } from './harness.js';

interface Command {
  args: string[];
  /** a layout (dir) or archive (file) the command writes, fingerprinted afterwards */
  out?: string;
}

async function main(): Promise<void> {
  const commands = JSON.parse(process.argv[2]!) as Command[];
  const results = [];
  for (const c of commands) {
    const r = await runCli(c.args, { timeoutMs: 180_000 });
    let print: Record<string, string> | null = null;
    if (c.out && existsSync(c.out) && statSync(c.out).isDirectory()) print = fingerprint(c.out, { exclude: /^\.legacy2oci\/|migrate-report\.json$/ });
    results.push({ args: c.args, status: r.status, signal: r.signal, timedOut: r.timedOut, stdout: r.stdout.slice(0, 20_000), stderr: r.stderr.slice(0, 5000), print });
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ scenarioError: String((err as Error).stack ?? err) }));
  process.exitCode = 1;
});
