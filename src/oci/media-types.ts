// Every media type legacy2oci writes or recognises, in one table
// (image-spec v1.1 media-types.md / layer.md; distribution manifest/schema2;
// docs/oci-and-consumers.md §6.3).

export const MEDIA_TYPES = {
  // OCI documents
  ociLayoutHeader: 'application/vnd.oci.layout.header.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociDescriptor: 'application/vnd.oci.descriptor.v1+json',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  // OCI layers
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  /** deprecated in image-spec 1.1: recognised, never produced */
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  // Docker schema2 equivalents
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export type MediaType = (typeof MEDIA_TYPES)[keyof typeof MEDIA_TYPES];

/** Content of the `oci-layout` file's imageLayoutVersion. */
export const OCI_LAYOUT_VERSION = '1.0.0';

/** Same names as engine/types.ts CompressionSpec['algorithm']. */
export type LayerCompression = 'none' | 'gzip' | 'zstd';

export interface LayerTypeInfo {
  compression: LayerCompression;
  oci: boolean;
  /** nondistributable (OCI) / foreign (Docker) */
  nondistributable: boolean;
}

const LAYER_TYPES: ReadonlyMap<string, LayerTypeInfo> = new Map([
  [MEDIA_TYPES.ociLayer, { compression: 'none', oci: true, nondistributable: false }],
  [MEDIA_TYPES.ociLayerGzip, { compression: 'gzip', oci: true, nondistributable: false }],
  [MEDIA_TYPES.ociLayerZstd, { compression: 'zstd', oci: true, nondistributable: false }],
  [MEDIA_TYPES.ociLayerNondistributable, { compression: 'none', oci: true, nondistributable: true }],
  [MEDIA_TYPES.ociLayerNondistributableGzip, { compression: 'gzip', oci: true, nondistributable: true }],
  [MEDIA_TYPES.ociLayerNondistributableZstd, { compression: 'zstd', oci: true, nondistributable: true }],
  [MEDIA_TYPES.dockerLayer, { compression: 'none', oci: false, nondistributable: false }],
  [MEDIA_TYPES.dockerLayerGzip, { compression: 'gzip', oci: false, nondistributable: false }],
  [MEDIA_TYPES.dockerForeignLayerGzip, { compression: 'gzip', oci: false, nondistributable: true }],
] as Array<[string, LayerTypeInfo]>);

/** What a known layer media type says: its compression, OCI or Docker, nondistributable/foreign. */
export function layerTypeInfo(mediaType: string): Readonly<LayerTypeInfo> | undefined {
  return LAYER_TYPES.get(mediaType);
}

/** An OCI layer media type (tar, +gzip, +zstd, including the nondistributable ones). */
export function isOciLayerType(mediaType: string): boolean {
  return LAYER_TYPES.get(mediaType)?.oci === true;
}

/** Any layer media type we know, OCI or Docker schema2. */
export function isLayerType(mediaType: string): boolean {
  return LAYER_TYPES.has(mediaType);
}

/** The compression a layer media type implies; undefined for anything that is not a layer type. */
export function compressionOfLayerType(mediaType: string): LayerCompression | undefined {
  return LAYER_TYPES.get(mediaType)?.compression;
}

/** The OCI layer media type legacy2oci writes for a compression (never a nondistributable one). */
export function ociLayerType(compression: LayerCompression): MediaType {
  switch (compression) {
    case 'none':
      return MEDIA_TYPES.ociLayer;
    case 'gzip':
      return MEDIA_TYPES.ociLayerGzip;
    case 'zstd':
      return MEDIA_TYPES.ociLayerZstd;
  }
}
