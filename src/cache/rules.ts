import { compileHostList } from '../policy/host-list.js';
import { normalisePathForMatch, parsePathGlob } from '../policy/path.js';

/**
 * Admin rules that bypass the cache or force caching, by host and path globs (the
 * policy's pattern semantics, compiled once). First match wins.
 */
export interface CacheRuleConfig {
  readonly hosts: readonly string[];
  readonly paths: readonly string[];
  readonly action: 'bypass' | 'force';
  readonly ttl?: number | undefined;
}

export type RuleVerdict = { action: 'bypass' } | { action: 'force'; ttl: number } | null;

interface Compiled {
  host: ((h: string) => boolean) | null;
  paths: { test(s: string): boolean }[];
  verdict: NonNullable<RuleVerdict>;
}

export class CacheRules {
  private readonly rules: Compiled[];

  constructor(rules: readonly CacheRuleConfig[]) {
    this.rules = rules.map((r) => ({
      host: r.hosts.length ? compileHostList(r.hosts) : null,
      paths: r.paths.map((p) => {
        const g = parsePathGlob(p);
        if (typeof g === 'string') throw new Error(g);
        return g;
      }),
      verdict: r.action === 'bypass' ? { action: 'bypass' } : { action: 'force', ttl: Math.floor((r.ttl ?? 0) / 1000) },
    }));
  }

  get empty(): boolean {
    return this.rules.length === 0;
  }

  match(host: string, path: string): RuleVerdict {
    if (this.rules.length === 0) return null;
    let normalised: string | undefined;
    for (const r of this.rules) {
      if (r.host && !r.host(host)) continue;
      if (r.paths.length) {
        normalised ??= normalisePathForMatch(path);
        if (!r.paths.some((g) => g.test(normalised!))) continue;
      }
      return r.verdict;
    }
    return null;
  }
}
