// The byte-level Go encoding/json toolkit: each rule that decides Docker's config bytes, as a table.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  compactGo,
  formatRFC3339Nano,
  goFoldEquals,
  GO_ZERO_TIME,
  marshalGoString,
  marshalSortedObject,
  matchStructField,
  MAX_JSON_DEPTH,
  parseObjectRaw,
  readStructField,
  reformatRFC3339Nano,
  rawString,
  unmarshalGoTime,
  unquoteGo,
  validateJson,
} from '../../src/oci/gojson.js';
import { L2OError } from '../../src/errors.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const hex = (h: string) => Buffer.from(h.replace(/\s+/g, ''), 'hex');
const cat = (...parts: Array<string | Buffer>) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? b(p) : p)));

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof L2OError, `expected an L2OError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

test('compactGo: whitespace removed, everything else byte for byte, HTML and U+2028/9 escaped', () => {
  const cases: Array<[string, Buffer, Buffer]> = [
    ['insignificant whitespace', b(' { "a" :\t1 ,\r\n "b" : [ 1 , 2 ] } '), b('{"a":1,"b":[1,2]}')],
    ['spaces inside strings kept', b('{"a b": " c "}'), b('{"a b":" c "}')],
    ['big integer lexeme kept', b('{"n": 9007199254740993}'), b('{"n":9007199254740993}')],
    ['int64 limits kept', b('[ -9223372036854775808, 18446744073709551616 ]'), b('[-9223372036854775808,18446744073709551616]')],
    ['number lexemes kept', b('[1.50, -0.0e+10, 1E5]'), b('[1.50,-0.0e+10,1E5]')],
    ['escaped slash kept', b('"a\\/b"'), b('"a\\/b"')],
    ['\\u escapes kept', b('"\\u00e9\\u0041"'), b('"\\u00e9\\u0041"')],
    ['non-ASCII kept as UTF-8', b('"é 日本 😀"'), b('"é 日本 😀"')],
    ['invalid UTF-8 kept', cat('"', hex('ff fe c0 80 e2 80'), '"'), cat('"', hex('ff fe c0 80 e2 80'), '"')],
    ['< > & escaped', b('"a<b>&c"'), b('"a\\u003cb\\u003e\\u0026c"')],
    ['U+2028 / U+2029 escaped', b('"x\u2028y\u2029z"'), b('"x\\u2028y\\u2029z"')],
    ['existing \\u003c kept', b('"\\u003c"'), b('"\\u003c"')],
    ['nested key order kept', b('{"b":1,"a":{"z":1,"y":2}}'), b('{"b":1,"a":{"z":1,"y":2}}')],
    ['duplicate keys kept', b('{"a":1,"a":2}'), b('{"a":1,"a":2}')],
    ['escaped quote does not end the string', b('"a\\" <"'), b('"a\\" \\u003c"')],
  ];
  for (const [name, input, want] of cases) assert.deepEqual(compactGo(input), want, name);
});

test('compactGo is idempotent on its own output (property)', () => {
  fc.assert(
    fc.property(fc.json(), (text) => {
      const once = compactGo(b(text));
      assert.deepEqual(compactGo(once), once);
      // and it keeps the value
      assert.deepEqual(JSON.parse(once.toString('utf8')), JSON.parse(text));
    }),
  );
});

test('validator: invalid JSON is a coded E_JSON_SYNTAX error', () => {
  const bad = ['', ' ', '{"a":}', '[1,]', '{,}', '01', '1.', '.5', '-', '1e', '+1', '"\\x"', '"\\u12"', '"a\nb"', '{} x', '\ufeff{}', 'NaN', "'a'", '{"a" 1}', 'tru', '{"a":1', '[1 2]', '{1:2}', '"abc'];
  for (const text of bad) assertCode(() => validateJson(b(text)), 'E_JSON_SYNTAX');
  for (const text of ['0', '-0', '1.5e-3', '"\\ud800"', '[]', '{}', ' null ', '[[[]]]', '{"a":{"b":[true,false,null]}}']) validateJson(b(text));
  validateJson(cat('"', hex('ff'), '"')); // Go's scanner accepts any byte >= 0x20 in strings
});

test('validator: deep nesting is refused with E_JSON_TOO_DEEP, not a stack overflow', () => {
  for (const depth of [MAX_JSON_DEPTH + 1, 10_000, 200_000]) {
    assertCode(() => validateJson(b('['.repeat(depth) + ']'.repeat(depth))), 'E_JSON_TOO_DEEP');
    assertCode(() => validateJson(b('{"a":'.repeat(depth) + '1' + '}'.repeat(depth))), 'E_JSON_TOO_DEEP');
  }
  // unbalanced deep input is refused too, before running out of input
  assertCode(() => validateJson(b('['.repeat(50_000))), 'E_JSON_TOO_DEEP');
  validateJson(b('['.repeat(MAX_JSON_DEPTH) + ']'.repeat(MAX_JSON_DEPTH)));
  assertCode(() => compactGo(b('['.repeat(10_000) + ']'.repeat(10_000))), 'E_JSON_TOO_DEEP');
  assertCode(() => parseObjectRaw(b('{"a":' + '['.repeat(10_000) + ']'.repeat(10_000) + '}')), 'E_JSON_TOO_DEEP');
});

test('parseObjectRaw: raw value bytes, last duplicate wins, keys compared after unescaping', () => {
  const m = parseObjectRaw(b('{ "a" : [ 1 , 2 ] , "n": 9007199254740993, "f": 1.50, "a\\u0062": 1, "ab": 2, "__proto__": {"x":1}, "constructor": 3 }'));
  assert.deepEqual([...m.keys()].sort(), ['__proto__', 'a', 'ab', 'constructor', 'f', 'n']);
  assert.deepEqual(m.get('a'), b('[ 1 , 2 ]'), 'value bytes as written, not compacted');
  assert.deepEqual(m.get('n'), b('9007199254740993'));
  assert.deepEqual(m.get('f'), b('1.50'));
  assert.deepEqual(m.get('ab'), b('2'), '"a\\u0062" and "ab" are the same key; the last one wins');
  assert.deepEqual(m.get('__proto__'), b('{"x":1}'));
  assert.equal(Object.getPrototypeOf(m), Map.prototype);
  // map decoding is case-sensitive: Size and size are two keys
  assert.equal(parseObjectRaw(b('{"Size":1,"size":2}')).size, 2);
  assertCode(() => parseObjectRaw(b('[1]')), 'E_JSON_TYPE');
  assertCode(() => parseObjectRaw(b('{"a":1')), 'E_JSON_SYNTAX');
});

test('marshalGoString: Go encodeState.string with HTML escaping', () => {
  const cases: Array<[string, Buffer, string]> = [
    ['plain', b('abc'), '"abc"'],
    ['quote and backslash', b('a"b\\c'), '"a\\"b\\\\c"'],
    ['\\n \\r \\t', b('\n\r\t'), '"\\n\\r\\t"'],
    ['other control bytes', hex('00 01 08 0c 1f'), '"\\u0000\\u0001\\u0008\\u000c\\u001f"'],
    ['DEL is not escaped', hex('7f'), '"\x7f"'],
    ['slash is not escaped', b('a/b'), '"a/b"'],
    ['< > &', b('<>&'), '"\\u003c\\u003e\\u0026"'],
    ['U+2028 U+2029', b('\u2028\u2029'), '"\\u2028\\u2029"'],
    ['non-ASCII kept', b('é日😀'), '"é日😀"'],
    ['U+FFFD itself kept', b('\ufffd'), '"\ufffd"'],
    ['invalid byte', hex('61 ff 62'), '"a\\ufffdb"'],
    ['truncated sequence: one \\ufffd per byte', hex('e2 80'), '"\\ufffd\\ufffd"'],
    ['overlong', hex('c0 80'), '"\\ufffd\\ufffd"'],
    ['encoded surrogate', hex('ed a0 80'), '"\\ufffd\\ufffd\\ufffd"'],
    ['above U+10FFFF', hex('f4 90 80 80'), '"\\ufffd\\ufffd\\ufffd\\ufffd"'],
  ];
  for (const [name, input, want] of cases) assert.equal(marshalGoString(input).toString('utf8'), want, name);
});

test('marshalGoString / unquoteGo round trip (property)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), (text) => {
      const bytes = b(text); // well-formed UTF-8
      const enc = marshalGoString(bytes);
      validateJson(enc);
      assert.deepEqual(unquoteGo(enc), bytes);
      assert.equal(JSON.parse(enc.toString('utf8')), bytes.toString('utf8'));
      assert.ok(!/[<>&\u2028\u2029\u0000-\u001f]/.test(enc.toString('utf8')));
    }),
  );
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (raw) => {
      const enc = marshalGoString(raw); // any bytes: always valid JSON, always valid UTF-8
      validateJson(enc);
      assert.deepEqual(Buffer.from(enc.toString('utf8'), 'utf8'), enc);
    }),
  );
});

test('unquoteGo: Go decoding of string literals', () => {
  const cases: Array<[string, Buffer, Buffer]> = [
    ['fast path', b('"abc"'), b('abc')],
    ['simple escapes', b('"\\"\\\\\\/\\b\\f\\n\\r\\t"'), b('"\\/\b\f\n\r\t')],
    ['\\u BMP', b('"\\u00e9\\u65e5"'), b('é日')],
    ['surrogate pair', b('"\\ud83d\\ude00"'), b('😀')],
    ['lone high surrogate', b('"\\ud800"'), b('\ufffd')],
    ['high + non-surrogate escape', b('"\\ud800\\u0041"'), b('\ufffdA')],
    ['lone low surrogate', b('"\\udc00x"'), b('\ufffdx')],
    ['invalid UTF-8 coerced', cat('"a', hex('ff'), 'b"'), b('a\ufffdb')],
    ['each bad byte replaced', cat('"', hex('e2 80'), '"'), b('\ufffd\ufffd')],
  ];
  for (const [name, input, want] of cases) assert.deepEqual(unquoteGo(input), want, name);
});

test('marshalSortedObject: keys sorted byte-wise (UTF-8), values compacted and escaped', () => {
  const m = new Map<string, Buffer>([
    ['b', b(' [ 1 ] ')],
    ['a', b('"<x>"')],
    ['é', b('1')],
    ['Z', b('2')],
    ['_', b('3')],
    ['\uffff', b('4')],
    ['😀', b('5')], // UTF-16 order would put this before U+FFFF; UTF-8 order puts it after
    ['a<', b('6')],
  ]);
  assert.equal(
    marshalSortedObject(m).toString('utf8'),
    '{"Z":2,"_":3,"a":"\\u003cx\\u003e","a\\u003c":6,"b":[1],"é":1,"\uffff":4,"😀":5}',
  );
  assert.equal(marshalSortedObject(new Map()).toString(), '{}');
  // keys are Go strings: escapes resolved, invalid UTF-8 became U+FFFD, then re-encoded by Go
  const raw = Buffer.concat([b('{"a\\/b":1,"k'), hex('ff'), b('":2,"\\u003c":3}')]);
  assert.equal(marshalSortedObject(parseObjectRaw(raw)).toString('utf8'), '{"\\u003c":3,"a/b":1,"k\ufffd":2}', '"<" sorts before "a"');
});

test('RFC3339Nano re-rendering (Go time.Parse + Format)', () => {
  const cases: Array<[string, string]> = [
    ['2015-11-20T18:00:00.120Z', '2015-11-20T18:00:00.12Z'],
    ['2014-10-13T21:19:18.674353812Z', '2014-10-13T21:19:18.674353812Z'],
    ['2015-01-01T00:00:00.000Z', '2015-01-01T00:00:00Z'],
    ['2015-01-01T00:00:00Z', '2015-01-01T00:00:00Z'],
    ['2013-06-10T13:08:10.3213+00:00', '2013-06-10T13:08:10.3213Z'],
    ['2013-06-10T13:08:10-00:00', '2013-06-10T13:08:10Z'],
    ['2013-06-10T13:08:10-07:00', '2013-06-10T13:08:10-07:00'],
    ['2013-06-10T13:08:10.500000+05:30', '2013-06-10T13:08:10.5+05:30'],
    ['2014-10-13T1:19:18Z', '2014-10-13T01:19:18Z'], // Go 1.5: layout "15" takes one or two digits
    ['2016-02-29T00:00:00.000000001Z', '2016-02-29T00:00:00.000000001Z'],
    ['0001-01-01T00:00:00Z', '0001-01-01T00:00:00Z'],
    // Go 1.5 (Docker 1.10.3) accepted any day 00–31 and normalised it like time.Date (Go 1.8+ refuses)
    ['2015-02-29T00:00:00Z', '2015-03-01T00:00:00Z'],
    ['2015-02-30T10:00:00-07:00', '2015-03-02T10:00:00-07:00'],
    ['2015-01-00T00:00:00Z', '2014-12-31T00:00:00Z'],
    ['2016-02-29T00:00:00Z', '2016-02-29T00:00:00Z'],
    ['0099-04-31T00:00:00Z', '0099-05-01T00:00:00Z'],
  ];
  for (const [input, want] of cases) assert.equal(reformatRFC3339Nano(input), want, input);
  for (const input of ['2015-01-32T00:00:00Z', '0000-01-00T00:00:00Z', '2015-13-01T00:00:00Z', '2015-00-01T00:00:00Z', '2015-01-01 00:00:00Z', '2015-01-01T00:00:00', '2015-01-01T24:00:00Z',
    '2015-01-01T00:60:00Z', '2015-01-01T00:00:00.1234567891Z', '2015-01-01T00:00:00.Z', '15-01-01T00:00:00Z', '2015-01-01T00:00:00Zjunk', '2015-01-01T00:00:00+0100']) {
    assertCode(() => reformatRFC3339Nano(input), 'E_JSON_TIME');
  }
  assert.equal(formatRFC3339Nano(GO_ZERO_TIME), '0001-01-01T00:00:00Z');
  assert.equal(reformatRFC3339Nano(undefined), '0001-01-01T00:00:00Z', 'missing created');
});

test('time.Time.UnmarshalJSON (Go 1.5): raw bytes, no unquoting, null refused', () => {
  assert.equal(formatRFC3339Nano(unmarshalGoTime(b('"2015-11-20T18:00:00.120Z"'))), '2015-11-20T18:00:00.12Z');
  for (const raw of ['null', '1', '"2015-11-20T18\\u003a00:00Z"', '{}', '""']) assertCode(() => unmarshalGoTime(b(raw)), 'E_JSON_TIME');
});

test('Go struct key matching: exact first, then case folding (incl. Kelvin sign and long s)', () => {
  const fields = ['id', 'parent', 'Size', 'docker_version'];
  const cases: Array<[Buffer, string | undefined]> = [
    [b('parent'), 'parent'],
    [b('PARENT'), 'parent'],
    [b('Parent'), 'parent'],
    [b('size'), 'Size'],
    [b('\u017fize'), 'Size'], // ſ folds to s
    [b('Docker_Version'), 'docker_version'],
    [b('doc\u212aer_version'), 'docker_version'], // K (Kelvin) folds to k
    [b('docker-version'), undefined],
    [b('parentx'), undefined],
    [b('ıd'), undefined], // dotless i does not fold to i in Go's simple folding
  ];
  for (const [key, want] of cases) assert.equal(matchStructField(key, fields), want, key.toString());
  assert.equal(matchStructField(b('Size'), ['size', 'Size']), 'Size', 'exact match preferred over an earlier folded one');
  assert.equal(matchStructField(b('SIZE'), ['size', 'Size']), 'size', 'first folded match in field order');
  assert.equal(goFoldEquals('Tty', b('tTY')), true);
  assert.equal(goFoldEquals('Tty', b('tT')), false);
});

test('readStructField: the last member mapping to the field wins; __proto__ is just a key', () => {
  const v = (text: string, field: string) => {
    const buf = b(text);
    return rawString(buf, readStructField(buf, field))?.toString();
  };
  assert.equal(v('{"Docker_version":"1.0","docker_version":"1.9"}', 'docker_version'), '1.9');
  assert.equal(v('{"docker_version":"1.9","DOCKER_VERSION":"1.0"}', 'docker_version'), '1.0');
  assert.equal(v('{"__proto__":"x","constructor":"y"}', '__proto__'), 'x');
  assert.equal(v('{"a":1}', 'docker_version'), undefined);
  assert.equal(({} as Record<string, unknown>).x, undefined, 'no prototype pollution');
});
