import { describe, expect, it } from 'vitest';
import { counterKey, Profiles, splitKey } from '../../src/quota/profiles.js';

const cfg = {
  timezone: 'UTC',
  profiles: {
    small: { rate: 1, volume: [] },
    staff: { rate: 10, burst: 20, volume: [{ bytes: 1 << 30, per: 'day' as const, text: '1GiB per day' }] },
    dev: { rate: 50, volume: [] },
    vip: { volume: [] },
    updates: { volume: [] },
    anon: { rate: 2, volume: [] },
    other: { rate: 5, volume: [] },
  },
  users: { Alice: 'vip' },
  // Config order decides between several groups: dev before staff.
  groups: { dev: 'dev', staff: 'staff' },
  anonymous: 'anon',
  default: 'other',
};

describe('profile selection', () => {
  const p = new Profiles(cfg);
  // [user, groups, rule profile, expected profile]
  const CASES: [string | null, string[], string | undefined, string | null][] = [
    ['alice', ['staff'], undefined, 'vip'], // user beats group, names case-insensitive
    ['ALICE', [], undefined, 'vip'],
    ['bob', ['staff'], undefined, 'staff'],
    ['bob', ['STAFF'], undefined, 'staff'],
    ['bob', ['staff', 'dev'], undefined, 'dev'], // first in the config's order, not the user's
    ['bob', ['dev', 'staff'], undefined, 'dev'],
    ['bob', ['sales'], undefined, 'other'], // known user, no profile: default
    ['bob', [], undefined, 'other'],
    [null, [], undefined, 'anon'], // anonymous
    [null, [], 'updates', 'updates'], // a policy rule beats everything
    ['alice', ['staff'], 'updates', 'updates'],
    ['alice', [], 'no-such', 'vip'], // unknown rule profile (rejected at load) falls back
  ];
  it.each(CASES)('user %s groups %o rule %s → %s', (user, groups, rule, want) => {
    expect(p.select(user, groups, rule)?.name ?? null).toBe(want);
  });

  it('no anonymous or default profile means unlimited', () => {
    const q = new Profiles({ ...cfg, anonymous: null, default: null });
    expect(q.select(null, [], undefined)).toBeNull();
    expect(q.select('bob', [], undefined)).toBeNull();
    expect(q.select('bob', ['staff'], undefined)?.name).toBe('staff');
  });

  it('burst defaults to one second of rate (at least 1)', () => {
    expect(p.byName.get('dev')!.burst).toBe(50);
    expect(p.byName.get('staff')!.burst).toBe(20);
    expect(p.byName.get('vip')!.rate).toBe(0);
  });

  it.each([
    ['staff', 'bob', '10.0.0.1', 'staff|bob'],
    ['staff', 'Bob', '10.0.0.1', 'staff|bob'],
    ['anon', null, '10.0.0.1', 'anon|ip:10.0.0.1'],
    ['anon', null, '::1', 'anon|ip:::1'],
  ] as [string, string | null, string, string][])('counter key %s/%s/%s = %s, and splits back', (profile, user, ip, key) => {
    expect(counterKey(profile, user, ip)).toBe(key);
    expect(splitKey(key).profile).toBe(profile);
  });
});
