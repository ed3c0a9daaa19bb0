#!/usr/bin/env node
// `npm run demo`: unpacks the committed demo host (a Docker 1.9.1 aufs root that ran the training
// image training/webapp) into ./.demo/ and runs the CLI on it. Exits with the first non-zero code.
// Plain JS on purpose: it runs straight after `npm ci` (which builds dist/).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const PROJECT_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const ARCHIVE = 'fixtures/demo/demo-root.tar.gz';
const DEMO_DIR = '.demo';
const ROOT = `${DEMO_DIR}/docker`;
const REF = 'training/webapp:latest';

/** Runs one step from the project root, echoing it first; returns its exit code. */
function step(cmd, args, shown = cmd) {
  process.stdout.write(`\n$ ${[shown, ...args].join(' ')}\n`);
  const r = spawnSync(cmd, args, { cwd: PROJECT_ROOT, stdio: 'inherit' });
  if (r.error) {
    process.stderr.write(`demo: cannot run ${cmd}: ${r.error.message}\n`);
    return 127;
  }
  return r.status ?? 1;
}

function main() {
  if (!existsSync(join(PROJECT_ROOT, 'dist', 'src', 'cli', 'main.js'))) {
    process.stderr.write('demo: dist/ is missing; run `npm ci` (or `npm run build`) first\n');
    return 1;
  }
  // Fresh copy every time. The system tar keeps hard links (aufs whiteouts are hard links);
  // owners only matter to root, so others take the files as their own.
  rmSync(join(PROJECT_ROOT, DEMO_DIR), { recursive: true, force: true });
  mkdirSync(join(PROJECT_ROOT, DEMO_DIR));
  const asRoot = process.getuid?.() === 0;
  const steps = [
    ['tar', ['-xzf', ARCHIVE, '-C', DEMO_DIR, ...(asRoot ? [] : ['--no-same-owner'])]],
    [process.execPath, ['bin/legacy2oci.js', 'ls', '--root', ROOT], 'node'],
    [process.execPath, ['bin/legacy2oci.js', 'inspect', REF, '--root', ROOT], 'node'],
  ];

  // ── export + validate ─────────────────────────────────────────────────────────────
  // Runs once the export command is built (dist/src/cli/export.js exists).
  if (existsSync(join(PROJECT_ROOT, 'dist', 'src', 'cli', 'export.js'))) {
    steps.push([process.execPath, ['bin/legacy2oci.js', 'export', REF, 'out', '--root', ROOT], 'node']);
    steps.push([process.execPath, ['bin/legacy2oci.js', 'validate', 'out'], 'node']);
  }
  // ──────────────────────────────────────────────────────────────────────────────────

  for (const [cmd, args, shown] of steps) {
    const code = step(cmd, args, shown);
    if (code !== 0) {
      process.stderr.write(`\ndemo: '${[shown ?? cmd, ...args].join(' ')}' exited ${code}\n`);
      return code;
    }
  }
  return 0;
}

process.exitCode = main();
