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
  private readonly rules: { set: CidrSet; identity: Identity }[];

  constructor(rules: readonly SourceIdentityRule[]) {
    this.rules = rules.map((r) => ({
      set: new CidrSet([r.cidr]),
      identity: Object.freeze({ user: r.user, groups: Object.freeze([...r.groups].sort()), via: 'address' as const }),
    }));
  }

  get size(): number {
    return this.rules.length;
  }

  lookup(clientIp: string): Identity | undefined {
    for (const r of this.rules) if (r.set.has(clientIp)) return r.identity;
    return undefined;
  }
}
