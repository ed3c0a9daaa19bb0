// Docker 1.10's config bytes and image IDs (legacy-formats.md §4.4–4.10), the < 1.8.3 fallback,
// the version rule, history, and the minimal OCI fixes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chainIDs, makeConfigFromV1Config, makeDockerConfig, toOciConfig, v1Summary } from '../../src/oci/docker-config.js';
import { compareDockerVersion, historyFromConfig, readDockerVersion, roundTripV1Image, usesFallback } from '../../src/oci/v1-image.js';
import { L2OError } from '../../src/errors.js';
import { needShared, run, SHARED_DIR } from '../helpers/env.js';

const b = (s: string) => Buffer.from(s, 'utf8');
const sha = (x: string | Buffer) => 'sha256:' + createHash('sha256').update(x).digest('hex');

function assertCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof L2OError, `expected an L2OError, got ${String(err)}`);
    assert.equal(err.code, code);
    return true;
  });
}

// --- §4.10 vectors, exactly as in the doc -----------------------------------------------------

const DIFF_A = 'sha256:78ec8baa67b4c40ed7c0deee20791167ca2007792081279fb3cc27d146603f33';
const DIFF_EMPTY = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

const VECTOR_A_JSON = String.raw`{"id":"3f4f4a6e2b3c0a6fd0b6f2d9c5a1e8b7d4c3b2a1908f7e6d5c4b3a2918070605","parent":"","created":"2014-10-13T21:19:18.674353812Z","container":"c0ffee0000000000000000000000000000000000000000000000000000000001","container_config":{"Hostname":"c0ffee000000","Domainname":"","User":"","Memory":0,"MemorySwap":0,"CpuShares":0,"Cpuset":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"PortSpecs":null,"ExposedPorts":null,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/bin:/bin"],"Cmd":["/bin/sh","-c","echo a \u0026\u0026 echo b > /x"],"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"NetworkDisabled":false,"OnBuild":[]},"docker_version":"1.3.0","config":{"Hostname":"c0ffee000000","Domainname":"","User":"","Memory":0,"MemorySwap":0,"CpuShares":0,"Cpuset":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"PortSpecs":null,"ExposedPorts":null,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/bin:/bin"],"Cmd":["/bin/sh"],"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"NetworkDisabled":false,"OnBuild":[]},"architecture":"amd64","os":"linux","Size":6}`;
const VECTOR_A_CONFIG = String.raw`{"architecture":"amd64","config":{"Hostname":"c0ffee000000","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/bin:/bin"],"Cmd":["/bin/sh"],"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":[],"Labels":null},"container":"c0ffee0000000000000000000000000000000000000000000000000000000001","container_config":{"Hostname":"c0ffee000000","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":["PATH=/usr/bin:/bin"],"Cmd":["/bin/sh","-c","echo a \u0026\u0026 echo b \u003e /x"],"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":[],"Labels":null},"created":"2014-10-13T21:19:18.674353812Z","docker_version":"1.3.0","history":[{"created":"2014-10-13T21:19:18.674353812Z","created_by":"/bin/sh -c echo a \u0026\u0026 echo b \u003e /x"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:78ec8baa67b4c40ed7c0deee20791167ca2007792081279fb3cc27d146603f33"]}}`;
const VECTOR_A_ID = 'sha256:b8ef38ab3a3e38da0023babdde869c9af2766496449852bdadeedbe584970ea7';

