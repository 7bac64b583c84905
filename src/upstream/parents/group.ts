import type { Agent } from 'undici';
import { createBalancer, type Balancer, type PickKey, type Strategy } from './balancer.js';
import type { Parent, ParentStatus } from './parent.js';

export interface GroupOptions {
  strategy: Strategy;
  /** When no parent of the group can take a request, go direct instead of failing. */
  fallbackDirect: boolean;
  /** Parents tried for one request before giving up (or going direct). */
  maxAttempts: number;
}

export interface GroupStatus {
  name: string;
  strategy: Strategy;
  fallbackDirect: boolean;
  parents: ParentStatus[];
}

/** A named set of parent proxies, each with its own connection pool, and the strategy that spreads requests over them. */
export class ParentGroup {
  private readonly balancer: Balancer;

  constructor(
    readonly name: string,
    readonly members: readonly { parent: Parent; pool: Agent }[],
    readonly options: GroupOptions,
  ) {
    this.balancer = createBalancer(options.strategy);
  }

  /** The parents to try for one request, best first, at most maxAttempts; empty when none is usable. */
  candidates(key: PickKey, now: number): { parent: Parent; pool: Agent }[] {
    let usable = this.members.filter((m) => m.parent.usable(now));
    // Panic routing (as Envoy does): when passive ejection has taken out every parent,
    // keep trying the ejected ones rather than failing everything for the backoff. Only
    // parents that active checks found down, or that are at their connection limit,
    // are really unavailable.
    if (usable.length === 0) usable = this.members.filter((m) => m.parent.usableInPanic(now));
    if (usable.length === 0) return [];
    const order = this.balancer.order(
      usable.map((m) => m.parent),
      key,
    );
    return order.slice(0, this.options.maxAttempts).map((p) => usable.find((m) => m.parent === p)!);
  }

  status(now: number): GroupStatus {
    return { name: this.name, strategy: this.options.strategy, fallbackDirect: this.options.fallbackDirect, parents: this.members.map((m) => m.parent.status(now)) };
  }
}
