// Which extended attributes a regenerated layer carries: one table, first matching rule wins.
// Docker's own fallback kept only security.capability; OCI says xattrs must be kept where
// supported. We keep what describes the file itself and drop what describes the host it sat on.

export type XattrAction = 'keep' | 'drop' | 'drop-warn';

export interface XattrRule {
  /** exact name, or a prefix when it ends with '.' */
  match: string;
  action: XattrAction;
  why: string;
}

export const XATTR_POLICY: readonly XattrRule[] = [
  { match: 'security.capability', action: 'keep', why: 'file capabilities are part of the program (Docker kept them too)' },
  { match: 'security.selinux', action: 'drop', why: "the host's label; runtimes relabel, umoci drops it too" },
  { match: 'security.ima', action: 'drop', why: 'integrity hash/signature tied to the host policy' },
  { match: 'security.evm', action: 'drop', why: "HMAC keyed by the host's EVM key" },
  { match: 'security.', action: 'drop-warn', why: 'other LSM labels (Smack, AppArmor) are host policy' },
  { match: 'system.posix_acl_access', action: 'keep', why: 'POSIX ACLs are file permissions' },
  { match: 'system.posix_acl_default', action: 'keep', why: 'default ACLs of a directory are file permissions' },
  { match: 'system.nfs4_acl', action: 'drop', why: 'NFS-specific ACL view; umoci drops it too' },
  { match: 'system.', action: 'drop-warn', why: 'other system.* names are file-system specific' },
  { match: 'trusted.overlay.', action: 'drop', why: 'overlayfs bookkeeping (opaque, redirect, origin) of another mount' },
  { match: 'trusted.', action: 'drop-warn', why: 'trusted.* needs CAP_SYS_ADMIN to set and is host-private' },
  { match: 'user.overlay.', action: 'drop', why: 'overlayfs bookkeeping in userxattr mode' },
  { match: 'user.', action: 'keep', why: 'user data attached to the file' },
];

const DEFAULT_RULE: XattrRule = { match: '', action: 'drop-warn', why: 'unknown namespace' };

export function xattrRule(name: string): XattrRule {
  for (const rule of XATTR_POLICY) {
    if (rule.match.endsWith('.') ? name.startsWith(rule.match) : name === rule.match) return rule;
  }
  return DEFAULT_RULE;
}
