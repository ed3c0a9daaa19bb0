// The compression algorithms a layer blob can be written with, by name (like umoci's
// blobcompress registry). Adding one = one module with a create() and one entry here.
import { LayerError, UsageError } from '../../errors.js';
import { MEDIA_TYPES } from '../../oci/media-types.js';
import type { CompressionSpec } from '../types.js';
import type { Compressor, OnCompressedData } from './compressor.js';
import { createGzipCompressor } from './gzip.js';
import { createIdentity } from './none.js';
import { createZstdCompressor } from './zstd.js';

export type CompressionName = CompressionSpec['algorithm'];

/** OCI layer media types by compression. */
export const LAYER_MEDIA_TYPES: Readonly<Record<CompressionName, string>> = {
  none: MEDIA_TYPES.ociLayer,
  gzip: MEDIA_TYPES.ociLayerGzip,
  zstd: MEDIA_TYPES.ociLayerZstd,
};

export interface CompressionAlgorithm {
  readonly name: CompressionName;
  readonly mediaType: string;
  /** implementation, recorded in reports: 'zlib' (in-process), 'zstd-cli' (spawned), 'none' */
  readonly engine: string;
  /** null: the algorithm takes no level */
  readonly levels: { min: number; max: number; default: number } | null;
  create(level: number | undefined, onData: OnCompressedData): Compressor;
}

/** gzip level when none is given: zlib's own default (what Docker, skopeo and crane write). */
export const DEFAULT_GZIP_LEVEL = 6;
/** zstd level when none is given: the zstd CLI's default. */
export const DEFAULT_ZSTD_LEVEL = 3;

/** What a layer is written with when the user says nothing: gzip, because every consumer reads it (umoci 0.4.7 and oci-image-tool reject zstd). */
export const DEFAULT_COMPRESSION: Readonly<CompressionSpec> = Object.freeze({ algorithm: 'gzip', level: DEFAULT_GZIP_LEVEL, engine: 'zlib' });

export const COMPRESSION_ALGORITHMS: Readonly<Record<CompressionName, CompressionAlgorithm>> = {
  none: {
    name: 'none',
    mediaType: LAYER_MEDIA_TYPES.none,
    engine: 'none',
    levels: null,
    create: (_level, onData) => createIdentity(onData),
  },
  gzip: {
    name: 'gzip',
    mediaType: LAYER_MEDIA_TYPES.gzip,
    engine: 'zlib',
    levels: { min: 1, max: 9, default: DEFAULT_GZIP_LEVEL },
    create: (level, onData) => createGzipCompressor(level ?? DEFAULT_GZIP_LEVEL, onData),
  },
  zstd: {
    name: 'zstd',
    mediaType: LAYER_MEDIA_TYPES.zstd,
    engine: 'zstd-cli',
    levels: { min: 1, max: 19, default: DEFAULT_ZSTD_LEVEL },
    create: (level, onData) => createZstdCompressor(level ?? DEFAULT_ZSTD_LEVEL, onData),
  },
};

/**
 * Parse a --compress value: `none`, `gzip`, `gzip:<1-9>`, `zstd`, `zstd:<1-19>`.
 * The result carries the effective level and engine. Throws UsageError on anything else.
 */
export function parseCompression(text: string): CompressionSpec {
  const m = /^([a-z]+)(?::([0-9]+))?$/.exec(text.trim());
  if (!m) throw new UsageError(`invalid compression ${JSON.stringify(text)}: expected none, gzip[:1-9] or zstd[:1-19]`);
  const algo = (COMPRESSION_ALGORITHMS as Record<string, CompressionAlgorithm | undefined>)[m[1]];
  if (!algo || !Object.hasOwn(COMPRESSION_ALGORITHMS, m[1])) {
    throw new UsageError(`unknown compression ${JSON.stringify(m[1])}: expected none, gzip or zstd`);
  }
  if (algo.levels === null) {
    if (m[2] !== undefined) throw new UsageError(`compression ${algo.name} takes no level`);
    return { algorithm: algo.name, engine: algo.engine };
  }
  const level = m[2] === undefined ? algo.levels.default : Number(m[2]);
  if (!Number.isInteger(level) || level < algo.levels.min || level > algo.levels.max) {
    throw new UsageError(`${algo.name} level must be ${algo.levels.min}-${algo.levels.max}, got ${m[2]}`);
  }
  return { algorithm: algo.name, level, engine: algo.engine };
}

/** The canonical text of a spec (`gzip:6`), the inverse of parseCompression. */
export function formatCompression(spec: CompressionSpec): string {
  const algo = compressionAlgorithm(spec);
  return algo.levels === null ? algo.name : `${algo.name}:${spec.level ?? algo.levels.default}`;
}

/** Look up and check a spec (it may come from another thread or a config file). */
export function compressionAlgorithm(spec: CompressionSpec): CompressionAlgorithm {
  const algo = Object.hasOwn(COMPRESSION_ALGORITHMS, spec.algorithm) ? COMPRESSION_ALGORITHMS[spec.algorithm] : undefined;
  if (!algo) throw new LayerError('E_COMPRESSION_INVALID', `unknown compression ${JSON.stringify(spec.algorithm)}`);
  if (algo.levels && spec.level !== undefined && (!Number.isInteger(spec.level) || spec.level < algo.levels.min || spec.level > algo.levels.max)) {
    throw new LayerError('E_COMPRESSION_INVALID', `${algo.name} level must be ${algo.levels.min}-${algo.levels.max}, got ${spec.level}`);
  }
  if (spec.engine !== undefined && spec.engine !== algo.engine) {
    throw new LayerError('E_COMPRESSION_INVALID', `${algo.name} has no engine ${JSON.stringify(spec.engine)} (available: ${algo.engine})`);
  }
  return algo;
}

/** Media type of a layer blob written with `spec`. */
export function layerMediaType(spec: CompressionSpec): string {
  return compressionAlgorithm(spec).mediaType;
}

/** A compressor for `spec` delivering its output to `onData`. */
export function createCompressor(spec: CompressionSpec, onData: OnCompressedData): Compressor {
  const algo = compressionAlgorithm(spec);
  return algo.create(algo.levels ? spec.level ?? algo.levels.default : undefined, onData);
}
