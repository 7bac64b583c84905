import type { Problem } from '../config/yaml-source.js';
import type { Policy } from './compile.js';

/**
 * Every `route` in the policy must name a parent group of the config (or "direct"):
 * a typo would otherwise send traffic the wrong way at run time.
 */
export function routeProblems(policy: Policy | null, groups: readonly string[]): Problem[] {
  if (!policy) return [];
  const problems: Problem[] = [];
  for (const r of policy.rules) {
    if (r.route === undefined || r.route === 'direct' || groups.includes(r.route)) continue;
    const known = groups.length ? `configured groups: ${groups.join(', ')}` : 'the config has no upstream.groups';
    problems.push({ file: r.file, ...(r.routeAt ?? { line: r.line, col: 1 }), message: `rule "${r.id}" routes to unknown parent group "${r.route}" (${known}; or "direct")` });
  }
  return problems;
}
