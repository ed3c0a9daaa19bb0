// The pool started ahead of the command (engine/prewarm.ts): --jobs read ahead of the command's
// own parsing, and the pool handed over only when it is the one the job asks for.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LAYER_WORKER_URL } from '../../src/engine/pool.js';
import { CHECK_WORKER_URL, jobsFromArgv, prewarmLayerPool, releasePrewarmedPool, takeLayerPool } from '../../src/engine/prewarm.js';

test('jobsFromArgv: every spelling of --jobs, the default, and the cases left to the command', () => {
  assert.equal(jobsFromArgv(['a', 'out'], 2), 2);
  assert.equal(jobsFromArgv(['a', 'out', '--jobs', '3'], 2), 3);
  assert.equal(jobsFromArgv(['--jobs=4', 'a', 'out'], 2), 4);
  assert.equal(jobsFromArgv(['-j', '5', 'a'], 2), 5);
  assert.equal(jobsFromArgv(['-j6', 'a'], 2), 6);
  assert.equal(jobsFromArgv(['--jobs', '0'], 2), null); // the command reports it
  assert.equal(jobsFromArgv(['--jobs'], 2), null);
  assert.equal(jobsFromArgv(['--jobs', 'x'], 2), null);
  assert.equal(jobsFromArgv(['a', 'out', '--dry-run'], 2), null); // no layers run
  assert.equal(jobsFromArgv(['--help'], 2), null);
  assert.equal(jobsFromArgv(['--', '--jobs', '9'], 2), 2); // after '--' it is a REF
});

test('takeLayerPool: the prewarmed pool when worker file and jobs match, a new one otherwise', async () => {
  prewarmLayerPool('check', 1);
  const mismatch = takeLayerPool(LAYER_WORKER_URL, 1); // another worker file: a new pool, the prewarmed one is closed
  prewarmLayerPool('check', 1);
  const again = takeLayerPool(CHECK_WORKER_URL, 1);
  assert.notEqual(again, mismatch);
  const fresh = takeLayerPool(CHECK_WORKER_URL, 1);
  assert.notEqual(fresh, again, 'a pool is handed over once');
  await Promise.all([mismatch.close(), again.close(), fresh.close()]);
  prewarmLayerPool('export', 2);
  await releasePrewarmedPool(); // nobody took it
  await releasePrewarmedPool(); // nothing left
});
