// What the validator asks of media types: document kinds and layer types, from the one table in
// oci/media-types.ts (image-spec v1.1 media-types.md; distribution manifest/schema2).

import { MEDIA_TYPES, layerTypeInfo, type LayerCompression } from '../media-types.js';

/** The media types the validator checks for by name (the strings live in oci/media-types.ts). */
export const MT = {
  ociIndex: MEDIA_TYPES.ociIndex,
  ociManifest: MEDIA_TYPES.ociManifest,
  ociConfig: MEDIA_TYPES.ociConfig,
  ociEmpty: MEDIA_TYPES.ociEmpty,
  dockerList: MEDIA_TYPES.dockerManifestList,
  dockerManifest: MEDIA_TYPES.dockerManifest,
  dockerConfig: MEDIA_TYPES.dockerConfig,
} as const;

export type Compression = LayerCompression;

export interface LayerType {
  compression: Compression;
  docker: boolean;
  /** nondistributable / foreign: may legitimately be absent from the layout when it has urls */
  foreign: boolean;
}

export function layerType(mediaType: string): LayerType | undefined {
  const info = layerTypeInfo(mediaType);
  return info ? { compression: info.compression, docker: !info.oci, foreign: info.nondistributable } : undefined;
}

export type DocKind = 'index' | 'manifest';

/** What kind of JSON document a media type names, and whether it is the Docker flavour. */
export function documentKind(mediaType: string): { kind: DocKind; docker: boolean } | undefined {
  switch (mediaType) {
    case MT.ociIndex: return { kind: 'index', docker: false };
    case MT.dockerList: return { kind: 'index', docker: true };
    case MT.ociManifest: return { kind: 'manifest', docker: false };
    case MT.dockerManifest: return { kind: 'manifest', docker: true };
    default: return undefined;
  }
}

export function isDockerMediaType(mediaType: string): boolean {
  return mediaType.startsWith('application/vnd.docker.');
}
