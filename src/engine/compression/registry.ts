// The compressions a layer blob can be written with, by algorithm and engine (like umoci's
// blobcompress registry). An algorithm (gzip, zstd, none) fixes the media type; an engine is
// one implementation of it with its own levels and bytes (zlib in-process, igzip or the zstd
// CLI spawned). Adding one = one module with a create() and one entry here.
//
// --compress grammar (parseCompression):
//   none
//   gzip            = gzip:6, Node's zlib, level 6
//   gzip:N          N = 1-9, zlib
//   gzip:fast       = gzip:igzip:3, Intel ISA-L's igzip (needs the `igzip` command)
//   gzip:ENGINE[:N] ENGINE = zlib (1-9, default 6) or igzip (0-3, default 3)
//   zstd[:N]        N = 1-19, default 3, the zstd CLI
// With no --compress at all the CLI uses defaultCompression(): igzip when installed, else zlib:6.
import { spawnSync } from 'node:child_process';
import { LayerError, UsageError } from '../../errors.js';
import { MEDIA_TYPES } from '../../oci/media-types.js';
import type { CompressionSpec } from '../types.js';
import type { Compressor, CompressorOptions, OnCompressedData } from './compressor.js';
import { createGzipCompressor } from './gzip.js';
import { createIgzipCompressor, IGZIP_BINARY } from './igzip.js';
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
  /** implementation, recorded in reports: 'zlib' (in-process), 'igzip' / 'zstd-cli' (spawned), 'none' */
  readonly engine: string;
  /** the command a spawned engine runs (its absence is E_COMPRESSOR_MISSING) */
  readonly binary?: string;
  /** null: the algorithm takes no level */
  readonly levels: { min: number; max: number; default: number } | null;
  create(level: number | undefined, onData: OnCompressedData, opts?: CompressorOptions): Compressor;
}

/** gzip level when none is given: zlib's own default (what Docker, skopeo and crane write). */
export const DEFAULT_GZIP_LEVEL = 6;
/** igzip level when none is given: its best, about zlib -6's size at several times the speed. */
export const DEFAULT_IGZIP_LEVEL = 3;
/** zstd level when none is given: the zstd CLI's default. */
export const DEFAULT_ZSTD_LEVEL = 3;

/** What `gzip` means when no engine is named, and the fallback default: zlib level 6. */
export const DEFAULT_COMPRESSION: Readonly<CompressionSpec> = Object.freeze({ algorithm: 'gzip', level: DEFAULT_GZIP_LEVEL, engine: 'zlib' });

const NONE: CompressionAlgorithm = {
  name: 'none',
  mediaType: LAYER_MEDIA_TYPES.none,
  engine: 'none',
  levels: null,
  create: (_level, onData) => createIdentity(onData),
};
const ZLIB: CompressionAlgorithm = {
  name: 'gzip',
  mediaType: LAYER_MEDIA_TYPES.gzip,
  engine: 'zlib',
  levels: { min: 1, max: 9, default: DEFAULT_GZIP_LEVEL },
  create: (level, onData, opts) => createGzipCompressor(level ?? DEFAULT_GZIP_LEVEL, onData, opts),
};
const IGZIP: CompressionAlgorithm = {
  name: 'gzip',
  mediaType: LAYER_MEDIA_TYPES.gzip,
  engine: 'igzip',
  binary: IGZIP_BINARY,
  levels: { min: 0, max: 3, default: DEFAULT_IGZIP_LEVEL },
  create: (level, onData, opts) => createIgzipCompressor(level ?? DEFAULT_IGZIP_LEVEL, onData, opts),
};
const ZSTD: CompressionAlgorithm = {
  name: 'zstd',
  mediaType: LAYER_MEDIA_TYPES.zstd,
  engine: 'zstd-cli',
  binary: 'zstd',
  levels: { min: 1, max: 19, default: DEFAULT_ZSTD_LEVEL },
  create: (level, onData, opts) => createZstdCompressor(level ?? DEFAULT_ZSTD_LEVEL, onData, opts),
};

/** Each algorithm's engine when none is named. */
export const COMPRESSION_ALGORITHMS: Readonly<Record<CompressionName, CompressionAlgorithm>> = { none: NONE, gzip: ZLIB, zstd: ZSTD };

/** Every engine of every algorithm. */
export const COMPRESSION_ENGINES: Readonly<Record<CompressionName, readonly CompressionAlgorithm[]>> = {
  none: [NONE],
  gzip: [ZLIB, IGZIP],
  zstd: [ZSTD],
};

/** Short names for engine choices: `gzip:fast`. */
const ALIASES: Readonly<Record<string, string>> = { 'gzip:fast': `gzip:igzip:${DEFAULT_IGZIP_LEVEL}` };

const GRAMMAR = 'expected none, gzip[:1-9], gzip:fast, gzip:zlib[:1-9], gzip:igzip[:0-3] or zstd[:1-19]';

function engineOf(algorithm: CompressionName, engine: string | undefined): CompressionAlgorithm | undefined {
  if (engine === undefined) return COMPRESSION_ALGORITHMS[algorithm];
  return COMPRESSION_ENGINES[algorithm].find((e) => e.engine === engine);
}