const VECTOR_B_JSON = `{
  "id": "9d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f80",
  "parent": "3f4f4a6e2b3c0a6fd0b6f2d9c5a1e8b7d4c3b2a1908f7e6d5c4b3a2918070605",
  "created": "2015-11-20T18:00:00.120Z",
  "container": "d00d000000000000000000000000000000000000000000000000000000000002",
  "container_config": {"Cmd": ["/bin/sh", "-c", "#(nop) LABEL a=<b>"], "Labels": {"a": "<b>"}, "Memory": 5},
  "docker_version": "1.9.1",
  "config": {"Cmd": ["sh"], "Labels": {"a": "<b>"}},
  "architecture": "amd64",
  "os": "linux",
  "Size": 0,
  "extra_key": 1.50
}`;
const VECTOR_B_CONFIG = String.raw`{"architecture":"amd64","config":{"Cmd":["sh"],"Labels":{"a":"\u003cb\u003e"}},"container":"d00d000000000000000000000000000000000000000000000000000000000002","container_config":{"Cmd":["/bin/sh","-c","#(nop) LABEL a=\u003cb\u003e"],"Labels":{"a":"\u003cb\u003e"},"Memory":5},"created":"2015-11-20T18:00:00.120Z","docker_version":"1.9.1","extra_key":1.50,"history":[{"created":"2014-10-13T21:19:18.674353812Z","created_by":"/bin/sh -c echo a \u0026\u0026 echo b \u003e /x"},{"created":"2015-11-20T18:00:00.12Z","created_by":"/bin/sh -c #(nop) LABEL a=\u003cb\u003e"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["sha256:78ec8baa67b4c40ed7c0deee20791167ca2007792081279fb3cc27d146603f33","sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef"]}}`;
const VECTOR_B_ID = 'sha256:45a373388782ae813e3eb46d7ff8dc22e879ea5dcb0029b81acc09ca53a42960';

test('vector A (fallback path): exact bytes and image ID', () => {
  const r = makeDockerConfig([b(VECTOR_A_JSON)], [DIFF_A]);
  assert.equal(r.configBytes.toString('utf8'), VECTOR_A_CONFIG);
  assert.equal(r.imageID, VECTOR_A_ID);
  assert.equal(sha(r.configBytes), VECTOR_A_ID);
  assert.equal(r.fallback, true);
  assert.deepEqual(r.chainIDs, [DIFF_A]);
  // the doc's file has a trailing newline in 1.4–1.8.2 era writers: insignificant
  assert.equal(makeDockerConfig([b(VECTOR_A_JSON + '\n')], [DIFF_A]).imageID, VECTOR_A_ID);
});

test('vector B (raw path, child of A): exact bytes and image ID', () => {
  const r = makeDockerConfig([b(VECTOR_A_JSON), b(VECTOR_B_JSON)], [DIFF_A, DIFF_EMPTY]);
  assert.equal(r.configBytes.toString('utf8'), VECTOR_B_CONFIG);
  assert.equal(r.imageID, VECTOR_B_ID);
  assert.equal(r.fallback, false);
  assert.deepEqual(r.chainIDs, [DIFF_A, sha(`${DIFF_A} ${DIFF_EMPTY}`)]);
  assert.deepEqual(r.historyPlain, [
    { created: '2014-10-13T21:19:18.674353812Z', created_by: '/bin/sh -c echo a && echo b > /x' },
    { created: '2015-11-20T18:00:00.12Z', created_by: '/bin/sh -c #(nop) LABEL a=<b>' },
  ]);
  // Both vectors are already valid OCI configs: emitted as they are.
  const oci = toOciConfig(r.configBytes);
  assert.equal(oci.bytes, r.configBytes);
  assert.deepEqual(oci.fixed, []);
});

test('chainIDs follow the OCI formula over the full "sha256:" strings', () => {
  const d = [DIFF_A, DIFF_EMPTY, DIFF_A];
  const c1 = sha(`${d[0]} ${d[1]}`);
  assert.deepEqual(chainIDs(d), [d[0], c1, sha(`${c1} ${d[2]}`)]);
  assert.deepEqual(chainIDs([]), []);
});

test('docker_version comparison (pkg/version): parts via Atoi, errors and missing parts are 0', () => {
  const fallback: Array<[string, boolean]> = [
    ['1.8.3-rc1', true], // "3-rc1" → 0: 1.8.0
    ['1.9.0-dev', false],
    ['', true],
    ['0.6.1', true],
    ['18.06.1-ce', false],
    ['1.8.3', false],
    ['1.8.2', true],
    ['1.8', true],
    ['1.10', false],
    ['1.8.3.0', false],
    ['1.8.3.1', false],
    ['v1.9.1', true], // "v1" → 0
    ['+1.9', false], // Atoi accepts a sign
    ['-2.0', true],
    ['99999999999999999999', false], // out of range: Atoi returns the clamped value
    ['1..9', true],
  ];
  for (const [v, want] of fallback) assert.equal(usesFallback(v), want, JSON.stringify(v));
  assert.equal(compareDockerVersion('1.10.0', '1.9.9'), 1);
  assert.equal(compareDockerVersion('1.9', '1.9.0'), 0);
  assert.equal(compareDockerVersion('1.8.3-rc1', '1.8.0'), 0);
  assert.equal(compareDockerVersion('0.6.1', '1.8.3'), -1);
});

