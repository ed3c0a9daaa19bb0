// Which images of a host a migration asks for (pure: store records + host config → references).
//
//   images = "tagged": every `repo:tag` that passes include/exclude. A tagged image whose tags are
//     all filtered out is reported as skipped; so is an untagged leaf image (a dangling one, or
//     one known only by digest). Untagged intermediate images are only counted.
//   images = "all": tagged images as above, plus every untagged image (intermediate ones too) by
//     id. They get no name (none can be made up; the legacy id is in the index entry's
//     io.github.legacy2oci.image.id annotation). With include patterns, untagged images are
//     skipped: the patterns select by name and they have none.

import type { LegacyStore } from '../store/index.js';
import type { HostConfig } from './config.js';
import { nameSelection } from './patterns.js';
import { byCodeUnit, type MigrateImage } from './report.js';

export interface Request {
  /** legacy image id */
  id: string;
  /** what planExport/runExport are asked for: a `repo:tag` or a full id */
  ref: string;
}

export interface HostSelection {
  requests: Request[];
  skipped: MigrateImage[];
  /** untagged intermediate images not selected (images = "tagged") */
  intermediate: number;
}

export function selectImages(store: LegacyStore, host: HostConfig): HostSelection {
  const requests: Request[] = [];
  const skipped: MigrateImage[] = [];
  let intermediate = 0;
  const tagsOf = new Map<string, { ref: string; repository: string }[]>();
  for (const t of store.tags) {
    if (t.tag === null) continue;
    const list = tagsOf.get(t.id) ?? [];
    list.push({ ref: t.ref, repository: t.repository });
    tagsOf.set(t.id, list);
  }
  const ids = [...store.images.keys()].sort();
  for (const id of ids) {
    const image = store.images.get(id)!;
    const tags = (tagsOf.get(id) ?? []).sort((a, b) => byCodeUnit(a.ref, b.ref));
    const digestRefs = [...image.digests].sort();
    if (tags.length > 0) {
      const reasons = tags.map((t) => nameSelection(host.include, host.exclude, t.ref, t.repository));
      const chosen = tags.filter((_t, i) => reasons[i] === null);
      if (chosen.length > 0) for (const t of chosen) requests.push({ id, ref: t.ref });
      else skipped.push({ legacyId: id, status: 'skipped', reason: reasons[0]!, refs: tags.map((t) => host.prefix + t.ref), digestRefs });
      continue;
    }
    if (host.images === 'all') {
      if (host.include.length === 0) requests.push({ id, ref: id });
      else if (!image.hasChildren) skipped.push({ legacyId: id, status: 'skipped', reason: 'untagged: include patterns select images by name and it has none', refs: [], digestRefs });
      else intermediate++;
      continue;
    }
    if (image.hasChildren) intermediate++;
    else {
      const reason = digestRefs.length > 0
        ? 'untagged, known only by digest (digests never become names); images = "all" exports it by id'
        : 'untagged (dangling); images = "all" exports it by id';
      skipped.push({ legacyId: id, status: 'skipped', reason, refs: [], digestRefs });
    }
  }
  return { requests, skipped, intermediate };
}
