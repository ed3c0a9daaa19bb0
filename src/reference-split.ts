// The one rule for taking an image reference apart into name, tag and digest, shared by the
// reader of what users and repositories files say (store/refs.ts) and the writer of index
// annotations (oci/manifest.ts): the digest is everything after the first '@'; the tag is after
// the last ':' of the rest that has no '/' after it (a ':' before a '/' is a registry port).

export interface SplitReference {
  /** the name as written, not normalised (`localhost:5000/x`, `busybox`) */
  name: string;
  tag?: string;
  digest?: string;
}

export function splitReference(ref: string): SplitReference {
  let name = ref;
  let digest: string | undefined;
  const at = name.indexOf('@');
  if (at >= 0) {
    digest = name.slice(at + 1);
    name = name.slice(0, at);
  }
  let tag: string | undefined;
  const colon = name.lastIndexOf(':');
  if (colon > name.lastIndexOf('/')) {
    tag = name.slice(colon + 1);
    name = name.slice(0, colon);
  }
  return { name, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}
