import { describe, expect, it } from 'vitest';
import { createBalancer, type Candidate, type PickKey, type Strategy } from '../../src/upstream/parents/balancer.js';

/** Distribution and stability of the balancing strategies, without sockets. */

const key = (host: string, client = '10.0.0.1', user: string | null = null): PickKey => ({ host, client, user });
const members = (spec: [string, number][]): (Candidate & { active: number })[] => spec.map(([name, weight]) => ({ name, weight, active: 0 }));

function shares(strategy: Strategy, c: Candidate[], n: number, keyOf: (i: number) => PickKey = () => key('h')): Record<string, number> {
  const b = createBalancer(strategy);
  const count: Record<string, number> = {};
  for (let i = 0; i < n; i++) {
    const first = b.order(c, keyOf(i))[0]!.name;
    count[first] = (count[first] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(count).map(([k, v]) => [k, v / n]));
}

describe('round robin', () => {
  it('takes each member in turn, and the failover order is the rest in ring order', () => {
    const b = createBalancer('round-robin');
    const c = members([['a', 1], ['b', 1], ['c', 1]]);
    expect([0, 1, 2, 3].map(() => b.order(c, key('x')).map((m) => m.name).join(''))).toEqual(['abc', 'bca', 'cab', 'abc']);
  });
});

describe('smooth weighted round robin (nginx)', () => {
  it('weights 3:1 give 75% / 25% over 2,000 requests', () => {
    const s = shares('weighted-round-robin', members([['a', 3], ['b', 1]]), 2000);
    expect(s.a).toBeCloseTo(0.75, 2);
    expect(s.b).toBeCloseTo(0.25, 2);
  });

  it('is smooth: weights 5:1:1 give a a b a c a a, never five a in a row', () => {
    const b = createBalancer('weighted-round-robin');
    const c = members([['a', 5], ['b', 1], ['c', 1]]);
    expect(Array.from({ length: 7 }, () => b.order(c, key('x'))[0]!.name).join('')).toBe('aabacaa');
  });
});

describe('least connections (weighted)', () => {
  it('picks the member with the fewest active requests per unit of weight', () => {
    const b = createBalancer('least-connections');
    const c = [{ name: 'a', weight: 1, active: 4 }, { name: 'b', weight: 4, active: 8 }, { name: 'c', weight: 1, active: 3 }];
    expect(b.order(c, key('x')).map((m) => m.name)).toEqual(['b', 'c', 'a']);
  });
});

describe('consistent hashing (weighted rendezvous)', () => {
  const hosts = Array.from({ length: 5000 }, (_, i) => `host-${i}.example`);
  const owner = (c: Candidate[], strategy: Strategy = 'hash-host'): Map<string, string> => {
    const b = createBalancer(strategy);
    return new Map(hosts.map((h) => [h, b.order(c, key(h))[0]!.name]));
  };

  it('the same host always goes to the same parent', () => {
    const c = members([['p1', 1], ['p2', 1], ['p3', 1]]);
    expect(owner(c)).toEqual(owner(c));
  });

  for (const n of [3, 5, 8]) {
    it(`removing one of ${n} parents moves at most 1.3/N of the hosts, and only hosts it owned`, () => {
      const all = members(Array.from({ length: n }, (_, i) => [`p${i}`, 1] as [string, number]));
      const before = owner(all);
      const after = owner(all.filter((m) => m.name !== 'p1'));
      let moved = 0;
      for (const h of hosts) {
        if (before.get(h) !== after.get(h)) {
          moved++;
          expect(before.get(h)).toBe('p1');
        }
      }
      expect(moved / hosts.length).toBeLessThanOrEqual(1.3 / n);
      expect(moved / hosts.length).toBeGreaterThan(0.5 / n);
    });

    it(`adding a parent to ${n} moves about 1/(N+1) of the hosts, all to the new one`, () => {
      const all = members(Array.from({ length: n }, (_, i) => [`p${i}`, 1] as [string, number]));
      const before = owner(all);
      const after = owner([...all, { name: 'new', weight: 1, active: 0 }]);
      const moved = hosts.filter((h) => before.get(h) !== after.get(h));
      expect(moved.every((h) => after.get(h) === 'new')).toBe(true);
      expect(moved.length / hosts.length).toBeLessThanOrEqual(1.3 / (n + 1));
    });
  }

  it('weights 3:1 give about 75% / 25% of the hosts', () => {
    const s = shares('hash-host', members([['a', 3], ['b', 1]]), 4000, (i) => key(`h${i}.example`));
    expect(s.a).toBeGreaterThan(0.7);
    expect(s.a).toBeLessThan(0.8);
  });

  it('hash-client sticks by client address, hash-user by user (anonymous users by address)', () => {
    const c = members([['p1', 1], ['p2', 1], ['p3', 1], ['p4', 1]]);
    const byClient = createBalancer('hash-client');
    const byUser = createBalancer('hash-user');
    const first = (b: ReturnType<typeof createBalancer>, k: PickKey): string => b.order(c, k)[0]!.name;
    // Same client, any host: same parent.
    const pc = new Set(Array.from({ length: 50 }, (_, i) => first(byClient, key(`h${i}`, '10.1.2.3'))));
    expect(pc.size).toBe(1);
    const pu = new Set(Array.from({ length: 50 }, (_, i) => first(byUser, key(`h${i}`, `10.0.0.${i}`, 'alice'))));
    expect(pu.size).toBe(1);
    const anon = new Set(Array.from({ length: 50 }, (_, i) => first(byUser, key(`h${i}`, '10.9.9.9', null))));
    expect(anon.size).toBe(1);
    // Different users spread.
    const users = new Set(Array.from({ length: 200 }, (_, i) => first(byUser, key('h', '10.0.0.1', `user${i}`))));
    expect(users.size).toBe(4);
  });
});

describe('random two choices', () => {
  it('prefers the less loaded of two random members', () => {
    let r = 0;
    const seq = [0.1, 0.9]; // picks a, then c (weights equal)
    const b = createBalancer('random-two', () => seq[r++ % 2]!);
    const c = [{ name: 'a', weight: 1, active: 5 }, { name: 'b', weight: 1, active: 0 }, { name: 'c', weight: 1, active: 2 }];
    expect(b.order(c, key('x'))[0]!.name).toBe('c');
  });

  it('spreads evenly over equal idle members with real randomness', () => {
    const s = shares('random-two', members([['a', 1], ['b', 1]]), 4000);
    expect(s.a).toBeGreaterThan(0.45);
    expect(s.a).toBeLessThan(0.55);
  });
});