test('docker_version is read the way Go decodes struct{DockerVersion}', () => {
  assert.equal(readDockerVersion(b('{}')), '');
  assert.equal(readDockerVersion(b('{"docker_version":null}')), '');
  assert.equal(readDockerVersion(b('{"Docker_Version":"1.9.1"}')), '1.9.1');
  assert.equal(readDockerVersion(b('{"docker_version":"1.9.1","DOCKER_VERSION":"1.0"}')), '1.0');
  assertCode(() => readDockerVersion(b('{"docker_version":1.9}')), 'E_JSON_TYPE');
});

// --- fallback round trip (V1Image) --------------------------------------------------------------

const ZERO_CONFIG = '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"OnBuild":null,"Labels":null}';

test('fallback: V1Image field order, omitempty, zero container_config, Labels:null, unknown keys dropped', () => {
  const cases: Array<[string, string, string]> = [
    ['empty object', '{}', `{"created":"0001-01-01T00:00:00Z","container_config":${ZERO_CONFIG}}`],
    ['missing container_config', '{"id":"x","created":"2014-01-01T00:00:00.500Z","os":"linux"}', `{"id":"x","created":"2014-01-01T00:00:00.5Z","container_config":${ZERO_CONFIG},"os":"linux"}`],
    ['null container_config keeps the zero struct', '{"container_config":null}', `{"created":"0001-01-01T00:00:00Z","container_config":${ZERO_CONFIG}}`],
    ['null config is omitted', '{"config":null}', `{"created":"0001-01-01T00:00:00Z","container_config":${ZERO_CONFIG}}`],
    ['empty config is emitted in full', '{"config":{}}', `{"created":"0001-01-01T00:00:00Z","container_config":${ZERO_CONFIG},"config":${ZERO_CONFIG}}`],
    ['unknown keys vanish, Size 0 omitted', '{"checksum":"","Size":0,"Memory":1,"custom":{"a":[1]}}', `{"created":"0001-01-01T00:00:00Z","container_config":${ZERO_CONFIG}}`],
    ['Size kept when non-zero', '{"Size":9007199254740993}', `{"created":"0001-01-01T00:00:00Z","container_config":${ZERO_CONFIG},"Size":9007199254740993}`],
    ['keys match case-insensitively', '{"ID":"x","Created":"2014-01-01T00:00:00Z","OS":"linux","size":5}', `{"id":"x","created":"2014-01-01T00:00:00Z","container_config":${ZERO_CONFIG},"os":"linux","Size":5}`],
    ['later duplicate wins', '{"os":"a","os":"b","author":"x","author":null}', `{"created":"0001-01-01T00:00:00Z","container_config":${ZERO_CONFIG},"author":"x","os":"b"}`],
    ['created offset kept, +00:00 becomes Z', '{"created":"2013-06-10T13:08:10.3200-07:00"}', `{"created":"2013-06-10T13:08:10.32-07:00","container_config":${ZERO_CONFIG}}`],
    ['created +00:00', '{"created":"2013-06-10T13:08:10+00:00"}', `{"created":"2013-06-10T13:08:10Z","container_config":${ZERO_CONFIG}}`],
    ['created Feb 30 normalised (Go 1.5)', '{"created":"2015-02-30T00:00:00Z"}', `{"created":"2015-03-02T00:00:00Z","container_config":${ZERO_CONFIG}}`],
  ];
  for (const [name, input, want] of cases) assert.equal(roundTripV1Image(b(input)).toString('utf8'), want, name);
});

