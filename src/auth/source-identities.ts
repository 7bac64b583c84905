import { CidrSet } from '../http/cidr.js';
import type { Identity } from './identity.js';

export interface SourceIdentityRule {
  cidr: string;
  user: string;
  groups: readonly string[];
}

/**
 * Identity by client address, for clients that cannot answer a challenge (servers,
 * appliances, later transparent mode): the first CIDR that holds the address names the
 * user. Only as strong as the network's protection against address spoofing.
 */
export class SourceIdentities {
  private readonly rules: { set: CidrSet; rule: SourceIdentityRule; identity: Identity }[];
  private seen = -1;

  /**
   * `extra` adds the groups the config and groups file give the user; `generation`
   * changes when those reload, and the identities are rebuilt then (not per request).
   */
  constructor(
    rules: readonly SourceIdentityRule[],
    private readonly extra: (user: string) => readonly string[] = () => [],
    private readonly generation: () => number = () => 0,
  ) {
    this.rules = rules.map((rule) => ({ set: new CidrSet([rule.cidr]), rule, identity: this.build(rule) }));
    this.seen = generation();
  }

  get size(): number {
    return this.rules.length;
  }

  lookup(clientIp: string): Identity | undefined {
    if (this.rules.length === 0) return undefined;
    const g = this.generation();
    if (g !== this.seen) {
      this.seen = g;
      for (const r of this.rules) r.identity = this.build(r.rule);
    }
    for (const r of this.rules) if (r.set.has(clientIp)) return r.identity;
    return undefined;
  }

  private build(r: SourceIdentityRule): Identity {
    const groups = [...new Set([...r.groups, ...this.extra(r.user)])].sort();
    return Object.freeze({ user: r.user, groups: Object.freeze(groups), via: 'address' as const });
  }
}
