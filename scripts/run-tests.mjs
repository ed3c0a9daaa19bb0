#!/usr/bin/env node
// Runs every compiled test file (dist/test/**/*.test.js) with node:test.
// Node 20's --test takes no globs, so the list is built here. Extra args are passed through
// (e.g. `npm test -- --test-name-pattern=tar`); a path argument ending in .test.js limits the run.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';

const root = new URL('../dist/test/', import.meta.url).pathname;
function walk(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
const args = process.argv.slice(2);
const only = args.filter((a) => a.endsWith('.test.js') || a.endsWith('.test.ts'));
const flags = args.filter((a) => !only.includes(a));
let files = walk(root);
if (only.length) files = files.filter((f) => only.some((o) => f.endsWith(o.replace(/\.ts$/, '.js').replace(/^test\//, ''))));
if (files.length === 0) { console.error('run-tests: no test files found under dist/test'); process.exit(1); }
const r = spawnSync(process.execPath, ['--test', '--test-concurrency=2', ...flags, ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
