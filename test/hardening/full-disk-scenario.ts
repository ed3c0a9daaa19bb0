// Run by full-disk.test.ts inside a private mount namespace (`unshare -m --propagation private`):
// mounts a small tmpfs, fills it with exports, remounts it bigger or read-only, and prints what it
// saw as one JSON document on stdout. The mounts vanish with the namespace, whatever happens.
// Not a test file itself (no .test.js): it only observes; the test judges.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { badBlobs, fingerprint, leftovers, runCli } from './harness.js';

interface Args {
  mnt: string;
  /** root whose layersize is honest: the pre-flight check must refuse */
  honestRoot: string;
  /** root whose layersize says 1 byte: the pre-flight check passes, the writes hit ENOSPC */
  lyingRoot: string;
  ref: string;
}

const args = JSON.parse(process.argv[2]!) as Args;

function sh(cmd: string, a: string[]): void {
  const r = spawnSync(cmd, a, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${a.join(' ')}: ${r.stderr}`);
}

async function step(name: string, cliArgs: string[], out: string) {
  const r = await runCli(cliArgs, { timeoutMs: 120_000 });
  const exists = existsSync(out);
  let validate: { status: number | null; stdout: string } | null = null;
  if (exists && existsSync(join(out, 'index.json'))) {
    const v = await runCli(['validate', out], { timeoutMs: 120_000 });
    validate = { status: v.status, stdout: v.stdout.slice(0, 3000) };
  }
  return {
    name,
    status: r.status,
    signal: r.signal,
    timedOut: r.timedOut,
    stdout: r.stdout.slice(0, 6000),
    stderr: r.stderr.slice(0, 3000),
    outExists: exists,
    badBlobs: exists && existsSync(join(out, 'blobs')) ? badBlobs(out) : [],
    leftovers: exists ? leftovers(out) : [],
    validate,
    fingerprint: exists ? fingerprint(out) : null,
  };
}

async function main(): Promise<void> {
  const results: unknown[] = [];
  mkdirSync(args.mnt, { recursive: true });
  sh('mount', ['-t', 'tmpfs', '-o', 'size=4m,mode=0755', 'tmpfs', args.mnt]);
  try {
    const out1 = join(args.mnt, 'preflight');
    results.push(await step('preflight', ['export', args.ref, out1, '--root', args.honestRoot, '--compress', 'none', '--quiet', '--json'], out1));

    const out2 = join(args.mnt, 'midway');
    results.push(await step('enospc', ['export', args.ref, out2, '--root', args.lyingRoot, '--compress', 'none', '--jobs', '1', '--quiet', '--json'], out2));

    const tarOut = join(args.mnt, 'image.tar');
    const tarStep = await step('enospc-tar', ['export', args.ref, tarOut, '--root', args.lyingRoot, '--compress', 'none', '--jobs', '1', '--quiet', '--json'], tarOut);
    results.push({ ...tarStep, dirAfter: spawnSync('ls', ['-A', args.mnt], { encoding: 'utf8' }).stdout.trim().split('\n').sort() });
    const packStep = await step('enospc-tar-pack', ['export', 'disk/small:latest', tarOut, '--root', args.lyingRoot, '--compress', 'none', '--jobs', '1', '--quiet', '--json'], tarOut);
    results.push({ ...packStep, dirAfter: spawnSync('ls', ['-A', args.mnt], { encoding: 'utf8' }).stdout.trim().split('\n').sort() });

    sh('mount', ['-o', 'remount,size=64m', args.mnt]);
    results.push(await step('rerun-with-space', ['export', args.ref, out2, '--root', args.lyingRoot, '--compress', 'none', '--jobs', '1', '--quiet', '--json'], out2));

    sh('mount', ['-o', 'remount,ro', args.mnt]);
    const out3 = join(args.mnt, 'readonly-new');
    results.push(await step('erofs-new', ['export', args.ref, out3, '--root', args.lyingRoot, '--compress', 'none', '--quiet', '--json'], out3));
    results.push(await step('erofs-existing', ['export', args.ref, out2, '--root', args.lyingRoot, '--compress', 'gzip', '--quiet', '--json'], out2));
  } finally {
    spawnSync('umount', [args.mnt]);
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ scenarioError: String((err as Error).stack ?? err) }));
  process.exitCode = 1;
});
