// Public types of the validator. The JSON report (`--json`) is exactly ValidationReport;
// its shape is documented at the top of src/cli/validate.ts and must stay stable.
import type { RuleId, Severity } from './rules.js';

export type { RuleId, Severity };

export interface Finding {
  severity: Severity;
  rule: RuleId;
  /** file relative to the layout root, e.g. `index.json`, `blobs/sha256/<hex>` */
  file?: string;
  /** digest of the blob or descriptor concerned */
  digest?: string;
  /** org.opencontainers.image.ref.name of the index.json entry it was reached from */
  ref?: string;
  /** path of an entry inside a layer tar */
  path?: string;
  message: string;
}

export interface ValidationStats {
  mode: 'deep' | 'shallow';
  strict: boolean;
  /** index documents read, index.json included */
  indexes: number;
  manifests: number;
  configs: number;
  /** distinct layer blobs checked */
  layers: number;
  /** distinct blobs hashed (documents, layers, and unreferenced blobs in deep mode) */
  blobs: number;
  /** bytes of blob data read and hashed */
  bytesRead: number;
  /** bytes of uncompressed layer tar data produced (deep mode) */
  uncompressedBytes: number;
  /** tar entries read (deep mode) */
  tarEntries: number;
  /** false with --ref (other entries' blobs would look unreferenced) */
  unreferencedChecked: boolean;
  dockerManifest: boolean;
  durationMs: number;
  /** bytesRead / duration, in MB/s (10^6 bytes) */
  mbPerSecond: number;
}

export interface ValidationReport {
  valid: boolean;
  errors: number;
  warnings: number;
  findings: Finding[];
  stats: ValidationStats;
}

export interface ValidateOptions {
  /** check only the index.json entry with this org.opencontainers.image.ref.name */
  ref?: string;
  /** decompress layers, check diffIDs and tar content (default true) */
  deep?: boolean;
  /** warnings count as errors */
  strict?: boolean;
  /** worker threads for blob checks; 0 = check in this thread (default: available cores) */
  jobs?: number;
  /** the zstd command used for +zstd layers (default `zstd`) */
  zstdCommand?: string;
  /** at most this many findings of one rule per layer, then a summary finding (default 20) */
  maxFindingsPerRule?: number;
}
