// Plain records describing what a legacy root holds. The store reads; it decides nothing about
// what to export. Everything here is JSON-serialisable except the raw json Buffers.

export type Severity = 'error' | 'warning';

/** Something wrong or odd in the root, with the file it is about. */
export interface Problem {
  code: string;
  severity: Severity;
  message: string;
  file?: string;
}

/** Where a layer's parent id came from (legacy-formats.md §1.11; `layerdb` for the 1.10+ store). */
export type ParentSource = 'parent-file' | 'json-parent' | 'json-parent_id' | 'layerdb';

/**
 * Which metadata store a record comes from: the pre-1.10 `graph/` (v1 json per layer, config
 * computed with Docker 1.10's migration rules) or the 1.10+ content-addressable `image/<driver>/`
 * (stored config bytes, used verbatim).
 */
export type StoreKind = 'graph' | 'image-store';

/**
 * How a layer's own changes are read when its tar has to be regenerated:
 * - `aufs`: the dir holds the layer's own files with aufs whiteouts (`.wh.*`) and bookkeeping;
 * - `overlay`: the dir holds the layer's own files with overlayfs whiteouts (0:0 char devices,
 *   `trusted.overlay.opaque=y` dirs), converted as Docker's archive package does;
 * - `naive`: the dir is the layer's FULL tree; its changes are computed against the parent's full
 *   tree (`parentDir`) with Docker's NaiveDiffDriver rules (legacy-formats.md §2.7).
 */
export type DiffRules = 'aufs' | 'overlay' | 'naive';

/** One `graph/<id>` entry: in the v1 model an image and a layer are the same thing. */
export interface LegacyLayer {
  id: string;
  /** graph/<id>/json exactly as read; null when missing or unreadable */
  json: Buffer | null;
  parent: string | null;
  parentSource: ParentSource | null;
  created: string | null;
  dockerVersion: string | null;
  /** graph/<id>/layersize, when present and numeric (unreliable: never used for correctness) */
  layerSize: number | null;
  /** graph/<id>/checksum, verbatim */
  checksum: string | null;
  /** absolute path of aufs/diff/<id> when it exists (a directory, or a symlink to one) */
  diffDir: string | null;
  /** absolute path of graph/<id>/tar-data.json.gz when it exists */
  tarDataPath: string | null;
  /** size of tar-data.json.gz in bytes (0 when absent) */
  tarDataSize: number;
  /**
   * aufs/layers/<id>: the ancestors it lists, nearest first, as text, each id followed by a
   * newline ('' for a base layer; aufsAncestorIds splits it); null when the file is missing or
   * lists an invalid id
   */
  aufsAncestors: string | null;
  problems: Problem[];
  /** the store it was read from (absent = graph, for records made before stores were tagged) */
  store?: StoreKind;
  /** storage driver of diffDir (absent = aufs) */
  driver?: string;
  /** how to regenerate the layer (absent = aufs) */
  rules?: DiffRules;
  /** naive rules: the parent layer's full tree, null for a base layer */
  parentDir?: string | null;
  /** 1.10+ store: the diffID layerdb recorded (`sha256:…`); a tar-split replay must give it */
  diffID?: string | null;
  /** 1.10+ store: the driver directory id (layerdb cache-id) */
  cacheId?: string | null;
}

/** A tag or digest reference from repositories-<driver>. */
export interface TagRecord {
  /** normalised familiar repository name, e.g. `busybox`, `training/webapp`, `localhost:5000/x/y` */
  repository: string;
  /** the tag, or null for a digest reference */
  tag: string | null;
  /** `sha256:<hex>` for digest references */
  digest: string | null;
  /** the legacy image id it points at */
  id: string;
  /** `repo:tag` or `repo@sha256:…` */
  ref: string;
}

/** An image: a layer together with its resolved chain. */
export interface LegacyImage {
  id: string;
  /** base → top, this image last; null when the chain is broken */
  chain: string[] | null;
  /** `repo:tag` names pointing at this image */
  tags: string[];
  /** `repo@sha256:…` references pointing at this image */
  digests: string[];
  /** another image names this one as its parent */
  hasChildren: boolean;
  /** problems of this image and of every layer in its chain */
  problems: Problem[];
  status: 'ok' | 'warning' | 'broken';
  /** the store it was read from (absent = graph) */
  store?: StoreKind;
  /** 1.10+ store: imagedb/content/sha256/<id> exactly as read, exported verbatim (its digest is the id) */
  config?: Buffer | null;
  /** creation time from the config (1.10+ store) */
  created?: string | null;
  /** storage driver holding its layers */
  driver?: string;
  /** hybrid roots: the legacy graph id this 1.10+ image was migrated from (same layers, same config) */
  legacyId?: string | null;
}

export interface ContainerLayers {
  id: string;
  /** `<id>-init` exists in the driver */
  hasInit: boolean;
  /** the image the container was created from, when known (from aufs/layers) */
  image: string | null;
}

export interface LegacyStore {
  root: string;
  driver: string;
  /** every driver dir / repositories file found, for reporting */
  driversFound: string[];
  layers: Map<string, LegacyLayer>;
  images: Map<string, LegacyImage>;
  tags: TagRecord[];
  containers: ContainerLayers[];
  /** driver layer dirs with neither graph entry nor container (leftovers) */
  orphans: string[];
  /** problems not tied to one image */
  problems: Problem[];
  /** every metadata store read, e.g. graph (aufs) and image/overlay2 */
  stores?: Array<{ kind: StoreKind; driver: string; images: number }>;
  /** hybrid roots: legacy graph ids that are listed under their migrated 1.10+ image id */
  aliases?: Map<string, string>;
}
