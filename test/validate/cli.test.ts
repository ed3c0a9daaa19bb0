// `legacy2oci validate` end to end through bin/legacy2oci.js: exit codes, --json schema,
// JUnit XML well-formedness, text output, flags.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { rmSync, writeFileSync } from 'node:fs';
import { needTools, PROJECT_ROOT } from '../helpers/env.js';
import { appendEntries, gzipN, TestLayout, tmp } from './fixture.js';
import { RULE_IDS } from '../../src/oci/validate/rules.js';

const BIN = join(PROJECT_ROOT, 'bin', 'legacy2oci.js');

function cli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, 'validate', ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A small XML well-formedness check (no XML parser in the dependencies): one root, every tag
 * closed in order, attributes quoted, only the five predefined entities or char refs, no
 * characters XML 1.0 forbids.
 */
function assertWellFormedXml(xml: string): void {
  assert.ok(xml.startsWith('<?xml version="1.0" encoding="UTF-8"?>\n'));
  assert.doesNotMatch(xml, /[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u, 'forbidden character');
  const body = xml.slice(xml.indexOf('?>') + 2);
  const stack: string[] = [];
  let roots = 0;
  const token = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/gy;
  let m: RegExpExecArray | null;
  while ((m = token.exec(body)) !== null) {
    const [, close, name, attrs, selfClose, text, stray] = m;
    assert.equal(stray, undefined, `stray '<' at ${m.index}`);
    const check = text ?? attrs ?? '';
    for (const ent of check.match(/&[^;\s]*;?/g) ?? []) assert.match(ent, /^&(amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);$/, `bad entity ${ent}`);
    if (text !== undefined) {
      assert.ok(stack.length > 0 || text.trim() === '', 'text outside the root');
      assert.doesNotMatch(text, />/, 'unescaped >');
      continue;
    }
    if (close) assert.equal(stack.pop(), name, `mismatched </${name}>`);
    else if (!selfClose) {
      if (stack.length === 0) roots++;
      stack.push(name!);
    } else if (stack.length === 0) roots++;
  }
  assert.deepEqual(stack, [], 'unclosed tags');
  assert.equal(roots, 1);
}

describe('validate CLI', { skip: needTools('tar', 'gzip') }, () => {
  test('good layout: exit 0, text summary', () => {
    const l = new TestLayout();
    try {
      const r = cli(l.dir);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^valid: .*0 errors, 0 warnings \(deep;/m);
      const s = cli('--shallow', l.dir);
      assert.equal(s.code, 0);
      assert.match(s.stdout, /\(shallow;/);
    } finally {
      l.cleanup();
    }
  });

  test('--json schema is stable', () => {
    const l = new TestLayout();
    try {
      l.putBlob('extra\n');
      const r = cli('--json', l.dir);
      assert.equal(r.code, 0);
      const j = JSON.parse(r.stdout);
      assert.deepEqual(Object.keys(j), ['valid', 'errors', 'warnings', 'findings', 'stats']);
      assert.equal(j.valid, true);
      assert.equal(j.warnings, 1);
      assert.deepEqual(Object.keys(j.findings[0]), ['severity', 'rule', 'file', 'digest', 'message']);
      assert.equal(j.findings[0].rule, 'blob-unreferenced');
      assert.deepEqual(Object.keys(j.stats).sort(), [
        'blobs', 'bytesRead', 'configs', 'dockerManifest', 'durationMs', 'indexes', 'layers', 'manifests', 'mbPerSecond',
        'mode', 'strict', 'tarEntries', 'uncompressedBytes', 'unreferencedChecked',
      ]);
      // --strict turns the warning into a failure
      const strict = cli('--json', '--strict', l.dir);
      assert.equal(strict.code, 1);
      const sj = JSON.parse(strict.stdout);
      assert.equal(sj.valid, false);
      assert.equal(sj.errors, 1);
      assert.equal(sj.findings[0].severity, 'error');
      assert.deepEqual(JSON.parse(cli('--format', 'json', l.dir).stdout).findings, j.findings);
    } finally {
      l.cleanup();
    }
  });

  test('invalid layout: exit 1 and the rule in every format', () => {
    const l = new TestLayout();
    try {
      writeFileSync(l.path('oci-layout'), '{"imageLayoutVersion":"2.0.0"}');
      const t = cli(l.dir);
      assert.equal(t.code, 1);
      assert.match(t.stdout, /^error {3}layout-version oci-layout: /m);
      assert.match(t.stdout, /^INVALID: /m);
      const j = cli('--json', l.dir);
      assert.equal(j.code, 1);
      assert.equal(JSON.parse(j.stdout).findings[0].rule, 'layout-version');
      const x = cli('--format', 'junit', l.dir);
      assert.equal(x.code, 1);
      assertWellFormedXml(x.stdout);
      assert.match(x.stdout, /<testcase classname="legacy2oci.validate" name="layout-version" time="0">\n {6}<failure /);
      assert.equal((x.stdout.match(/<testcase /g) ?? []).length, RULE_IDS.length);
      assert.match(x.stdout, /<testsuites name="legacy2oci validate" tests="\d+" failures="1" /);
    } finally {
      l.cleanup();
    }
  });

  test('junit escapes hostile layer paths and messages', () => {
    const l = new TestLayout();
    try {
      const tar = appendEntries(l.layers[1].tar, [{ name: '/abs<&>"\u0001\u0007x', data: 'x' }]);
      l.layers[1] = { ...l.layers[1], tar, blob: gzipN(tar) };
      l.relink();
      const x = cli('--format', 'junit', l.dir);
      assert.equal(x.code, 1);
      assertWellFormedXml(x.stdout);
      assert.match(x.stdout, /name="tar-path-escape"[^]*&lt;&amp;&gt;/);
      const shallow = cli('--format', 'junit', '--shallow', l.dir);
      assert.equal(shallow.code, 0);
      assertWellFormedXml(shallow.stdout);
      assert.match(shallow.stdout, /name="tar-path-escape" time="0">\n {6}<skipped message="not checked with --shallow"\/>/);
    } finally {
      l.cleanup();
    }
  });

  test('--ref selects one entry; an absent ref is exit 1', () => {
    const l = new TestLayout();
    try {
      assert.equal(cli('--ref', 'example.test/legacy/tiny:v1', l.dir).code, 0);
      const r = cli('--ref', 'other', '--json', l.dir);
      assert.equal(r.code, 1);
      assert.equal(JSON.parse(r.stdout).findings[0].rule, 'ref-not-found');
    } finally {
      l.cleanup();
    }
  });

  test('missing oci-layout is exit 1, not 2', () => {
    const l = new TestLayout();
    try {
      writeFileSync(l.path('oci-layout'), '');
      assert.equal(cli(l.dir).code, 1);
    } finally {
      l.cleanup();
    }
  });

  test('exit 2: nonexistent path, a file, bad flags', (t) => {
    const missing = cli('/nonexistent/layout');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /E_LAYOUT_NOT_FOUND/);
    const work = tmp();
    t.after(() => rmSync(work, { recursive: true, force: true }));
    const file = join(work, 'file');
    writeFileSync(file, 'x');
    assert.equal(cli(file).code, 2);
    const dir = work;
    for (const args of [['--bogus', dir], ['--deep', '--shallow', dir], ['--format', 'xml', dir], ['--json', '--format', 'junit', dir], [], [dir, dir], ['--jobs', 'x', dir], ['--ref']]) {
      const r = cli(...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /E_USAGE/);
    }
    assert.equal(cli('--help').code, 0);
  });

  test('--jobs 0 and --jobs 1 give the same findings as the default pool', () => {
    const l = new TestLayout();
    try {
      l.putBlob('extra\n');
      const base = JSON.parse(cli('--json', l.dir).stdout).findings;
      for (const jobs of ['0', '1']) assert.deepEqual(JSON.parse(cli('--json', '--jobs', jobs, l.dir).stdout).findings, base);
    } finally {
      l.cleanup();
    }
  });
});
