// Assembling one image once its layers are blobs: Docker 1.10 config (and its image ID), the OCI
// config (the same bytes when they are already valid), the manifest, and the index entries.

import type { LegacyStore } from '../store/index.js';
import type { ImagePlan } from '../plan/plan.js';
import type { LayerResult } from '../engine/types.js';
import { chainIDs, makeDockerConfig, sha256Digest, storedConfig, toOciConfig } from '../oci/docker-config.js';
import { buildIndexEntry, buildManifest, descriptor, layerDescriptor, manifestAnnotations, type Descriptor, type Platform } from '../oci/manifest.js';
import { MEDIA_TYPES } from '../oci/media-types.js';
import { putBlob } from '../oci/blob-store.js';
import { join } from 'node:path';

export interface AssembledImage {
  legacyId: string;
  names: string[];
  dockerImageID: string;
  chainIDs: string[];
  configDigest: string;
  configFixes: string[];
  manifestDigest: string;
  manifestSize: number;
  layerDigests: string[];
  indexEntries: Descriptor[];
}

function platformOf(configBytes: Buffer): Platform {
  const c = JSON.parse(configBytes.toString('utf8')) as { architecture?: unknown; os?: unknown; variant?: unknown };
  const p: Platform = { architecture: String(c.architecture), os: String(c.os) };
  if (typeof c.variant === 'string' && c.variant) p.variant = c.variant;
  return p;
}

/** `repo:tag` → the parts buildIndexEntry wants (the tag is after the last ':' not followed by '/'). */
function splitName(name: string): { name: string; tag: string } {
  const colon = name.lastIndexOf(':');
  return { name: name.slice(0, colon), tag: name.slice(colon + 1) };
}

/**
 * The Docker config of an image and its id: computed from v1 json (graph), or as stored (1.10+),
 * for the layers' actual diffIDs (a 1.10+ config is then changed only if a layer was regenerated).
 */
export function dockerConfigOf(store: LegacyStore, img: Pick<ImagePlan, 'id' | 'chain'>, layers: Array<Pick<LayerResult, 'diffID'>>): { configBytes: Buffer; imageID: string; chainIDs: string[]; fixed: string[] } {
  const stored = store.images.get(img.id)?.config;
  if (stored) {
    const s = storedConfig(stored, layers.map((l) => l.diffID));
    return { configBytes: s.bytes, imageID: sha256Digest(stored), chainIDs: chainIDs(layers.map((l) => l.diffID)), fixed: s.fixed };
  }
  const chainJson = img.chain.map((id) => store.layers.get(id)!.json!);
  const names = img.chain.map((id) => join(store.root, 'graph', id, 'json'));
  const docker = makeDockerConfig(chainJson, layers.map((l) => l.diffID), { names });
  return { configBytes: docker.configBytes, imageID: docker.imageID, chainIDs: docker.chainIDs, fixed: [] };
}

export function assembleImage(store: LegacyStore, img: ImagePlan, layers: LayerResult[], layoutDir: string): AssembledImage {
  const docker = dockerConfigOf(store, img, layers);
  const converted = toOciConfig(docker.configBytes);
  const oci = { ...converted, fixed: [...docker.fixed, ...converted.fixed] };
  const config = putBlob(layoutDir, oci.bytes);
  const configDesc = descriptor(MEDIA_TYPES.ociConfig, config.digest, config.size);
  const layerDescs = layers.map((l) => layerDescriptor({
    mediaType: l.mediaType,
    digest: l.digest,
    size: l.size,
    legacyId: l.id,
    checksum: store.layers.get(l.id)!.checksum,
    source: l.source,
  }));
  const manifestBytes = buildManifest({
    config: configDesc,
    layers: layerDescs,
    annotations: manifestAnnotations({ legacyId: img.id, dockerImageId: docker.imageID, configFixed: oci.fixed }),
  });
  const manifest = putBlob(layoutDir, manifestBytes);
  const platform = platformOf(oci.bytes);
  const common = { manifestDigest: manifest.digest, manifestSize: manifest.size, legacyId: img.id, dockerImageId: docker.imageID, platform };
  const indexEntries = img.names.length > 0
    ? img.names.map((n) => buildIndexEntry({ ...common, ...splitName(n) }))
    : [buildIndexEntry(common)];
  return {
    legacyId: img.id,
    names: img.names,
    dockerImageID: docker.imageID,
    chainIDs: docker.chainIDs,
    configDigest: config.digest,
    configFixes: oci.fixed,
    manifestDigest: manifest.digest,
    manifestSize: manifest.size,
    layerDigests: layers.map((l) => l.digest),
    indexEntries,
  };
}
