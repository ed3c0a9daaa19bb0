// migrate.toml: every config error points at the right line:column and key path, nothing is done
// on a bad config (exit 2), the example file parses and documents every key; plus the key locator
// and the name patterns behind include/exclude.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cli, cliJson } from '../helpers/cli.js';
import { PROJECT_ROOT, run } from '../helpers/env.js';
import { cleanupHosts, tempDir } from '../helpers/layouts.js';
import { ConfigError, HOST_KEYS, TOP_KEYS, parseConfig, formatIssue } from '../../src/migrate/config.js';
import { locateKeys } from '../../src/migrate/toml-positions.js';
import { defaultCompression, formatCompression } from '../../src/engine/compression/registry.js';
import { compilePattern, matchesName, nameSelection } from '../../src/migrate/patterns.js';
import { writeConfig } from './helpers.js';

after(cleanupHosts);

function issuesOf(text: string, file = '/cfg/migrate.toml', checkPaths = false): string[] {
  try {
    parseConfig(text, file, { checkPaths, defaultJobs: 2 });
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    return err.issues.map(formatIssue);
  }
  return [];
}

/** 1-based line:column of the n-th occurrence of `needle` in `text`. */
function at(text: string, needle: string, nth = 1): string {
  let idx = -1;
  for (let k = 0; k < nth; k++) idx = text.indexOf(needle, idx + 1);
  assert.ok(idx >= 0, `${needle} not in text`);
  const before = text.slice(0, idx);
  const line = before.split('\n').length;
  return `${line}:${idx - before.lastIndexOf('\n')}`;
}

