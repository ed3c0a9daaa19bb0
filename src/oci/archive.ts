// An OCI layout as one tar file (an "oci-archive"; with manifest.json inside, also what
// `docker load -i` takes). Packed from a finished layout directory, deterministically: sorted
// entries, owner 0, mtime 0, so the same layout gives the same archive bytes.

import { createReadStream, createWriteStream, closeSync, fsyncSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, statSync, constants as fsc } from 'node:fs';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import tar from 'tar-stream';
import { OutputError } from '../errors.js';

const BLOB_NAME_RE = /^blobs\/sha256\/[a-f0-9]{64}$/;
const TOP_FILES = new Set(['oci-layout', 'index.json', 'manifest.json', 'repositories']);

/** Every path a layout archive holds, in the order it is written. */
function layoutEntries(dir: string): string[] {
  const files = [...TOP_FILES].filter((f) => {
    try { return statSync(join(dir, f)).isFile(); } catch { return false; }
  });
  const blobs = readdirSync(join(dir, 'blobs', 'sha256')).filter((n) => /^[a-f0-9]{64}$/.test(n)).sort().map((n) => `blobs/sha256/${n}`);
  // oci-layout first: some readers sniff it; then the index, then the blobs.
  const order = ['oci-layout', 'index.json', 'manifest.json', 'repositories'];
  return [...order.filter((f) => files.includes(f)), 'blobs/', 'blobs/sha256/', ...blobs];
}

/** Pack the layout at `dir` into `tarPath` (temp file, fsync, rename). */
export async function packLayout(dir: string, tarPath: string): Promise<void> {
  const tmp = `${tarPath}.tmp-${process.pid}`;
  const pack = tar.pack();
  const out = createWriteStream(tmp, { flags: 'wx' });
  const done = pipeline(pack, out);
  // A write error (ENOSPC, EIO) rejects `done` while an entry is being fed: make it end the wait
  // for that entry instead of becoming an unhandled rejection that kills the process.
  const failed = new Promise<never>((_, reject) => { done.catch(reject); });
  failed.catch(() => {});
  try {
    for (const name of layoutEntries(dir)) {
      const common = { mtime: new Date(0), uid: 0, gid: 0, uname: '', gname: '' };
      if (name.endsWith('/')) {
        pack.entry({ ...common, name, type: 'directory', mode: 0o755 });
        continue;
      }
      const p = join(dir, name);
      const size = statSync(p).size;
      const entry = pack.entry({ ...common, name, type: 'file', mode: 0o644, size });
      await Promise.race([pipeline(createReadStream(p), entry), failed]);
    }
    pack.finalize();
    await done;
    const fd = openSync(tmp, fsc.O_RDONLY);
    try { fsyncSync(fd); } finally { closeSync(fd); }
    renameSync(tmp, tarPath);
  } catch (err) {
    pack.destroy();
    out.destroy();
    rmSync(tmp, { force: true });
    const code = (err as NodeJS.ErrnoException).code === 'ENOSPC' ? 'E_NO_SPACE' : 'E_OUTPUT';
    throw new OutputError(code, `${tarPath}: cannot write the archive (${(err as Error).message})`, tarPath, err);
  }
}

/**
 * Unpack an existing layout archive into `dir` so an export can add to it. Only the files a
 * layout holds are taken (oci-layout, index.json, manifest.json, repositories, blobs/sha256/<hex>);
 * any other name (absolute, `..`, links) is ignored.
 */
export async function unpackLayout(tarPath: string, dir: string): Promise<void> {
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const extract = tar.extract();
  extract.on('entry', (header, stream, next) => {
    const name = header.name.replace(/^\.\//, '');
    if (header.type === 'file' && (TOP_FILES.has(name) || BLOB_NAME_RE.test(name))) {
      const target = join(dir, name);
      mkdirSync(dirname(target), { recursive: true });
      pipeline(stream, createWriteStream(target)).then(() => next(), next);
    } else {
      stream.resume();
      stream.on('end', () => next());
    }
  });
  await pipeline(createReadStream(tarPath), extract);
}
