// Building fixture hosts once per test file and running third-party readers on exported layouts.
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildLegacyRoot, loadHostSpec, type BuiltHost, type HostSpec } from './fixture-builder.js';
import { PROJECT_ROOT, run } from './env.js';

export interface FixtureHost { spec: HostSpec; built: BuiltHost; dir: string }

const made: string[] = [];
export function cleanupHosts(): void {
  for (const d of made.splice(0)) rmSync(d, { recursive: true, force: true });
}

/** Build fixtures/<rel> (a HostSpec json) into a fresh temp dir with GNU tar + tar-split. */
export function buildHost(rel: string): FixtureHost {
  const spec = loadHostSpec(join(PROJECT_ROOT, 'fixtures', rel));
  const dir = mkdtempSync(join(tmpdir(), `l2o-${spec.name}-`));
  made.push(dir);
  const built = buildLegacyRoot(spec, join(dir, 'docker'));
  return { spec, built, dir };
}

export function tempDir(label: string): string {
  const d = mkdtempSync(join(tmpdir(), `l2o-${label}-`));
  made.push(d);
  return d;
}

/** Every blob and top-level file of a layout: name → content sha (for byte-identity checks). */
export function layoutFingerprint(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const list = run('sh', ['-c', 'find . -type f | LC_ALL=C sort | xargs sha256sum'], { cwd: dir }).toString();
  for (const line of list.trim().split('\n')) {
    const [sha, name] = line.split(/\s+/);
    out[name!] = sha!;
  }
  return out;
}

export function readJson(path: string): any {
  return JSON.parse(readFileSync(path, 'utf8'));
}
