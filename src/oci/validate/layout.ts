// The layout directory itself (image-spec image-layout.md): the directory, `oci-layout`,
// `blobs/`, `index.json`, and the blobs nothing refers to.
import { readdir, readFile, stat } from 'node:fs/promises';
import { EXIT, L2OError } from '../../errors.js';
import { type Context, isObject } from './context.js';
import { isParsed, parseDigest } from './digest.js';

/** Exit-2 problems: there is no layout directory to validate. */
export async function assertLayoutDir(dir: string): Promise<void> {
  let st;
  try {
    st = await stat(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new L2OError('E_LAYOUT_NOT_FOUND', `${dir}: no such directory`, { exitCode: EXIT.USAGE, file: dir });
    throw new L2OError('E_LAYOUT_UNREADABLE', `${dir}: cannot be read (${code})`, { exitCode: EXIT.USAGE, file: dir });
  }
  if (!st.isDirectory()) {
    throw new L2OError('E_LAYOUT_NOT_DIR', `${dir} is not a directory (for an OCI layout tar, extract it first)`, { exitCode: EXIT.USAGE, file: dir });
  }
  try {
    await readdir(dir);
  } catch (err) {
    throw new L2OError('E_LAYOUT_UNREADABLE', `${dir}: cannot be read (${(err as NodeJS.ErrnoException).code})`, { exitCode: EXIT.USAGE, file: dir });
  }
}

async function readOptional(ctx: Context, rel: string): Promise<Buffer | undefined | 'missing'> {
  try {
    return await readFile(ctx.abs(rel));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    throw new L2OError('E_LAYOUT_UNREADABLE', `${ctx.abs(rel)}: cannot be read (${code})`, { exitCode: EXIT.USAGE, file: ctx.abs(rel), cause: err });
  }
}

export async function checkLayoutFile(ctx: Context): Promise<void> {
  const bytes = await readOptional(ctx, 'oci-layout');
  const where = { file: 'oci-layout' };
  if (bytes === 'missing') {
    ctx.rep.add('layout-missing', 'oci-layout is missing (every OCI layout must have {"imageLayoutVersion":"1.0.0"})', where);
    return;
  }
  const json = ctx.parseJson(bytes!, where);
  if (json === undefined) return;
  if (!isObject(json) || json.imageLayoutVersion !== '1.0.0') {
    const v = isObject(json) ? JSON.stringify(json.imageLayoutVersion) ?? 'missing' : 'not an object';
    ctx.rep.add('layout-version', `imageLayoutVersion is ${v}, must be "1.0.0"`, where);
  }
}

export async function checkBlobsDir(ctx: Context): Promise<boolean> {
  try {
    if ((await stat(ctx.abs('blobs'))).isDirectory()) return true;
  } catch {
    // reported below
  }
  ctx.rep.add('blobs-dir-missing', 'blobs/ directory is missing', { file: 'blobs' });
  return false;
}

/** index.json parsed, or undefined when missing or invalid (reported). */
export async function readIndexJson(ctx: Context): Promise<unknown> {
  const bytes = await readOptional(ctx, 'index.json');
  if (bytes === 'missing') {
    ctx.rep.add('index-missing', 'index.json is missing', { file: 'index.json' });
    return undefined;
  }
  ctx.counters.bytesRead += bytes!.length;
  return ctx.parseJson(bytes!, { file: 'index.json' });
}

/** Every file under blobs/ that no descriptor or manifest.json names; in deep mode their digests are verified too. */
export async function checkUnreferenced(ctx: Context): Promise<void> {
  let algs: string[];
  try {
    algs = (await readdir(ctx.abs('blobs'))).sort();
  } catch {
    return;
  }
  const pending: { rel: string; promise: ReturnType<Context['checkBlob']>; digest: string }[] = [];
  for (const alg of algs) {
    const dirRel = `blobs/${alg}`;
    let names: string[];
    try {
      if (!(await stat(ctx.abs(dirRel))).isDirectory()) {
        ctx.rep.add('blob-name', `${dirRel} is not an algorithm directory`, { file: dirRel });
        continue;
      }
      names = (await readdir(ctx.abs(dirRel))).sort();
    } catch {
      continue;
    }
    for (const name of names) {
      const rel = `${dirRel}/${name}`;
      if (ctx.referenced.has(rel)) continue;
      const d = parseDigest(`${alg}:${name}`);
      if (!isParsed(d)) {
        ctx.rep.add('blob-name', `${rel} is not named after a digest (${d.message})`, { file: rel });
        continue;
      }
      const digest = `${alg}:${name}`;
      ctx.rep.add('blob-unreferenced', 'blob is not referenced by index.json, any manifest or manifest.json', { file: rel, digest });
      if (ctx.deep) pending.push({ rel, digest, promise: ctx.checkBlob(rel, d, { mode: 'hash' }) });
    }
  }
  for (const p of pending) {
    const r = await p.promise;
    if (!r.readError && r.digest !== p.digest) ctx.rep.add('blob-digest', `unreferenced blob hashes to ${r.digest}`, { file: p.rel, digest: p.digest });
  }
}
