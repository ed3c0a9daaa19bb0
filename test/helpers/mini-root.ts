// Tiny metadata-only legacy roots for store tests: graph/<id>/json, aufs/layers, aufs/diff dirs and
// repositories-aufs written directly. Layer *content* fixtures come from fixture-builder.ts (GNU tar
// + tar-split); these roots only exercise metadata handling, so no tar is involved.
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';

export function fakeId(label: string): string {
  return createHash('sha256').update(label).digest('hex');
}

export interface MiniLayer {
  id: string;
  parent?: string | null;
  /** raw json text; default is a minimal valid v1 json with id/parent */
  json?: string | null;
  /** aufs/layers content; default derived from the parent chain */
  aufsLayers?: string | null;
  diff?: boolean;
  parentFile?: string;
  layersize?: string;
  tarData?: Buffer;
}

export class MiniRoot {
  readonly dir: string;
  readonly root: string;
  private layers = new Map<string, MiniLayer>();
  constructor() {
    this.dir = mkdtempSync(join(tmpdir(), 'l2o-mini-'));
    this.root = join(this.dir, 'docker');
    for (const d of ['graph/_tmp', 'aufs/diff', 'aufs/layers', 'aufs/mnt']) mkdirSync(join(this.root, d), { recursive: true });
  }
  ancestors(id: string): string[] {
    const out: string[] = [];
    let cur = this.layers.get(id)?.parent ?? null;
    const seen = new Set<string>();
    while (cur && !seen.has(cur)) {
      seen.add(cur);
      out.push(cur);
      cur = this.layers.get(cur)?.parent ?? null;
    }
    return out;
  }
  add(l: MiniLayer): this {
    this.layers.set(l.id, l);
    return this;
  }
  /** Write everything added so far. */
  write(repositories?: unknown): this {
    for (const l of this.layers.values()) {
      const g = join(this.root, 'graph', l.id);
      mkdirSync(g, { recursive: true });
      const json = l.json !== undefined ? l.json : JSON.stringify({ id: l.id, ...(l.parent ? { parent: l.parent } : {}), created: '2015-01-02T03:04:05.123456789Z', container_config: { Cmd: ['/bin/sh', '-c', `#(nop) layer ${l.id.slice(0, 6)}`] }, docker_version: '1.9.1', architecture: 'amd64', os: 'linux', Size: 0 });
      if (json !== null) writeFileSync(join(g, 'json'), json);
      writeFileSync(join(g, 'layersize'), l.layersize ?? '10');
      if (l.parentFile !== undefined) writeFileSync(join(g, 'parent'), l.parentFile);
      if (l.tarData) writeFileSync(join(g, 'tar-data.json.gz'), l.tarData);
      const layersText = l.aufsLayers !== undefined ? l.aufsLayers : this.ancestors(l.id).map((a) => a + '\n').join('');
      if (layersText !== null) writeFileSync(join(this.root, 'aufs/layers', l.id), layersText);
      if (l.diff !== false) mkdirSync(join(this.root, 'aufs/diff', l.id), { recursive: true });
    }
    if (repositories !== undefined) {
      writeFileSync(join(this.root, 'repositories-aufs'), typeof repositories === 'string' ? repositories : JSON.stringify(repositories));
    }
    return this;
  }
  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
