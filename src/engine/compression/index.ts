// Public face of the compression registry.
export type { Compressor, CompressorOptions, OnCompressedData } from './compressor.js';
export {
  COMPRESSION_ALGORITHMS,
  COMPRESSION_ENGINES,
  DEFAULT_COMPRESSION,
  DEFAULT_GZIP_LEVEL,
  DEFAULT_IGZIP_LEVEL,
  DEFAULT_ZSTD_LEVEL,
  LAYER_MEDIA_TYPES,
  compressionAlgorithm,
  createCompressor,
  defaultCompression,
  engineAvailable,
  formatCompression,
  layerMediaType,
  parseCompression,
  type CompressionAlgorithm,
  type CompressionName,
} from './registry.js';
