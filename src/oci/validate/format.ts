// Report output: human text, JSON (the ValidationReport as is) and JUnit XML (one testcase
// per rule; a rule with error findings fails, warnings go to system-out, rules that were not
// evaluated in this mode are skipped).
import { RULE_IDS, RULES, type RuleId } from './rules.js';
import type { Finding, ValidationReport } from './types.js';
import { shortDigest } from './digest.js';
import { oneLine } from './report.js';

export function formatJson(report: ValidationReport): string {
  return `${JSON.stringify(report, null, 2)}\n`;
}

function location(f: Finding): string {
  const parts: string[] = [];
  if (f.file !== undefined) parts.push(f.file);
  // the digest is redundant when the file is the blob itself
  if (f.digest !== undefined && !(f.file !== undefined && f.digest.endsWith(`:${f.file.slice(f.file.lastIndexOf('/') + 1)}`))) parts.push(shortDigest(f.digest));
  if (f.ref !== undefined) parts.push(`ref=${oneLine(f.ref)}`);
  if (f.path !== undefined) parts.push(`path=${oneLine(f.path)}`);
  return parts.join(' ');
}

export function formatFinding(f: Finding): string {
  const where = location(f);
  return `${f.severity.padEnd(7)} ${f.rule}${where ? ` ${where}` : ''}: ${f.message}`;
}

export function formatText(report: ValidationReport, layout: string): string {
  const lines = report.findings.map(formatFinding);
  const s = report.stats;
  const mb = (s.bytesRead / 1e6).toFixed(1);
  const counts = `${report.errors} error${report.errors === 1 ? '' : 's'}, ${report.warnings} warning${report.warnings === 1 ? '' : 's'}`;
  lines.push(
    `${report.valid ? 'valid' : 'INVALID'}: ${layout}: ${counts} (${s.mode}${s.strict ? ', strict' : ''}; ` +
      `${s.manifests} manifest${s.manifests === 1 ? '' : 's'}, ${s.layers} layer${s.layers === 1 ? '' : 's'}, ${s.blobs} blobs, ` +
      `${mb} MB in ${(s.durationMs / 1000).toFixed(2)} s, ${s.mbPerSecond} MB/s)`,
  );
  return `${lines.join('\n')}\n`;
}

// ---- JUnit

function xmlText(s: string): string {
  return s
    .replace(/[^\t\n\r\x20-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;');
}

function xmlAttr(s: string): string {
  return xmlText(s).replace(/"/g, '&quot;').replace(/\n/g, '&#10;').replace(/\r/g, '&#13;').replace(/\t/g, '&#9;');
}

function notEvaluated(rule: RuleId, report: ValidationReport): string | undefined {
  const scope = RULES[rule].scope;
  const s = report.stats;
  if ((scope === 'deep' || scope === 'docker-manifest-deep') && s.mode !== 'deep') return 'not checked with --shallow';
  if ((scope === 'docker-manifest' || scope === 'docker-manifest-deep') && !s.dockerManifest) return 'no manifest.json in the layout';
  if (scope === 'ref' && s.unreferencedChecked) return 'no --ref given';
  if (rule === 'blob-unreferenced' && !s.unreferencedChecked) return 'not checked with --ref';
  return undefined;
}

export function formatJunit(report: ValidationReport, layout: string): string {
  const seconds = (report.stats.durationMs / 1000).toFixed(3);
  const cases: string[] = [];
  let failures = 0;
  let skipped = 0;
  for (const rule of RULE_IDS) {
    const found = report.findings.filter((f) => f.rule === rule);
    const errors = found.filter((f) => f.severity === 'error');
    const warnings = found.filter((f) => f.severity === 'warning');
    const open = `    <testcase classname="legacy2oci.validate" name="${rule}" time="0">`;
    const skip = found.length === 0 ? notEvaluated(rule, report) : undefined;
    if (skip !== undefined) {
      skipped++;
      cases.push(`${open}\n      <skipped message="${xmlAttr(skip)}"/>\n    </testcase>`);
      continue;
    }
    const body: string[] = [];
    if (errors.length > 0) {
      failures++;
      const msg = `${errors.length} error${errors.length === 1 ? '' : 's'}: ${RULES[rule].summary}`;
      body.push(`      <failure message="${xmlAttr(msg)}" type="${rule}">${xmlText(errors.map(formatFinding).join('\n'))}</failure>`);
    }
    if (warnings.length > 0) body.push(`      <system-out>${xmlText(warnings.map(formatFinding).join('\n'))}</system-out>`);
    cases.push(body.length === 0 ? `${open}</testcase>` : `${open}\n${body.join('\n')}\n    </testcase>`);
  }
  const attrs = `tests="${RULE_IDS.length}" failures="${failures}" errors="0" skipped="${skipped}" time="${seconds}"`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="legacy2oci validate" ${attrs}>`,
    `  <testsuite name="${xmlAttr(`validate ${layout}`)}" ${attrs}>`,
    '    <properties>',
    `      <property name="layout" value="${xmlAttr(layout)}"/>`,
    `      <property name="mode" value="${report.stats.mode}"/>`,
    `      <property name="strict" value="${report.stats.strict}"/>`,
    `      <property name="valid" value="${report.valid}"/>`,
    '    </properties>',
    ...cases,
    '  </testsuite>',
    '</testsuites>',
    '',
  ].join('\n');
}
