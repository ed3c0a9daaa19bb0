// The real Docker 1.x root from ../shared/fixtures/real (google/docker-explorer's aufs.v1 test data),
// extracted once per test process into a temp dir; never written in place.
import { mkdtempSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SHARED_DIR, run } from './env.js';

export const REAL_TGZ = 'fixtures/real/docker-explorer-aufs.v1.tgz';
export const REAL = {
  busyboxTop: '1cee97b18f87b5fa91633db35f587e2c65c093facfa2cbbe83d5ebe06e1d9125',
  busyboxBase: 'df557f39d413a1408f5c28d8aab2892f927237ec22e903ef04b331305130ab38',
  baseDiffID: 'sha256:23bc2b70b2014dec0ac22f27bb93e9babd08cdd6f1115d0c955b9ff22b382f5a',
  emptyDiffID: 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef',
  containers: [
    '3b03d0958390ccfb92e9f1ee67de628ab315c532120d4512cb72a1805465fb35',
    'de44dd97cfd1c8d1c1aad7f75a435603991a7a39fa4f6b20a69bf4458809209c',
    'fbb6711cefc70193cb6cb0b113fc9ed6b9eaddcdd33667adb5cb690a4dca413a',
  ],
};

let extracted: string | null = null;
/** Path of the extracted `docker/` root. */
export function realRoot(): string {
  if (extracted && existsSync(extracted)) return extracted;
  const dir = mkdtempSync(join(tmpdir(), 'l2o-real-'));
  run('tar', ['-xzf', join(SHARED_DIR, REAL_TGZ), '-C', dir, '--no-same-owner']);
  extracted = join(dir, 'docker');
  return extracted;
}
