// `--docker-save`: manifest.json and repositories beside index.json, so `docker load` (which reads
// only manifest.json) takes the layout, or the .tar made from it. Merged with what is there, under
// the same lock as index.json.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { syncBlobsDir } from '../oci/blob-store.js';
import { withIndexLock, writeFileAtomic } from '../oci/layout.js';
import { buildDockerRepositories, mergeDockerSaveManifest } from '../oci/manifest.js';
import type { AssembledImage } from './assemble.js';

function readOrNull(p: string): Buffer | null {
  try { return readFileSync(p); } catch { return null; }
}

export async function writeDockerSaveFiles(layoutDir: string, images: AssembledImage[]): Promise<void> {
  await syncBlobsDir(layoutDir); // the blobs manifest.json names are durable under their names first
  await withIndexLock(layoutDir, () => {
    const manifestPath = join(layoutDir, 'manifest.json');
    const merged = mergeDockerSaveManifest(readOrNull(manifestPath), images.map((a) => ({
      config: a.configDigest,
      repoTags: a.names,
      layers: a.layerDigests,
    })));
    writeFileAtomic(manifestPath, merged);
    // repositories: every tag in the merged manifest → its top layer, as Docker 25+ writes it.
    const items = JSON.parse(merged.toString('utf8')) as Array<{ RepoTags: string[] | null; Layers: string[] }>;
    const entries = items.flatMap((it) => (it.RepoTags ?? []).map((rt) => {
      const colon = rt.lastIndexOf(':');
      return { name: rt.slice(0, colon), tag: rt.slice(colon + 1), id: it.Layers[it.Layers.length - 1]!.slice('blobs/sha256/'.length) };
    }));
    writeFileAtomic(join(layoutDir, 'repositories'), buildDockerRepositories(entries));
  });
}
