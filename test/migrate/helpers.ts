// Helpers for the migrate tests: configs, byte/metadata snapshots of an output, a big generated host.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { derivedId, type HostSpec, type LayerSpec } from '../helpers/fixture-builder.js';
import { layoutFingerprint } from '../helpers/layouts.js';

export function writeConfig(dir: string, text: string, name = 'migrate.toml'): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

/** A TOML string literal. */
export function q(s: string): string {
  return JSON.stringify(s);
}

/** Every file of a layout by content, without migrate's own state dir (.legacy2oci/). */
export function layoutPrint(dir: string): Record<string, string> {
  const all = layoutFingerprint(dir);
  return Object.fromEntries(Object.entries(all).filter(([k]) => !k.startsWith('./.legacy2oci/')));
}

/**
 * Every file and directory under `dir` with its content hash, size, mtime and inode: two equal
 * snapshots mean nothing was written, replaced, added or removed.
 */
export function snapshot(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string, rel: string) => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isDirectory()) {
        out[`${r}/`] = 'dir';
        walk(p, r);
      } else {
        out[r] = `${createHash('sha256').update(readFileSync(p)).digest('hex')} size=${st.size} mtime=${st.mtimeMs} ino=${st.ino}`;
      }
    }
  };
  walk(dir, '');
  return out;
}

/** Deterministic incompressible bytes. */
export function pseudoRandom(label: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  let off = 0;
  let n = 0;
  while (off < size) {
    const block = createHash('sha512').update(`${label}/${n++}`).digest();
    off += block.copy(out, off);
  }
  return out;
}

/**
 * A host big enough to kill a migration mid-way: `layers` layers in one chain, each with a file of
 * `size` incompressible bytes (so every layer takes real gzip time), tagged big/app:1 and, at the
 * middle layer, big/base:1.
 */
export function bigHostSpec(layers: number, size: number): HostSpec {
  const list: LayerSpec[] = [];
  let parent: string | undefined;
  for (let i = 0; i < layers; i++) {
    const id = derivedId(`big-layer-${i}`);
    list.push({
      id,
      ...(parent ? { parent } : {}),
      format: 'pax',
      json: { created: `2015-05-${String(i + 1).padStart(2, '0')}T00:00:00Z`, dockerVersion: '1.9.1', architecture: 'amd64', os: 'linux', containerCmd: ['/bin/sh', '-c', `add blob ${i}`] },
      entries: [
        { type: 'file', path: `data/blob-${i}.bin`, content: { base64: pseudoRandom(`big-${i}`, size).toString('base64') } },
        { type: 'file', path: `etc/layer-${i}`, content: `layer ${i}\n` },
      ],
    });
    parent = id;
  }
  return {
    name: 'big',
    description: 'generated for the migrate resume tests',
    mtime: 1450000000,
    layerMtime: 1430000000,
    layers: list,
    repositories: {
      'big/app': { '1': list[list.length - 1]!.id },
      'big/base': { '1': list[Math.floor(layers / 2)]!.id },
    },
  };
}
