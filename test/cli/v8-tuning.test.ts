// The bulk commands' V8 tiering (src/cli/v8-tuning.ts): applied only on the V8 it was measured
// on, and a flag this V8 really knows (an unknown one is not an error, only a line on stderr).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { INTERRUPT_BUDGET, tuneV8ForBulkWork } from '../../src/cli/v8-tuning.js';

const TUNING = new URL('../../src/cli/v8-tuning.js', import.meta.url).href;

test('another V8 is left alone', () => {
  assert.equal(tuneV8ForBulkWork('12.4.254.21-node.33'), false);
  assert.equal(tuneV8ForBulkWork('10.2.154.26-node.26'), false);
});

test('on V8 11 the flag is one this V8 accepts, set without a word on stderr', { skip: !/^11\./.test(process.versions.v8) && 'not V8 11' }, () => {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', `
    import { tuneV8ForBulkWork } from ${JSON.stringify(TUNING)};
    if (!tuneV8ForBulkWork()) process.exit(3);
    if (!tuneV8ForBulkWork()) process.exit(4); // idempotent
  `], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '');
  // the check above can fail: a misspelt flag is reported on stderr
  const bad = spawnSync(process.execPath, ['-e', `require('v8').setFlagsFromString('--interrupt-budgett=${INTERRUPT_BUDGET}')`], { encoding: 'utf8' });
  assert.match(bad.stderr, /unrecognized flag/);
});
