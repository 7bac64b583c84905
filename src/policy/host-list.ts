import { normaliseRequestHost, parseHostPattern, type HostPattern } from './host.js';

/**
 * A list of host patterns with the policy's semantics (`example.com` exact,
 * `*.example.com` subdomains, `.example.com` both, other globs), for config lists such
 * as the interception include/exclude and insecure-origin lists.
 */
export function compileHostList(patterns: readonly string[]): (host: string) => boolean {
  const parsed = patterns.map((p) => {
    const r = parseHostPattern(p);
    if (typeof r === 'string') throw new Error(r);
    return r;
  });
  if (parsed.length === 0) return () => false;
  return (raw: string) => {
    const host = normaliseRequestHost(raw);
    return parsed.some((p) => matches(p, host));
  };
}

/** The problem with a host pattern, or undefined when it is valid. */
export function hostPatternProblem(pattern: string): string | undefined {
  const r = parseHostPattern(pattern);
  return typeof r === 'string' ? r : undefined;
}

function matches(p: HostPattern, host: string): boolean {
  switch (p.kind) {
    case 'exact':
      return host === p.name;
    case 'subdomains':
      return host.endsWith(`.${p.name}`);
    case 'domain':
      return host === p.name || host.endsWith(`.${p.name}`);
    case 'glob':
      return p.glob.test(host);
  }
}
