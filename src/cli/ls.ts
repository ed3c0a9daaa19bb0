// `legacy2oci ls`: what a legacy root holds, like `docker images`, plus what will not export cleanly.
//
// --json schema (schemaVersion 1; fields are only ever added):
// { "schemaVersion": 1, "root": string, "driver": "aufs",
//   "images": [ { "id": 64-hex, "repoTags": ["repo:tag"], "repoDigests": ["repo@sha256:…"],
//                 "created": string|null, "size": number|null, "layers": number|null,
//                 "chain": [64-hex, base→top]|null, "tagged": bool, "intermediate": bool,
//                 "status": "ok"|"warning"|"broken",
//                 "problems": [ { "code", "severity": "error"|"warning", "message", "file"? } ] } ],
//   "containers": [ { "id", "image": 64-hex|null } ], "orphans": [string],
//   "problems": [ … root-level problems … ] }
// Roots with a Docker 1.10+ store (image/<driver>/) or a non-aufs graph add
//   "stores": [ { "kind": "graph"|"image-store", "driver", "images" } ] at the top, and per image
//   "store": "graph"|"image-store", "driver", and "legacyId" (hybrid roots: the graph id a 1.10+
//   image was migrated from; it is listed once). An image-store id is Docker's image id (config digest).
import { EXIT } from '../errors.js';
import { defaultRoot, openStore, type LegacyImage, type LegacyStore } from '../store/index.js';
import { formatTable, humanSize, parseCommandArgs, printJson } from './args.js';

const USAGE = 'usage: legacy2oci ls [--root DIR] [--all] [--json]';

export interface ImageRow {
  id: string;
  repoTags: string[];
  repoDigests: string[];
  created: string | null;
  size: number | null;
  layers: number | null;
  chain: string[] | null;
  tagged: boolean;
  intermediate: boolean;
  status: LegacyImage['status'];
  problems: LegacyImage['problems'];
  store?: LegacyImage['store'];
  driver?: string;
  legacyId?: string | null;
}

/** Sum of layersize over the chain (Docker's "virtual size"); null when any is unknown. */
function chainSize(store: LegacyStore, img: LegacyImage): number | null {
  if (!img.chain) return null;
  let total = 0;
  for (const id of img.chain) {
    const s = store.layers.get(id)?.layerSize;
    if (s === null || s === undefined) return null;
    total += s;
  }
  return total;
}

export function imageRows(store: LegacyStore, all: boolean): ImageRow[] {
  const rows: ImageRow[] = [];
  for (const img of store.images.values()) {
    const tagged = img.tags.length > 0 || img.digests.length > 0;
    if (!all && !tagged) continue;
    rows.push({
      id: img.id,
      repoTags: [...img.tags].sort(),
      repoDigests: [...img.digests].sort(),
      created: img.created ?? store.layers.get(img.id)?.created ?? null,
      size: chainSize(store, img),
      layers: img.chain ? img.chain.length : null,
      chain: img.chain,
      tagged,
      intermediate: !tagged && img.hasChildren,
      status: img.status,
      problems: img.problems,
      ...(store.stores ? { store: img.store ?? 'graph', driver: img.driver ?? store.driver, legacyId: img.legacyId ?? null } : {}),
    });
  }
  // Tagged first (by name), then untagged by creation time, newest first, like `docker images`.
  return rows.sort((a, b) => {
    if (a.tagged !== b.tagged) return a.tagged ? -1 : 1;
    if (a.tagged) return (a.repoTags[0] ?? a.repoDigests[0]!).localeCompare(b.repoTags[0] ?? b.repoDigests[0]!);
    return (b.created ?? '').localeCompare(a.created ?? '') || a.id.localeCompare(b.id);
  });
}

/** One short STATUS cell: the most important problem code, and how many more. */
export function statusCell(row: Pick<ImageRow, 'status' | 'problems'>): string {
  if (row.status === 'ok') return 'ok';
  const errors = row.problems.filter((p) => p.severity === 'error');
  const shown = errors.length > 0 ? errors : row.problems;
  const codes = [...new Set(shown.map((p) => p.code.replace(/^[EW]_/, '').toLowerCase().replace(/_/g, '-')))];
  return `${row.status === 'broken' ? 'BROKEN' : 'warn'}: ${codes.slice(0, 3).join(',')}${codes.length > 3 ? ',…' : ''}`;
}

function createdCell(created: string | null): string {
  if (!created) return '?';
  const m = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2})/.exec(created);
  return m ? `${m[1]} ${m[2]}` : created.slice(0, 16);
}

export async function runLs(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, { root: { type: 'string' }, all: { type: 'boolean', short: 'a' }, json: { type: 'boolean' } }, USAGE);
  if (values.help) { process.stdout.write(USAGE + '\n'); return EXIT.OK; }
  const store = openStore(defaultRoot(values.root as string | undefined));
  const rows = imageRows(store, Boolean(values.all));
  if (values.json) {
    printJson({
      schemaVersion: 1,
      root: store.root,
      driver: store.driver,
      ...(store.stores ? { stores: store.stores } : {}),
      images: rows,
      containers: store.containers.map((c) => ({ id: c.id, image: c.image })),
      orphans: store.orphans,
      problems: store.problems,
    });
  } else {
    const table: string[][] = [];
    // hybrid roots: say which store each image comes from
    const withStore = (store.stores?.length ?? 0) > 1;
    for (const r of rows) {
      const names = r.repoTags.length + r.repoDigests.length > 0 ? [...r.repoTags, ...r.repoDigests] : ['<none>:<none>'];
      for (const name of names) {
        const at = name.indexOf('@');
        const [repo, tag] = at >= 0 ? [name.slice(0, at), '<none>'] : [name.slice(0, name.lastIndexOf(':')), name.slice(name.lastIndexOf(':') + 1)];
        const row = [repo, tag, r.id.slice(0, 12), createdCell(r.created), humanSize(r.size), r.layers === null ? '?' : String(r.layers), statusCell(r)];
        if (withStore) row.splice(3, 0, r.store === 'image-store' ? `image/${r.driver}` : `graph/${r.driver}`);
        table.push(row);
      }
    }
    const header = ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE', 'LAYERS', 'STATUS'];
    if (withStore) header.splice(3, 0, 'STORE');
    process.stdout.write(formatTable(header, table));
  }
  for (const p of store.problems) process.stderr.write(`${p.severity}: ${p.message}\n`);
  // One broken image never hides the others; the exit code says something was wrong.
  const broken = rows.some((r) => r.status === 'broken') || store.problems.some((p) => p.severity === 'error');
  return broken ? EXIT.PARTIAL : EXIT.OK;
}
