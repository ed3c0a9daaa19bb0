// An image's status, the same rule for every store: broken when its chain could not be
// resolved or any problem is an error, a warning when anything else was noticed.
import type { LegacyImage, Problem } from './types.js';

export function imageStatus(chain: readonly string[] | null, problems: readonly Problem[]): LegacyImage['status'] {
  if (chain === null || problems.some((p) => p.severity === 'error')) return 'broken';
  return problems.length > 0 ? 'warning' : 'ok';
}
