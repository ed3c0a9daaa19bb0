// The contract between the planner (main thread) and the layer workers.
// Tasks and results are plain, structured-clone-able objects.
import type { SealedBlob } from '../oci/blob-store.js';

/** How the layer blob is compressed. `level` is the codec level; `engine` names the implementation. */
export interface CompressionSpec {
  algorithm: 'gzip' | 'zstd' | 'none';
  level?: number;
  /** e.g. 'zlib' (in-process) or 'igzip'/'zstd-cli' (spawned); recorded in reports */
  engine?: string;
}

export interface LayerTask {
  /** absolute path of the legacy root (reading is confined to it) */
  root: string;
  /** legacy layer id (64 hex) */
  id: string;
  /** absolute path of the layer's diff dir, e.g. <root>/aufs/diff/<id> */
  diffDir: string;
  /** absolute path of graph/<id>/tar-data.json.gz, or null when absent */
  tarDataPath: string | null;
  /** storage driver the diff dir belongs to (aufs, overlay2, overlay, vfs, btrfs) */
  driver: 'aufs' | 'overlay2' | 'overlay' | 'vfs' | 'btrfs';
  /**
   * How the diff dir is read when the tar is regenerated (default: from the driver): `aufs` and
   * `overlay` dirs hold the layer's own files with that driver's whiteouts; `naive` dirs hold the
   * layer's full tree, diffed against `parentDir` (legacy-formats.md §2.7).
   */
  rules?: 'aufs' | 'overlay' | 'naive';
  /** naive rules: the parent layer's full tree (absolute, inside root); null/absent for a base layer */
  parentDir?: string | null;
  /**
   * The diffID the store recorded for this layer (1.10+ layerdb `diff`): a tar-split replay that
   * does not give it is not trusted, and the layer is regenerated with a reason saying so.
   */
  expectedDiffID?: string | null;
  /** OUT directory (blobs/ is created below it); null = hash only, write nothing (check, dry runs) */
  outDir: string | null;
  compression: CompressionSpec;
  /** skip tar-split even when present (for tests and --regenerate) */
  forceRegenerate?: boolean;
  /**
   * At most this many compression jobs of this layer at once (default 1). The pool sets it to
   * --jobs, so one big layer can use every core; the bytes never depend on it.
   */
  threads?: number;
  /**
   * Leave the blob's commit (fsync, rename) to the caller, who gets it as `sealed` in the result
   * (commitSealedBlob): the worker goes on to its next layer instead of waiting for the device.
   */
  deferCommit?: boolean;
}

export type LayerSource = 'tar-split' | 'regenerated';

export interface LayerResult {
  id: string;
  /** sha256:<hex> of the uncompressed tar */
  diffID: string;
  /** sha256:<hex> of the blob as written (== diffID for 'none') */
  digest: string;
  /** blob size in bytes */
  size: number;
  /** uncompressed tar size in bytes */
  uncompressedSize: number;
  mediaType: string;
  source: LayerSource;
  /** why tar-split was not used, when source is 'regenerated' */
  reason?: string;
  /** recoverable oddities (skipped sockets, unreadable xattrs, ...) */
  warnings: string[];
  /** the blob was already in the layout and verified, not rewritten */
  reused?: boolean;
  /** the compressor used, as engine:level@version, e.g. 'zlib:6@1.3.1', 'igzip:3@2.30.0', 'none' */
  compressor?: string;
  /** task.deferCommit: the blob the caller still has to commit (absent when reused or hash-only) */
  sealed?: SealedBlob;
}
