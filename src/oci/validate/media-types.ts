// Media types the validator knows, OCI and their Docker schema2 counterparts
// (image-spec v1.1 media-types.md; distribution manifest/schema2).

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  ociLayout: 'application/vnd.oci.layout.header.v1+json',
  ociLayerTar: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociNdLayerTar: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociNdLayerGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociNdLayerZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type Compression = 'none' | 'gzip' | 'zstd';

export interface LayerType {
  compression: Compression;
  docker: boolean;
  /** nondistributable / foreign: may legitimately be absent from the layout when it has urls */
  foreign: boolean;
}

const LAYERS: Record<string, LayerType> = {
  [MT.ociLayerTar]: { compression: 'none', docker: false, foreign: false },
  [MT.ociLayerGzip]: { compression: 'gzip', docker: false, foreign: false },
  [MT.ociLayerZstd]: { compression: 'zstd', docker: false, foreign: false },
  [MT.ociNdLayerTar]: { compression: 'none', docker: false, foreign: true },
  [MT.ociNdLayerGzip]: { compression: 'gzip', docker: false, foreign: true },
  [MT.ociNdLayerZstd]: { compression: 'zstd', docker: false, foreign: true },
  [MT.dockerLayerTar]: { compression: 'none', docker: true, foreign: false },
  [MT.dockerLayerGzip]: { compression: 'gzip', docker: true, foreign: false },
  [MT.dockerForeignGzip]: { compression: 'gzip', docker: true, foreign: true },
};

export function layerType(mediaType: string): LayerType | undefined {
  return Object.hasOwn(LAYERS, mediaType) ? LAYERS[mediaType] : undefined;
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
