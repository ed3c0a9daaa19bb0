// A fingerprint of a whole directory tree (names as raw bytes, types, modes, owners, sizes, mtimes,
// contents, link targets) used to prove that commands never write into a legacy root.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

export function treeHash(root: string): string {
  const h = createHash('sha256');
  const walk = (dir: Buffer) => {
    const names = readdirSync(dir, { encoding: 'buffer' }).sort(Buffer.compare);
    for (const name of names) {
      const p = Buffer.concat([dir, Buffer.from('/'), name]);
      const st = lstatSync(p, { bigint: true });
      h.update(p);
      h.update(`\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0${st.mtimeNs}\0${st.nlink}\0`);
      if (st.isSymbolicLink()) h.update(readlinkSync(p, { encoding: 'buffer' }));
      else if (st.isFile()) h.update(readFileSync(p));
      else if (st.isDirectory()) walk(p);
    }
  };
  const st = lstatSync(root, { bigint: true });
  h.update(`.\0${st.mode}\0${st.mtimeNs}\0`);
  walk(Buffer.from(root));
  return h.digest('hex');
}
