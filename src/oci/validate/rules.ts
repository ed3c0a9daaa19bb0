// Every rule the validator can report, with its default severity. Rule ids are stable: tools
// and CI configs match on them. A warning is something the spec allows or real consumers
// accept; `--strict` turns warnings into errors. A few rules carry a per-finding severity
// (noted in the summary) because the same defect is harmless in a Docker-written layer.

export type Severity = 'error' | 'warning';

/** When a rule is evaluated: always, only with --deep, or only when manifest.json exists. */
export type RuleScope = 'always' | 'deep' | 'docker-manifest' | 'docker-manifest-deep' | 'ref';

export interface RuleInfo {
  severity: Severity;
  scope: RuleScope;
  summary: string;
}

function r(severity: Severity, scope: RuleScope, summary: string): RuleInfo {
  return { severity, scope, summary };
}

export const RULES = {
  // layout
  'layout-missing': r('error', 'always', 'oci-layout file is missing'),
  'layout-version': r('error', 'always', 'oci-layout is not {"imageLayoutVersion":"1.0.0"}'),
  'blobs-dir-missing': r('error', 'always', 'blobs/ directory is missing'),
  'index-missing': r('error', 'always', 'index.json is missing'),
  'json-invalid': r('error', 'always', 'a JSON document does not parse'),
  'json-schema': r('error', 'always', 'a required field is missing or has the wrong JSON type'),
  'schema-version': r('error', 'always', 'schemaVersion is not 2'),
  'index-media-type': r('error', 'always', "an index's own mediaType field is not the index type"),
  'manifest-media-type': r('error', 'always', "a manifest's own mediaType field is not the manifest type"),
  'index-cycle': r('error', 'always', 'an index refers to itself through nested indexes'),
  // descriptors and blobs
  'descriptor-media-type-mismatch': r('error', 'always', "a descriptor's mediaType differs from the referenced document's own"),
  'descriptor-media-type-unknown': r('warning', 'always', 'an index entry has a media type that is neither a manifest nor an index'),
  'descriptor-data': r('error', 'always', "a descriptor's embedded data does not match its digest or size"),
  'digest-format': r('error', 'always', 'a digest does not match the grammar or its length'),
  'digest-uppercase': r('error', 'always', 'a digest uses uppercase hex'),
  'digest-algorithm': r('error', 'always', 'a digest uses an algorithm other than sha256/sha512'),
  'blob-missing': r('error', 'always', 'a referenced blob is not in blobs/'),
  'blob-unreadable': r('error', 'always', 'a referenced blob cannot be read'),
  'blob-size': r('error', 'always', "a blob's size differs from its descriptor"),
  'blob-digest': r('error', 'always', "a blob's content does not hash to its digest"),
  'blob-external': r('warning', 'always', 'a nondistributable layer with urls is not in the layout'),
  'blob-unreferenced': r('warning', 'always', 'a blob is not referenced by any index, manifest or manifest.json'),
  'blob-name': r('warning', 'always', 'a file under blobs/ is not named after a digest'),
  // manifests and media types
  'layer-media-type-unknown': r('error', 'always', 'an image manifest has a layer media type nothing can unpack'),
  'config-media-type-unknown': r('error', 'always', 'an image manifest has an unknown config media type'),
  'docker-media-type': r('warning', 'always', 'Docker schema2 media type used (accepted by most consumers)'),
  'layer-nondistributable': r('warning', 'always', 'deprecated nondistributable/foreign layer media type'),
  'manifest-no-layers': r('warning', 'always', 'an image manifest has no layers'),
  'refname-grammar': r('error', 'always', 'org.opencontainers.image.ref.name is outside the annotation grammar'),
  'refname-duplicate': r('error', 'always', 'the same ref.name appears twice in one index'),
  'refname-missing': r('warning', 'always', 'an index.json entry has no ref.name (not reachable by tag)'),
  'ref-not-found': r('error', 'ref', 'the --ref name is not in index.json'),
  'platform-mismatch': r('warning', 'always', "a descriptor's platform differs from the config's os/architecture"),
  // config
  'config-os': r('error', 'always', 'config has no os'),
  'config-architecture': r('error', 'always', 'config has no architecture'),
  'rootfs-type': r('error', 'always', 'config rootfs.type is not "layers"'),
  'diffid-count': r('error', 'always', 'number of rootfs.diff_ids differs from the number of layers'),
  'history-count': r('warning', 'always', 'non-empty history entries differ from the number of layers'),
  'config-null-field': r('warning', 'always', 'optional config fields are null'),
  // layer content (--deep)
  'layer-not-gzip': r('error', 'deep', 'a +gzip layer is not gzip data'),
  'layer-not-zstd': r('error', 'deep', 'a +zstd layer is not zstd data'),
  'layer-not-tar': r('error', 'deep', 'an uncompressed-tar layer holds compressed data'),
  'layer-decompress': r('error', 'deep', 'a layer does not decompress'),
  'zstd-unavailable': r('warning', 'deep', 'a zstd layer could not be deep-checked (no zstd command)'),
  'diffid-mismatch': r('error', 'deep', "a layer's uncompressed digest differs from rootfs.diff_ids"),
  'tar-corrupt': r('error', 'deep', 'a layer is not a valid tar (header, checksum, truncation)'),
  'tar-path-escape': r('error', 'deep', 'a layer entry path is absolute or contains ..'),
  'tar-unpadded-end': r('warning', 'deep', 'a layer tar ends inside the last entry\'s padding (Go readers accept it, GNU tar does not)'),
  'tar-duplicate-path': r('error', 'deep', 'a path appears twice in one layer (warning in a Docker-written layer)'),
  'tar-entry-type': r('warning', 'deep', 'a layer entry has an unusual type (sparse, vendor extension)'),
  'whiteout-malformed': r('error', 'deep', 'a whiteout is not an empty regular file, or whites out a whiteout'),
  'whiteout-hardlink': r('warning', 'deep', 'a whiteout stored as a hard link (Docker/aufs quirk)'),
  'aufs-meta-entry': r('warning', 'deep', 'an aufs .wh..wh.* metadata entry is in a layer'),
  'hardlink-target': r('error', 'deep', 'a hard link target is not an earlier non-directory entry (warning when it may be in a lower layer)'),
  // docker save manifest.json
  'docker-manifest-invalid': r('error', 'docker-manifest', 'manifest.json does not have the docker save shape'),
  'docker-manifest-file': r('error', 'docker-manifest', 'a file named in manifest.json is missing or outside the layout'),
  'docker-manifest-repotag': r('error', 'docker-manifest', 'a RepoTags entry is not name:tag'),
  'docker-manifest-layer-count': r('error', 'docker-manifest', 'manifest.json Layers count differs from the config diff_ids'),
  'docker-manifest-diffid': r('error', 'docker-manifest-deep', 'a manifest.json layer does not match the config diff_ids'),
  'docker-manifest-config': r('error', 'docker-manifest', 'manifest.json and index.json disagree about a tag'),
} as const satisfies Record<string, RuleInfo>;

export type RuleId = keyof typeof RULES;

export const RULE_IDS = Object.keys(RULES) as RuleId[];
