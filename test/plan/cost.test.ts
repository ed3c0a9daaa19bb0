// The order layers are handed to the pool: by expected work, where files cost as much as bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { COST_PER_TAR_DATA_BYTE, layerCost } from '../../src/plan/plan.js';

test('a layer of many small files is costlier than a bigger layer of a few large ones', () => {
  // the bench's two heaviest layers, as measured: 114 MB in 50,000 files (2.3 MB of tar-split)
  // took 1.5-2.6 s to replay, 430 MB in 5 files (a few KiB of tar-split) 0.6 s
  const manyFiles = layerCost(114_000_000, 2_315_904);
  const bigFiles = layerCost(430_000_000, 3_000);
  assert.ok(manyFiles > bigFiles, `${manyFiles} vs ${bigFiles}`);
  // without tar-split only the bytes count
  assert.equal(layerCost(5_000, 0), 5_000);
  assert.equal(layerCost(0, 10), 10 * COST_PER_TAR_DATA_BYTE);
});
