// A fingerprint of a whole directory tree (names, types, modes, owners, sizes, mtimes, contents,
// link targets) used to prove that commands never write into a legacy root.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export function treeHash(root: string): string {
  const h = createHash('sha256');
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p, { bigint: true });
      h.update(`${r}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0${st.mtimeNs}\0${st.nlink}\0`);
      if (st.isSymbolicLink()) h.update(readlinkSync(p));
      else if (st.isFile()) h.update(readFileSync(p));
      else if (st.isDirectory()) walk(p, r);
    }
  };
  const st = lstatSync(root, { bigint: true });
  h.update(`.\0${st.mode}\0${st.mtimeNs}\0`);
  walk(root, '');
  return h.digest('hex');
}
