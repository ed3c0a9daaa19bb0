// Builds a large layout for measuring `validate --deep` throughput (not a test):
//   npx tsc -p . && node dist/test/validate/make-bench-layout.js /tmp/bench-layout [layers] [MB per layer]
//   time node bin/legacy2oci.js validate /tmp/bench-layout
// Layer content: 1 MiB files of base64 text from random bytes (gzip ratio ~0.75), GNU tar + gzip -n.
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../helpers/env.js';
import { MT, REF, REF_ANN, sha256, tmp } from './fixture.js';

const [out = '/tmp/bench-layout', layersArg = '4', mbArg = '100'] = process.argv.slice(2);
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'blobs', 'sha256'), { recursive: true });
const put = (b: Buffer): { digest: string; size: number } => {
  const digest = sha256(b);
  writeFileSync(join(out, 'blobs', 'sha256', digest.slice(7)), b);
  return { digest, size: b.length };
};
const layers = [];
const diffIDs = [];
for (let i = 0; i < Number(layersArg); i++) {
  const dir = tmp('l2o-bench-');
  mkdirSync(join(dir, `layer${i}`));
  for (let f = 0; f < Number(mbArg); f++) writeFileSync(join(dir, `layer${i}`, `f${f}`), randomBytes(786432).toString('base64'));
  const tarFile = join(dir, 'layer.tar');
  run('tar', ['--format=gnu', '--numeric-owner', '--owner=0', '--group=0', '--mtime=@1700000000', '-C', dir, '-cf', tarFile, `layer${i}`]);
  const gz = run('pigz', ['-n', '-6', '-c', tarFile]);
  diffIDs.push(run('sha256sum', [tarFile]).toString().split(' ')[0]);
  layers.push({ mediaType: MT.gzip, ...put(gz) });
  rmSync(dir, { recursive: true, force: true });
}
const config = put(Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: diffIDs.map((d) => `sha256:${d}`) } })));
const manifest = put(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.manifest, config: { mediaType: MT.config, ...config }, layers })));
writeFileSync(join(out, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MT.index, manifests: [{ mediaType: MT.manifest, ...manifest, annotations: { [REF_ANN]: REF } }] }));
writeFileSync(join(out, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
console.log(out);