test('fallback: container.Config details (StrSlice, maps, omitempty, strings re-encoded)', () => {
  const cc = (inner: string) => {
    const out = roundTripV1Image(b(`{"created":"2014-01-01T00:00:00Z","container_config":${inner}}`)).toString('utf8');
    return out.slice(out.indexOf('"container_config":') + '"container_config":'.length, -1);
  };
  const z = (patch: Record<string, string>) => {
    let s = ZERO_CONFIG;
    for (const [k, v] of Object.entries(patch)) s = s.replace(new RegExp(`"${k}":[^,}]*`), `"${k}":${v}`);
    return s;
  };
  assert.equal(cc('{"Cmd":"/bin/sh -c true"}'), z({ Cmd: '["/bin/sh -c true"]' }), 'Cmd as a string becomes a 1-element array');
  assert.equal(cc('{"Entrypoint":"sh"}'), z({ Entrypoint: '["sh"]' }));
  assert.equal(cc('{"Cmd":[]}'), z({ Cmd: '[]' }));
  assert.equal(cc('{"Cmd":["a",null]}'), z({ Cmd: '["a",""]' }));
  assert.equal(cc('{"cmd":["x"],"CMD":null}'), ZERO_CONFIG, 'null clears a StrSlice');
  assert.equal(cc('{"ExposedPorts":{}}'), ZERO_CONFIG, 'empty map is omitempty');
  assert.equal(
    cc('{"ExposedPorts":{"8080/tcp":{},"22/tcp":null}}'),
    ZERO_CONFIG.replace('"AttachStderr":false,', '"AttachStderr":false,"ExposedPorts":{"22/tcp":{},"8080/tcp":{}},'),
    'map keys sorted, values become {}',
  );
  assert.equal(cc('{"Volumes":{}}'), z({ Volumes: '{}' }));
  assert.equal(cc('{"Labels":{"b":"1","a":"<&>"}}'), z({ Labels: '{"a":"\\u003c\\u0026\\u003e","b":"1"}' }));
  assert.equal(cc('{"Labels":{"a":"1"},"Labels":{"b":"2"}}'), z({ Labels: '{"a":"1","b":"2"}' }), 'a duplicate map key merges (Go reuses the map)');
  assert.equal(cc('{"Labels":{"a":null}}'), z({ Labels: '{"a":""}' }));
  assert.equal(cc('{"Env":["a","b"],"Env":["x",null]}'), z({ Env: '["x","b"]' }), 'Go reuses the slice: null leaves the old element');
  assert.equal(cc('{"Env":["a","b","c"],"Env":["x"],"Env":[null,null,null]}'), z({ Env: '["x","b","c"]' }));
  assert.equal(cc('{"OnBuild":[]}'), z({ OnBuild: '[]' }));
  assert.equal(
    cc('{"NetworkDisabled":true,"MacAddress":"m","StopSignal":"SIGTERM","PublishService":"p","ArgsEscaped":true}'),
    '{"Hostname":"","Domainname":"","User":"","AttachStdin":false,"AttachStdout":false,"AttachStderr":false,"PublishService":"p","Tty":false,"OpenStdin":false,"StdinOnce":false,"Env":null,"Cmd":null,"ArgsEscaped":true,"Image":"","Volumes":null,"WorkingDir":"","Entrypoint":null,"NetworkDisabled":true,"MacAddress":"m","OnBuild":null,"Labels":null,"StopSignal":"SIGTERM"}',
  );
  assert.equal(cc('{"Hostname":"a\\/b\\u00e9\\u2028"}'), z({ Hostname: '"a/bé\\u2028"' }), 'strings are decoded and re-encoded by Go');
  assert.equal(cc(`{"Hostname":"a${'\u00ff'}"}`), z({ Hostname: '"aÿ"' }));
  const invalid = Buffer.concat([b('{"container_config":{"Hostname":"a'), Buffer.from([0xff]), b('"}}')]);
  assert.ok(roundTripV1Image(invalid).includes(Buffer.from('"Hostname":"a\ufffd"')), 'invalid UTF-8 becomes U+FFFD when Go decodes it');
});

