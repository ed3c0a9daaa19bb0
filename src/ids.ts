// The one rule for ids: a path is never built from an image or layer id that is not 64 lowercase hex.

export const ID_RE = /^[a-f0-9]{64}$/;
/** A container's init layer in aufs/layers and aufs/diff: `<64-hex>-init`, never exported. */
export const INIT_LAYER_RE = /^[a-f0-9]{64}-init$/;
export const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

export function isId(s: string): boolean {
  return ID_RE.test(s);
}

export function shortId(id: string): string {
  return id.replace(/^sha256:/, '').slice(0, 12);
}
