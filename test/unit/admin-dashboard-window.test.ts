import { describe, expect, it } from 'vitest';
import { BUCKET_MS, BUCKETS, DashboardWindow, destinationHost, TOP_CAPACITY } from '../../src/admin/dashboard-window.js';
import type { AccessRecord } from '../../src/log/access-log.js';

/** The dashboard's sliding window: fixed buckets, expiry, top-K merging, its bounds. */

function rec(over: Partial<AccessRecord> = {}): AccessRecord {
  return {
    id: 'x-1', kind: 'http', clientIp: '10.0.0.1', clientPort: 1, method: 'GET', url: 'http://a.example/', status: 200,
    bytesIn: 0, bytesOut: 10, startedAt: 0, upstream: null, errorCode: null, errorReason: null, tls: 'plain', sni: null,
    user: 'alice', groups: [], cache: null, decision: null, quota: null, ...over,
  };
}

function clocked(start = 1_000_000 * BUCKET_MS): { w: DashboardWindow; at: (ms: number) => void } {
  let now = start;
  return { w: new DashboardWindow(() => now), at: (ms) => (now = start + ms) };
}

describe('DashboardWindow', () => {
  it.each<[string, Partial<AccessRecord>, Partial<Record<'requests' | 'tunnels' | 'denied' | 'errors' | 'bytesOut' | 'cacheServed' | 'cacheLookups', number>>]>([
    ['a plain request', {}, { requests: 1, tunnels: 0, bytesOut: 10 }],
    ['a tunnel', { kind: 'connect', url: 'a.example:443' }, { requests: 0, tunnels: 1 }],
    ['an upgrade', { kind: 'upgrade' }, { tunnels: 1 }],
    ['a policy denial', { status: 403, errorCode: 'POLICY_DENIED', decision: { action: 'deny', ruleId: 'r1', reason: 'no', mode: 'enforce' } }, { denied: 1, errors: 1 }],
    ['an upstream error', { status: 502, errorCode: 'UPSTREAM_REFUSED' }, { denied: 0, errors: 1 }],
    ['a cache hit', { cache: 'hit' }, { cacheServed: 1, cacheLookups: 1 }],
    ['a stale answer', { cache: 'stale' }, { cacheServed: 1, cacheLookups: 1 }],
    ['a miss', { cache: 'miss' }, { cacheServed: 0, cacheLookups: 1 }],
    ['a bypass (not a lookup)', { cache: 'bypass' }, { cacheServed: 0, cacheLookups: 0 }],
  ])('counts %s', (_name, over, want) => {
    const { w } = clocked();
    w.record(rec(over));
    expect(w.snapshot().totals).toMatchObject(want);
  });

  it('keeps BUCKETS buckets of BUCKET_MS, oldest first, the current one last', () => {
    const { w, at } = clocked();
    w.record(rec());
    at(BUCKET_MS);
    w.record(rec());
    w.record(rec());
    const s = w.snapshot();
    expect(s.series).toHaveLength(BUCKETS);
    expect(s.series.at(-1)!.requests).toBe(2);
    expect(s.series.at(-2)!.requests).toBe(1);
    expect(s.series.at(-1)!.rate).toBe(2 / (BUCKET_MS / 1000));
    expect(Date.parse(s.series.at(-1)!.start) - Date.parse(s.series.at(-2)!.start)).toBe(BUCKET_MS);
    expect(s.totals.requests).toBe(3);
  });

  it('forgets what fell out of the window, also when its slot is not reused', () => {
    const { w, at } = clocked();
    w.record(rec({ user: 'old' }));
    at((BUCKETS - 1) * BUCKET_MS);
    expect(w.snapshot().totals.requests).toBe(1);
    at(BUCKETS * BUCKET_MS);
    const s = w.snapshot();
    expect(s.totals.requests).toBe(0);
    expect(s.topUsers).toEqual([]);
    // The slot is reused by a new bucket: the old counts do not come back.
    w.record(rec({ user: 'new' }));
    expect(w.snapshot().topUsers).toEqual([{ user: 'new', requests: 1, bytesOut: 10 }]);
  });

  it('merges the buckets into top users, destinations and denials, most first, ties by name', () => {
    const { w, at } = clocked();
    for (const u of ['bob', 'alice', 'bob']) w.record(rec({ user: u, url: `http://${u}.example/x` }));
    at(BUCKET_MS);
    for (const u of ['carol', 'alice', null]) w.record(rec({ user: u, url: 'a.example:443', kind: 'connect' }));
    const deny = (ruleId: string) => rec({ status: 403, errorCode: 'POLICY_DENIED', decision: { action: 'deny', ruleId, reason: '', mode: 'enforce' } });
    w.record(deny('no-social'));
    w.record(deny('no-social'));
    w.record(deny('no-video'));
    const s = w.snapshot(3);
    expect(s.topUsers.map((u) => [u.user, u.requests])).toEqual([['alice', 5], ['bob', 2], ['(anonymous 10.0.0.1)', 1]]);
    expect(s.topDestinations.map((h) => [h.host, h.requests])).toEqual([['a.example', 6], ['bob.example', 2], ['alice.example', 1]]);
    expect(s.denials).toEqual([{ rule: 'no-social', count: 2 }, { rule: 'no-video', count: 1 }]);
  });

  it('stays bounded: many distinct users per bucket are capped, the heavy hitter stays exact', () => {
    const { w } = clocked();
    for (let i = 0; i < 20 * TOP_CAPACITY; i++) {
      w.record(rec({ user: `u${i}` }));
      w.record(rec({ user: 'heavy' }));
    }
    const s = w.snapshot(5);
    expect(s.topUsers[0]).toMatchObject({ user: 'heavy' });
    expect(s.topUsers[0]!.requests).toBe(20 * TOP_CAPACITY);
    expect(s.approximate).toBe(true);
    expect(s.totals.requests).toBe(40 * TOP_CAPACITY);
  });

  it('has no cache ratio before any lookup, then served / lookups', () => {
    const { w } = clocked();
    expect(w.snapshot().totals.cacheHitRatio).toBeNull();
    for (const cache of ['hit', 'miss', 'miss', 'revalidated'] as const) w.record(rec({ cache }));
    expect(w.snapshot().totals.cacheHitRatio).toBe(0.5);
  });
});

describe('destinationHost', () => {
  it.each([
    ['http', 'http://Example.COM/path', 'example.com'],
    ['http', 'http://example.com:8080/x', 'example.com'],
    ['http', 'https://example.com?q=1', 'example.com'],
    ['http', 'http://example.com#frag', 'example.com'],
    ['http', 'http://example.com', 'example.com'],
    ['http', 'http://[2001:db8::1]:8080/x', '2001:db8::1'],
    ['http', 'http://[::1]/', '::1'],
    ['local', '/', ''],
    ['connect', 'example.com:443', 'example.com'],
    ['connect', '[2001:db8::1]:443', '2001:db8::1'],
    ['connect', 'noport', 'noport'],
  ])('%s %s → %s', (kind, url, host) => expect(destinationHost(kind, url)).toBe(host));
});