test('fallback: values Go cannot decode make the image unmigratable (coded errors)', () => {
  const cases: Array<[string, string]> = [
    ['{"container_config":{"Hostname":5}}', 'E_JSON_TYPE'],
    ['{"container_config":{"Cmd":5}}', 'E_JSON_TYPE'],
    ['{"container_config":{"Cmd":[1]}}', 'E_JSON_TYPE'],
    ['{"container_config":{"Env":"a"}}', 'E_JSON_TYPE'],
    ['{"container_config":{"ExposedPorts":{"80":1}}}', 'E_JSON_TYPE'],
    ['{"container_config":{"Labels":{"a":1}}}', 'E_JSON_TYPE'],
    ['{"container_config":{"Tty":"yes"}}', 'E_JSON_TYPE'],
    ['{"container_config":[]}', 'E_JSON_TYPE'],
    ['{"Size":1.5}', 'E_JSON_TYPE'],
    ['{"Size":9223372036854775808}', 'E_JSON_TYPE'],
    ['{"id":1}', 'E_JSON_TYPE'],
    ['[]', 'E_JSON_TYPE'],
    ['{"created":null}', 'E_JSON_TIME'],
    ['{"created":"yesterday"}', 'E_JSON_TIME'],
    ['{"created":"2015-01-32T00:00:00Z"}', 'E_JSON_TIME'],
    ['{"a":', 'E_JSON_SYNTAX'],
  ];
  for (const [input, code] of cases) assertCode(() => roundTripV1Image(b(input)), code);
});

// --- whole configs --------------------------------------------------------------------------------

test('history: created re-rendered by Go, created_by = container_config.Cmd joined, author/comment', () => {
  const h = historyFromConfig(b('{"created":"2015-11-20T18:00:00.120+00:00","author":"me <m@x>","comment":"Imported from -","container_config":{"Cmd":"echo hi"},"docker_version":"1.9.1"}'));
  assert.equal(
    Buffer.from(makeConfigFromV1Config(b('{"docker_version":"1.9.1","os":"linux","architecture":"amd64"}'), [DIFF_A], [h])).toString(),
    '{"architecture":"amd64","docker_version":"1.9.1","history":[{"created":"2015-11-20T18:00:00.12Z","author":"me \\u003cm@x\\u003e","created_by":"echo hi","comment":"Imported from -"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["' + DIFF_A + '"]}}',
  );
  // no Cmd: created_by omitted; missing created: Go's zero time
  const r = makeDockerConfig([b('{"docker_version":"1.9.1"}')], [DIFF_A]);
  assert.deepEqual(r.historyPlain, [{ created: '0001-01-01T00:00:00Z' }]);
});

test('raw path (>= 1.8.3): raw values kept (big ints, lexemes, escapes, invalid UTF-8, Cmd as string), six keys deleted', () => {
  const json = Buffer.concat([
    b('{"id":"x","parent":"y","Size":1,"parent_id":"sha256:00","layer_id":"sha256:11","throwaway":true,"size":7,'),
    b('"docker_version":"1.9.1","created":"2015-01-01T00:00:00.000+00:00","Memory":9007199254740993,"f":1.50,"s":"\\/\\u00e9<",'),
    b('"bad":"'), Buffer.from([0xff]), b('","container_config":{"Cmd":"echo  hi"},"os":"linux","architecture":"amd64"}'),
  ]);
  const r = makeDockerConfig([json], [DIFF_A]);
  const want = Buffer.concat([
    b('{"Memory":9007199254740993,"architecture":"amd64","bad":"'), Buffer.from([0xff]),
    b('","container_config":{"Cmd":"echo  hi"},"created":"2015-01-01T00:00:00.000+00:00","docker_version":"1.9.1","f":1.50,'),
    b('"history":[{"created":"2015-01-01T00:00:00Z","created_by":"echo  hi"}],"os":"linux","rootfs":{"type":"layers","diff_ids":["' + DIFF_A + '"]},"s":"\\/\\u00e9\\u003c","size":7}'),
  ]);
  assert.deepEqual(r.configBytes, want);
  // history still decodes through V1Image, so a type error there fails the image even on the raw path
  assertCode(() => makeDockerConfig([b('{"docker_version":"1.9.1","Size":"big"}')], [DIFF_A]), 'E_JSON_TYPE');
});

