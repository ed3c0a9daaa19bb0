// readV1Fields reads the store's fields of a v1 json in one pass; each must be what Go's
// case-insensitive struct decoding (goStructField) gives for that field alone.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { goStructField, readV1Fields, type JsonObject } from '../../src/store/v1-json.js';

const one = (obj: JsonObject, name: string): string | null => {
  const v = goStructField(obj, name);
  return typeof v === 'string' ? v : null;
};

test('readV1Fields gives, field by field, what goStructField gives', () => {
  const key = fc.constantFrom('id', 'ID', 'Id', 'parent', 'Parent', 'PARENT', 'parent_id', 'Parent_ID', 'created', 'Created', 'docker_version', 'Docker_Version', 'config', 'parentid', 'size', '__proto__');
  const value = fc.oneof(fc.string({ maxLength: 4 }), fc.integer(), fc.constant(null), fc.constant({}));
  fc.assert(
    fc.property(fc.array(fc.tuple(key, value), { maxLength: 10 }), (pairs) => {
      // later keys in the text overwrite earlier ones with the same spelling, as JSON.parse does
      const obj = JSON.parse(`{${pairs.map(([k, v]) => `${JSON.stringify(k)}:${JSON.stringify(v)}`).join(',')}}`) as JsonObject;
      assert.deepEqual(readV1Fields(obj), {
        id: one(obj, 'id'),
        parent: one(obj, 'parent'),
        parentId: one(obj, 'parent_id'),
        created: one(obj, 'created'),
        dockerVersion: one(obj, 'docker_version'),
      });
    }),
    { numRuns: 5000 },
  );
});
