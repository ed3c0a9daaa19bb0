// Collects findings while the layout is walked and turns them into the final report.
import { RULES, type RuleId, type Severity } from './rules.js';
import type { Finding, ValidationReport, ValidationStats } from './types.js';

export interface Where {
  file?: string;
  digest?: string;
  ref?: string;
  path?: string;
}

export class Reporter {
  readonly findings: Finding[] = [];
  private readonly keys = new Set<string>();

  add(rule: RuleId, message: string, where: Where = {}, severity?: Severity): void {
    message = oneLine(message);
    // key order is the JSON output order
    const f: Finding = {
      severity: severity ?? RULES[rule].severity,
      rule,
      ...(where.file !== undefined && { file: where.file }),
      ...(where.digest !== undefined && { digest: where.digest }),
      ...(where.ref !== undefined && { ref: where.ref }),
      ...(where.path !== undefined && { path: where.path }),
      message,
    };
    // the same blob reached twice (two tags, a shared config) is reported once
    const key = JSON.stringify([rule, f.file, f.digest, f.path, message]);
    if (this.keys.has(key)) return;
    this.keys.add(key);
    this.findings.push(f);
  }

  /** Whether `rule` was already reported for this file (to avoid reporting one defect twice). */
  hasFile(rule: RuleId, file: string): boolean {
    return this.findings.some((f) => f.rule === rule && f.file === file);
  }

  build(stats: ValidationStats, strict: boolean): ValidationReport {
    const findings = this.findings.map((f) => (strict && f.severity === 'warning' ? { ...f, severity: 'error' as const } : f));
    const errors = findings.filter((f) => f.severity === 'error').length;
    return { valid: errors === 0, errors, warnings: findings.length - errors, findings, stats };
  }
}

/** Messages are one line: control characters (from tar names, JSON strings) are escaped. */
export function oneLine(s: string): string {
  return s.replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
