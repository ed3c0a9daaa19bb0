// Public face of the compression registry.
export type { Compressor, OnCompressedData } from './compressor.js';
export {
  COMPRESSION_ALGORITHMS,
  DEFAULT_COMPRESSION,
  DEFAULT_GZIP_LEVEL,
  DEFAULT_ZSTD_LEVEL,
  LAYER_MEDIA_TYPES,
  compressionAlgorithm,
  createCompressor,
  formatCompression,
  layerMediaType,
  parseCompression,
  type CompressionAlgorithm,
  type CompressionName,
} from './registry.js';
