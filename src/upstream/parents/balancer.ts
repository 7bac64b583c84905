import { rendezvousScore } from './hash.js';

/** What a strategy may know about a parent. */
export interface Candidate {
  readonly name: string;
  readonly weight: number;
  /** Requests and tunnels in progress through it. */
  readonly active: number;
}

/** What a request offers to the hashing strategies. */
export interface PickKey {
  host: string;
  client: string;
  user: string | null;
}

export const STRATEGIES = ['round-robin', 'weighted-round-robin', 'least-connections', 'hash-host', 'hash-client', 'hash-user', 'random-two'] as const;
export type Strategy = (typeof STRATEGIES)[number];

/**
 * Orders the usable parents of a group for one request: the first is the one to try,
 * the rest are the failover order. Only the first position follows the strategy; the
 * others are ordered so that a retry spreads like the strategy would.
 */
export interface Balancer {
  order<C extends Candidate>(candidates: readonly C[], key: PickKey): C[];
}

export function createBalancer(strategy: Strategy, random: () => number = Math.random): Balancer {
  switch (strategy) {
    case 'round-robin':
      return new RoundRobin();
    case 'weighted-round-robin':
      return new SmoothWeighted();
    case 'least-connections':
      return { order: (c) => [...c].sort((a, b) => a.active / a.weight - b.active / b.weight) };
    case 'hash-host':
      return new Rendezvous((k) => k.host);
    case 'hash-client':
      return new Rendezvous((k) => k.client);
    case 'hash-user':
      // Anonymous requests stick by address instead: all of them on one parent would be a hot spot.
      return new Rendezvous((k) => k.user ?? `ip:${k.client}`);
    case 'random-two':
      return new RandomTwo(random);
  }
}

class RoundRobin implements Balancer {
  private next = 0;
  order<C extends Candidate>(c: readonly C[]): C[] {
    if (c.length === 0) return [];
    const start = this.next++ % c.length;
    return [...c.slice(start), ...c.slice(0, start)];
  }
}

/**
 * nginx's smooth weighted round robin: each pick adds every member's weight to its
 * current value, takes the highest and subtracts the total from it. Weights 5:1:1 give
 * a a b a c a a, never five a in a row. State is per member name, so a member that is
 * ejected and comes back resumes its share.
 */
class SmoothWeighted implements Balancer {
  private readonly current = new Map<string, number>();
  order<C extends Candidate>(c: readonly C[]): C[] {
    if (c.length === 0) return [];
    let total = 0;
    let best: C = c[0]!;
    let bestValue = -Infinity;
    for (const m of c) {
      const v = (this.current.get(m.name) ?? 0) + m.weight;
      this.current.set(m.name, v);
      total += m.weight;
      if (v > bestValue) {
        bestValue = v;
        best = m;
      }
    }
    this.current.set(best.name, bestValue - total);
    return [best, ...c.filter((m) => m !== best).sort((a, b) => b.weight - a.weight)];
  }
}

/** Consistent hashing (weighted rendezvous): the same key goes to the same parent while it is up. */
class Rendezvous implements Balancer {
  constructor(private readonly keyOf: (k: PickKey) => string) {}
  order<C extends Candidate>(c: readonly C[], key: PickKey): C[] {
    const k = this.keyOf(key);
    return c
      .map((m) => ({ m, s: rendezvousScore(k, m.name, m.weight) }))
      .sort((a, b) => b.s - a.s)
      .map((x) => x.m);
  }
}

/**
 * The power of two random choices (Mitzenmacher): pick two members at random (by
 * weight) and take the less loaded one; nearly as even as least-connections without
 * every instance herding to the same idle parent.
 */
class RandomTwo implements Balancer {
  constructor(private readonly random: () => number) {}
  order<C extends Candidate>(c: readonly C[]): C[] {
    if (c.length < 2) return [...c];
    const a = this.weighted(c);
    let b = this.weighted(c);
    for (let i = 0; b === a && i < 4; i++) b = this.weighted(c);
    if (b === a) b = c.find((m) => m !== a)!;
    const first = a.active / a.weight <= b.active / b.weight ? a : b;
    return [first, ...c.filter((m) => m !== first).sort((x, y) => x.active / x.weight - y.active / y.weight)];
  }
  private weighted<C extends Candidate>(c: readonly C[]): C {
    let total = 0;
    for (const m of c) total += m.weight;
    let r = this.random() * total;
    for (const m of c) if ((r -= m.weight) < 0) return m;
    return c[c.length - 1]!;
  }
}