test('makeDockerConfig: input checks and hostile input give coded errors', () => {
  assertCode(() => makeDockerConfig([], []), 'E_CHAIN_EMPTY');
  assertCode(() => makeDockerConfig([b('{}')], []), 'E_CHAIN_MISMATCH');
  assertCode(() => makeDockerConfig([b('{}')], ['sha256:ABC']), 'E_DIFFID_INVALID');
  const deep = b('{"docker_version":"1.9.1","x":' + '['.repeat(10_000) + ']'.repeat(10_000) + '}');
  assertCode(() => makeDockerConfig([deep], [DIFF_A]), 'E_JSON_TOO_DEEP');
  assert.throws(() => makeDockerConfig([b('{}'), b('{"a":')], [DIFF_A, DIFF_EMPTY], { names: ['g/1/json', 'g/2/json'] }), (err: unknown) => {
    assert.ok(err instanceof L2OError);
    assert.equal(err.code, 'E_JSON_SYNTAX');
    assert.equal(err.file, 'g/2/json');
    assert.match(err.message, /^g\/2\/json: /);
    return true;
  });
  // __proto__ and constructor are ordinary keys all the way through
  const r = makeDockerConfig([b('{"docker_version":"1.9.1","__proto__":{"polluted":1},"constructor":1}')], [DIFF_A]);
  assert.match(r.configBytes.toString(), /^\{"__proto__":\{"polluted":1\},"constructor":1,/);
  assert.equal(({} as Record<string, unknown>).polluted, undefined);
});

test('toOciConfig: valid configs untouched; x86_64, missing os, missing architecture fixed minimally', () => {
  const base = (extra: string) => makeDockerConfig([b(`{"docker_version":"1.9.1","created":"2014-01-01T00:00:00Z"${extra}}`)], [DIFF_A]).configBytes;
  const x86 = base(',"architecture":"x86_64","os":"linux"');
  const fixed = toOciConfig(x86);
  assert.deepEqual(fixed.fixed, ['architecture: "x86_64" → "amd64"']);
  assert.deepEqual(fixed.bytes, Buffer.from(x86.toString().replace('"x86_64"', '"amd64"')));
  const noOs = toOciConfig(base(',"architecture":"amd64"'));
  assert.deepEqual(noOs.fixed, ['os: missing → "linux"']);
  assert.match(noOs.bytes.toString(), /"history":\[.*\],"os":"linux","rootfs"/);
  const none = toOciConfig(base(''));
  assert.deepEqual(none.fixed, ['architecture: missing → "amd64"', 'os: missing → "linux"']);
  assert.match(none.bytes.toString(), /^\{"architecture":"amd64",/);
  // (not producible from a v1 json — Go would refuse the number — but toOciConfig takes any config)
  const numeric = toOciConfig(b('{"architecture":64,"os":"","rootfs":{"type":"layers","diff_ids":[]}}'));
  assert.deepEqual(numeric.fixed, ['architecture: 64 → "amd64"', 'os: empty → "linux"']);
  const odd = toOciConfig(base(',"architecture":"sparcv9","os":"linux"'));
  assert.deepEqual(odd.fixed, []);
  assert.equal(odd.warnings.length, 1);
  // a fallback-era config with x86_64 (Docker 0.7.0) — only that value changes
  const old = makeDockerConfig([b(VECTOR_A_JSON.replace('"architecture":"amd64"', '"architecture":"x86_64"'))], [DIFF_A]).configBytes;
  assert.deepEqual(toOciConfig(old).bytes, Buffer.from(old.toString().replace('"x86_64"', '"amd64"')));
  assertCode(() => toOciConfig(b('{"architecture":"amd64","os":"linux"}')), 'E_CONFIG_INVALID');
});

test('v1Summary: lenient, Go key matching, Cmd as string, no prototype games', () => {
  const s = v1Summary(b('{"ID":"abc","created":"2014-01-01T00:00:00Z","docker_version":"1.3.0","Parent":"p","parent_id":"sha256:x","container_config":{"Cmd":"echo hi"},"config":{"cmd":"sh","Env":["A=1"],"ExposedPorts":{"80/tcp":{},"22/tcp":{}},"WorkingDir":"/w","Labels":{"__proto__":"x"}},"architecture":5}'));
  assert.equal(s.id, 'abc');
  assert.equal(s.parent, 'p');
  assert.equal(s.parent_id, 'sha256:x');
  assert.equal(s.created_by, 'echo hi');
  assert.equal(s.architecture, undefined, 'wrong type: left out');
  assert.equal(s.fallback, true);
  assert.deepEqual(s.config?.Cmd, ['sh']);
  assert.deepEqual(s.config?.ExposedPorts, ['22/tcp', '80/tcp']);
  assert.equal(s.config?.WorkingDir, '/w');
  assert.equal(Object.hasOwn(s.config!.Labels!, '__proto__'), true);
  assertCode(() => v1Summary(b('{')), 'E_JSON_SYNTAX');
});

// --- the real root (google/docker-explorer aufs.v1 fixture) ---------------------------------------

const REAL_TGZ = 'fixtures/real/docker-explorer-aufs.v1.tgz';
const TOP = '1cee97b18f87b5fa91633db35f587e2c65c093facfa2cbbe83d5ebe06e1d9125';
const BASE = 'df557f39d413a1408f5c28d8aab2892f927237ec22e903ef04b331305130ab38';
const REAL_DIFFS = ['sha256:23bc2b70b2014dec0ac22f27bb93e9babd08cdd6f1115d0c955b9ff22b382f5a', DIFF_EMPTY];
// Computed by this implementation and cross-checked with an independent Python re-implementation
// of the raw path (the top json is docker_version 18.06.1-ce, so no V1Image round trip).
const REAL_IMAGE_ID = 'sha256:5153e6e3e1f844baa2df2577c9abb686ca7a1720f5a5922341c8219e1bacbddb';

test('real root: busybox (df557f39… + 1cee97b1…) config and Docker 1.10 image ID', { skip: needShared(REAL_TGZ) }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'l2o-dockercfg-'));
  try {
    run('tar', ['-xzf', join(SHARED_DIR, REAL_TGZ), '-C', dir, '--no-same-owner', `docker/graph/${BASE}/json`, `docker/graph/${TOP}/json`]);
    const chain = [BASE, TOP].map((id) => readFileSync(join(dir, 'docker', 'graph', id, 'json')));
    const r = makeDockerConfig(chain, REAL_DIFFS);
    const config = JSON.parse(r.configBytes.toString('utf8')) as { rootfs: { type: string; diff_ids: string[] }; history: unknown[]; architecture: string; os: string };
    assert.equal(config.rootfs.type, 'layers');
    assert.deepEqual(config.rootfs.diff_ids, REAL_DIFFS);
    assert.equal(config.history.length, 2);
    assert.deepEqual(r.historyPlain, [
      { created: '2018-12-26T08:20:42.687925672Z', created_by: '/bin/sh -c #(nop) ADD file:ce026b62356eec3ad1214f92be2c9dc063fe205bd5e600be3492c4dfb17148bd in / ' },
      { created: '2018-12-26T08:20:42.831353376Z', created_by: '/bin/sh -c #(nop)  CMD ["sh"]' },
    ]);
    assert.equal(r.fallback, false);
    assert.equal(r.imageID, REAL_IMAGE_ID);
    assert.deepEqual(r.chainIDs, [REAL_DIFFS[0], sha(`${REAL_DIFFS[0]} ${REAL_DIFFS[1]}`)]);
    // top image has architecture and os: emitted as is
    assert.deepEqual(toOciConfig(r.configBytes).fixed, []);
    // the base alone (no docker_version → fallback, no architecture/os) needs both fixes
    const base = makeDockerConfig([chain[0]], [REAL_DIFFS[0]]);
    assert.equal(base.fallback, true);
    assert.deepEqual(toOciConfig(base.configBytes).fixed, ['architecture: missing → "amd64"', 'os: missing → "linux"']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