/**
 * Parse a --compress value (grammar above). The result carries the effective level and engine.
 * Throws UsageError on anything else.
 */
export function parseCompression(text: string): CompressionSpec {
  const trimmed = text.trim();
  const expanded = Object.hasOwn(ALIASES, trimmed) ? ALIASES[trimmed] : trimmed;
  const m = /^([a-z]+)(?::([a-z][a-z-]*))?(?::([0-9]+))?$/.exec(expanded);
  if (!m) throw new UsageError(`invalid compression ${JSON.stringify(text)}: ${GRAMMAR}`);
  const [, name, engineName, levelText] = m;
  if (!Object.hasOwn(COMPRESSION_ALGORITHMS, name)) throw new UsageError(`unknown compression ${JSON.stringify(name)}: expected none, gzip or zstd`);
  const algorithm = name as CompressionName;
  const algo = engineOf(algorithm, engineName);
  if (!algo) {
    const known = COMPRESSION_ENGINES[algorithm].map((e) => e.engine).join(', ');
    throw new UsageError(`${algorithm} has no engine ${JSON.stringify(engineName)} (available: ${known})`);
  }
  if (algo.levels === null) {
    if (levelText !== undefined) throw new UsageError(`compression ${algo.name} takes no level`);
    return { algorithm: algo.name, engine: algo.engine };
  }
  const level = levelText === undefined ? algo.levels.default : Number(levelText);
  if (!Number.isInteger(level) || level < algo.levels.min || level > algo.levels.max) {
    throw new UsageError(`${algo.name}${engineName ? ` (${algo.engine})` : ''} level must be ${algo.levels.min}-${algo.levels.max}, got ${levelText}`);
  }
  return { algorithm: algo.name, level, engine: algo.engine };
}

/** The canonical text of a spec (`gzip:6`, `gzip:igzip:3`, `zstd:3`), the inverse of parseCompression. */
export function formatCompression(spec: CompressionSpec): string {
  const algo = compressionAlgorithm(spec);
  if (algo.levels === null) return algo.name;
  const level = spec.level ?? algo.levels.default;
  return algo === COMPRESSION_ALGORITHMS[algo.name] ? `${algo.name}:${level}` : `${algo.name}:${algo.engine}:${level}`;
}

/** Look up and check a spec (it may come from another thread or a config file). */
export function compressionAlgorithm(spec: CompressionSpec): CompressionAlgorithm {
  if (!Object.hasOwn(COMPRESSION_ALGORITHMS, spec.algorithm)) throw new LayerError('E_COMPRESSION_INVALID', `unknown compression ${JSON.stringify(spec.algorithm)}`);
  const algo = engineOf(spec.algorithm, spec.engine);
  if (!algo) {
    const known = COMPRESSION_ENGINES[spec.algorithm].map((e) => e.engine).join(', ');
    throw new LayerError('E_COMPRESSION_INVALID', `${spec.algorithm} has no engine ${JSON.stringify(spec.engine)} (available: ${known})`);
  }
  if (algo.levels && spec.level !== undefined && (!Number.isInteger(spec.level) || spec.level < algo.levels.min || spec.level > algo.levels.max)) {
    throw new LayerError('E_COMPRESSION_INVALID', `${algo.name} (${algo.engine}) level must be ${algo.levels.min}-${algo.levels.max}, got ${spec.level}`);
  }
  return algo;
}

/** Media type of a layer blob written with `spec`. */
export function layerMediaType(spec: CompressionSpec): string {
  return compressionAlgorithm(spec).mediaType;
}

/** A compressor for `spec` delivering its output to `onData`; `threads` caps its parallelism within the layer. */
export function createCompressor(spec: CompressionSpec, onData: OnCompressedData, opts: CompressorOptions = { threads: 1 }): Compressor {
  const algo = compressionAlgorithm(spec);
  return algo.create(algo.levels ? spec.level ?? algo.levels.default : undefined, onData, opts);
}

const installed = new Map<string, boolean>();

/** Whether a spawned engine's command runs here (`<binary> --version` exits 0); cached. */
export function engineAvailable(spec: CompressionSpec): boolean {
  const algo = compressionAlgorithm(spec);
  if (!algo.binary) return true;
  let ok = installed.get(algo.binary);
  if (ok === undefined) {
    const r = spawnSync(algo.binary, ['--version'], { stdio: 'ignore', timeout: 10_000 });
    ok = !r.error && r.status === 0;
    installed.set(algo.binary, ok);
  }
  return ok;
}

/**
 * What a layer is written with when the user says nothing: gzip, because every OCI consumer
 * reads it (umoci 0.4.7 and oci-image-tool reject zstd); with igzip when it is installed (same
 * size class as zlib -6 and skopeo, several times faster: see README "Performance"), else zlib
 * level 6. The engine is in every report, so the choice is never hidden.
 */
export function defaultCompression(): CompressionSpec {
  const fast = parseCompression('gzip:fast');
  return engineAvailable(fast) ? fast : { ...DEFAULT_COMPRESSION };
}