test('config errors: every problem listed with line:column and key path, nothing done (exit 2)', () => {
  const dir = tempDir('mcfg');
  const demo = join(dir, 'root-a');
  mkdirSync(demo);
  const text = [
    'output = "out"', //                          1
    'jobs = "two"', //                            2
    'colour = "blue"', //                         3
    '', //                                        4
    '[[host]]', //                                5
    'name = "a"', //                              6
    'root = "root-a"', //                         7
    'images = "some"', //                         8
    '', //                                        9
    '[[host]]', //                                10
    'name = "a"', //                              11
    'root = "nope/docker"', //                    12
    '  include = ["x", 3]', //                    13
    'extra = 1', //                               14
    '', //                                        15
    '[[host]]', //                                16
    'root = "root-a"', //                         17
    '  compress = "gzip:6"', //                   18
  ].join('\n') + '\n';
  const cfg = writeConfig(dir, text);
  const r = cli(['migrate', cfg]);
  assert.equal(r.status, 2, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trim().split('\n');
  const expected = [
    `${cfg}:2:1: jobs: must be a whole number from 1 to 999, not a string`,
    `${cfg}:3:1: colour: unknown key (known: output, layout, compress, jobs, parallel_hosts, docker_save, on_error, host)`,
    `${cfg}:8:1: host[0].images: must be "tagged" or "all", not "some"`,
    `${cfg}:11:1: host[1].name: duplicate host name "a" (first used by host[0] at line 6)`,
    `${cfg}:12:1: host[1].root: ${join(dir, 'nope/docker')}: no such directory`,
    `${cfg}:13:19: host[1].include[1]: must be a non-empty string, not an integer`,
    `${cfg}:14:1: host[1].extra: unknown key (known in [[host]]: name, root, output, images, include, exclude, prefix)`,
    `${cfg}:16:1: host[2]: missing required key name`,
    `${cfg}:18:3: host[2].compress: unknown key (known in [[host]]: name, root, output, images, include, exclude, prefix)`,
  ].map((l) => `legacy2oci migrate: E_CONFIG: ${l}`);
  assert.deepEqual(lines.slice(0, -1), expected);
  assert.match(lines.at(-1)!, /9 problem\(s\) in the config; nothing done/);
  assert.equal(existsSync(join(dir, 'out')), false, 'nothing may be written on a config error');

  // --json: the same problems as data on stdout
  const j = cliJson(['migrate', cfg]);
  assert.equal(j.status, 2);
  assert.deepEqual(j.json.errors.map((e: any) => `${e.line}:${e.column} ${e.key}`), [
    '2:1 jobs', '3:1 colour', '8:1 host[0].images', '11:1 host[1].name', '12:1 host[1].root',
    '13:19 host[1].include[1]', '14:1 host[1].extra', '16:1 host[2]', '18:3 host[2].compress',
  ]);
});

test('config errors: syntax errors carry the parser position; a missing file is a config error', () => {
  const dir = tempDir('mcfg-syntax');
  const cfg = writeConfig(dir, 'jobs = 2\nname = "x\n');
  const r = cli(['migrate', cfg]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, new RegExp(`^legacy2oci migrate: E_CONFIG: ${cfg.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:2:10: syntax error: Unterminated string`, 'm'));
  const dup = writeConfig(dir, '[[host]]\nname = "a"\nname = "b"\n', 'dup.toml');
  assert.match(cli(['migrate', dup]).stderr, /dup\.toml:3:\d+: syntax error: Can't redefine existing key/);
  const missing = cli(['migrate', join(dir, 'none.toml')]);
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /none\.toml:1:1: no such file/);
  // CONFIG defaults to ./migrate.toml
  const empty = tempDir('mcfg-none');
  assert.ok(cli(['migrate'], { cwd: empty }).stderr.includes(`${empty}/migrate.toml:1:1: no such file`));
  assert.equal(cli(['migrate', 'a.toml', 'b.toml']).status, 2);
});

test('config errors: wrong types, enums, inline tables, quoted and dotted keys are located', () => {
  const inline = 'host = [{name = "a", root = "/r", bogus = 1}, {name="b", root=1}]\n';
  assert.deepEqual(issuesOf(inline), [
    `/cfg/migrate.toml:${at(inline, 'bogus')}: host[0].bogus: unknown key (known in [[host]]: name, root, output, images, include, exclude, prefix)`,
    `/cfg/migrate.toml:${at(inline, 'root', 2)}: host[1].root: must be a string, not an integer`,
  ]);
  const typed = [
    'layout = "mixed"',
    'compress = "brotli"',
    'docker_save = "yes"',
    'on_error = "panic"',
    'parallel_hosts = 0',
    '"out put" = 1',
    'a.b = 2',
    '[[host]]',
    'name = "we b"',
    'root = "/r"',
    'include = "x/*"',
    'exclude = ["", "ok"]',
    'prefix = "Bad Prefix/"',
    'images = 3',
  ].join('\n') + '\n';
  assert.deepEqual(issuesOf(typed), [
    '/cfg/migrate.toml:1:1: layout: must be "per-host" or "shared", not "mixed"',
    '/cfg/migrate.toml:2:1: compress: unknown compression "brotli": expected none, gzip or zstd',
    '/cfg/migrate.toml:3:1: docker_save: must be true or false, not a string',
    '/cfg/migrate.toml:4:1: on_error: must be "continue" or "stop", not "panic"',
    '/cfg/migrate.toml:5:1: parallel_hosts: must be a whole number from 1 to 999, not 0',
    '/cfg/migrate.toml:6:1: "out put": unknown key (known: output, layout, compress, jobs, parallel_hosts, docker_save, on_error, host)',
    '/cfg/migrate.toml:7:1: a: unknown key (known: output, layout, compress, jobs, parallel_hosts, docker_save, on_error, host)',
    '/cfg/migrate.toml:9:1: host[0].name: "we b" is not a usable host name (letters, digits, \'.\', \'_\', \'-\'; not starting with \'.\' or \'-\')',
    '/cfg/migrate.toml:11:1: host[0].include: must be an array of strings, not a string',
    '/cfg/migrate.toml:12:12: host[0].exclude[0]: must be a non-empty string, not an empty one',
    '/cfg/migrate.toml:13:1: host[0].prefix: "Bad Prefix/" does not make valid image names (e.g. "Bad Prefix/busybox"); use lowercase letters, digits, \'.\', \'_\', \'-\' and \'/\', like "registry.example.com/legacy/"',
    '/cfg/migrate.toml:14:1: host[0].images: must be a string, not an integer',
  ]);
  assert.deepEqual(issuesOf('jobs = 2\n'), ['/cfg/migrate.toml:1:1: host: no [[host]] table: nothing to migrate']);
  assert.deepEqual(issuesOf('[host]\nname = "a"\n'), ['/cfg/migrate.toml:1:1: host: must be an array of tables ([[host]] sections), not a table']);
  assert.deepEqual(issuesOf('[[host]]\nname = "a"\nroot = "/r"\noutput = "a.tar"\n'), ['/cfg/migrate.toml:4:1: host[0].output: /cfg/a.tar: migrate writes layout directories, not .tar archives (pack one with legacy2oci export … OUT.tar)']);
  // host output only in per-host mode
  assert.deepEqual(issuesOf('layout = "shared"\n[[host]]\nname = "a"\nroot = "/r"\noutput = "x"\n'), ['/cfg/migrate.toml:5:1: host[0].output: only with layout = "per-host" (a shared layout is the top-level output)']);
});

test('config paths: relative to the config folder; outputs may not share a layout or lie inside a root', () => {
  const dir = tempDir('mcfg-paths');
  mkdirSync(join(dir, 'roots', 'a'), { recursive: true });
  mkdirSync(join(dir, 'roots', 'b'), { recursive: true });
  const file = join(dir, 'conf', 'migrate.toml');
  mkdirSync(join(dir, 'conf'));
  const ok = parseConfig('output = "../o"\n[[host]]\nname = "a"\nroot = "../roots/a"\n[[host]]\nname = "b"\nroot = "../roots/b"\noutput = "elsewhere"\n', file, { defaultJobs: 3 });
  assert.equal(ok.output, join(dir, 'o'));
  assert.deepEqual(ok.hosts.map((h) => [h.root, h.layout]), [[join(dir, 'roots/a'), join(dir, 'o/a')], [join(dir, 'roots/b'), join(dir, 'conf/elsewhere')]]);
  assert.equal(ok.jobs, 3);
  assert.equal(ok.compress, formatCompression(defaultCompression()), 'no compress key: export\'s default');
  const clash = 'output = "../o"\n[[host]]\nname = "a"\nroot = "../roots/a"\n[[host]]\nname = "b"\nroot = "../roots/b"\noutput = "../o/a"\n';
  assert.deepEqual(issuesOf(clash, file, true), [`${file}:8:1: host[1].output: layout ${join(dir, 'o/a')} is also the layout of host a; give each host its own output (or use layout = "shared")`]);
  const intoRoot = 'output = "../roots/a/out"\n[[host]]\nname = "a"\nroot = "../roots/a"\n';
  assert.deepEqual(issuesOf(intoRoot, file, true), [`${file}:1:1: output: ${join(dir, 'roots/a/out')} is inside the root of host a (${join(dir, 'roots/a')}); roots are never written`]);
  const notDir = 'output = "../o"\n[[host]]\nname = "a"\nroot = "migrate.toml"\n';
  writeConfig(join(dir, 'conf'), notDir);
  assert.deepEqual(issuesOf(notDir, file, true), [`${file}:4:1: host[0].root: ${file}: not a directory`]);
});

test('migrate.toml.example parses, documents every key, and every key it shows is known', () => {
  const path = join(PROJECT_ROOT, 'migrate.toml.example');
  const text = readFileSync(path, 'utf8');
  const cfg = parseConfig(text, path, { checkPaths: false, defaultJobs: 1 });
  assert.equal(cfg.hosts.length, 2);
  assert.equal(cfg.hosts[0]!.prefix, 'registry.example.com/legacy/');
  // every key it sets is known (parseConfig would have thrown), and every known key is set in it
  const positions = locateKeys(text);
  for (const k of Object.keys(TOP_KEYS)) assert.ok(positions.exact([k]), `example does not set top-level key ${k}`);
  for (const k of Object.keys(HOST_KEYS)) assert.ok(positions.exact(['host', 0, k]), `example's first [[host]] does not set ${k}`);
  // ... and each one has a comment right above it
  const lines = text.split('\n');
  for (const path of [...Object.keys(TOP_KEYS).filter((k) => k !== 'host').map((k) => [k]), ...Object.keys(HOST_KEYS).map((k) => ['host', 0, k])]) {
    const line = positions.exact(path)!.line;
    assert.match(lines[line - 2] ?? '', /^#/, `${path.join('.')} (line ${line}) has no comment above it`);
  }
});

test('the example runs as documented once its roots exist (dry run on the demo host)', () => {
  const dir = tempDir('mcfg-example');
  const demoRoot = join(dir, 'demo');
  mkdirSync(demoRoot);
  const text = readFileSync(join(PROJECT_ROOT, 'migrate.toml.example'), 'utf8')
    .replace('/mnt/web-01/var/lib/docker', join(demoRoot, 'docker'))
    .replace('/mnt/db-01/var/lib/docker', join(demoRoot, 'docker'));
  const r0 = cli(['migrate', writeConfig(dir, text), '--dry-run']);
  assert.equal(r0.status, 2, 'roots missing yet');
  assert.match(r0.stderr, /:\d+:1: host\[0\]\.root: .*no such directory/);
  run('tar', ['-xzf', join(PROJECT_ROOT, 'fixtures', 'demo', 'demo-root.tar.gz'), '-C', demoRoot, '--no-same-owner']);
  const r = cliJson(['migrate', join(dir, 'migrate.toml'), '--dry-run']);
  assert.equal(r.status, 0, r.stderr);
  const web = r.json.hosts.find((h: any) => h.name === 'web-01');
  assert.deepEqual(web.images.filter((i: any) => i.status === 'planned').map((i: any) => i.refs), [['registry.example.com/legacy/training/webapp:latest']]);
  assert.ok(web.images.some((i: any) => i.status === 'skipped' && /include/.test(i.reason)), 'ubuntu:14.04 is not under training/');
  const db = r.json.hosts.find((h: any) => h.name === 'db-01');
  assert.equal(db.select, 'all');
  assert.ok(db.images.filter((i: any) => i.status === 'planned' && i.refs.length === 0).length > 0, 'untagged images planned by id');
  assert.equal(existsSync(join(dir, 'out')), false, '--dry-run writes nothing');
});

test('key locator: tables, arrays of tables, dotted and quoted keys, arrays and multi-line strings', () => {
  const text = [
    'a = 1 # comment',
    'b.c = """',
    'x = not a key',
    '"""',
    "'q k' = 'v'",
    '[[host]]',
    'name = "h0"',
    'list = [',
    '  "one", # c',
    '  "two",',
    ']',
    '[[host]]',
    '  name = "h1"',
    '  t = { u = 1, v.w = [1, 2] }',
    '[other."x y"]',
    'z = 0',
  ].join('\n');
  const p = locateKeys(text);
  const pos = (path: (string | number)[]) => {
    const x = p.exact(path);
    return x ? `${x.line}:${x.column}` : 'none';
  };
  assert.equal(pos(['a']), '1:1');
  assert.equal(pos(['b', 'c']), '2:1');
  assert.equal(pos(['x']), 'none', 'inside a multi-line string');
  assert.equal(pos(['q k']), '5:1');
  assert.equal(pos(['host', 0]), '6:1');
  assert.equal(pos(['host', 0, 'list', 1]), '10:3');
  assert.equal(pos(['host', 1, 'name']), '13:3');
  assert.equal(pos(['host', 1, 't', 'v', 'w', 1]), '14:26');
  assert.equal(pos(['other', 'x y', 'z']), '16:1');
  assert.deepEqual(p.of(['host', 1, 'missing']), { line: 12, column: 1 }, 'a missing key points at its table');
});

test('name patterns: * within a segment, ** across, on repo:tag or repo', () => {
  const m = (pat: string, ref: string) => {
    const colon = ref.lastIndexOf(':');
    const repo = colon > ref.lastIndexOf('/') ? ref.slice(0, colon) : ref;
    return matchesName(compilePattern(pat), ref, repo);
  };
  assert.ok(m('training/*', 'training/webapp:latest'));
  assert.ok(!m('training/*', 'training/a/b:1'));
  assert.ok(m('training/**', 'training/a/b:1'));
  assert.ok(m('*:latest', 'busybox:latest'));
  assert.ok(!m('*:latest', 'training/webapp:latest'));
  assert.ok(m('**:latest', 'training/webapp:latest'));
  assert.ok(m('busybox', 'busybox:1.0'));
  assert.ok(!m('busy', 'busybox:1.0'));
  assert.ok(m('localhost:5000/x/*', 'localhost:5000/x/y:1'));
  assert.ok(m('b?sybox', 'busybox:1'));
  assert.ok(!m('a.c', 'abc:1'), '. is literal');
  const inc = ['training/*'].map(compilePattern);
  const exc = ['**:old'].map(compilePattern);
  assert.equal(nameSelection(inc, exc, 'training/webapp:latest', 'training/webapp'), null);
  assert.match(nameSelection(inc, exc, 'training/webapp:old', 'training/webapp')!, /excluded by pattern \*\*:old/);
  assert.match(nameSelection(inc, exc, 'ubuntu:14.04', 'ubuntu')!, /matches no include pattern/);
});
