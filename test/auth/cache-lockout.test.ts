import { describe, expect, it } from 'vitest';
import { Authenticator, parseBasic, SourceIdentities, type Identity, type UserStore } from '../../src/auth/index.js';
import { basicChallenge } from '../../src/auth/basic.js';
import { CredentialCache } from '../../src/auth/credential-cache.js';
import { escapeDnValue, escapeFilterValue } from '../../src/auth/ldap-store.js';
import { Lockout } from '../../src/auth/lockout.js';
import { ProxyError } from '../../src/http/errors.js';

/** Pure logic of auth: Basic parsing, the credential cache, lockout backoff, source identities, LDAP escaping. */

const b64 = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`;

describe('parseBasic', () => {
  it.each([
    [b64('alice:pw'), { user: 'alice', password: 'pw' }],
    [b64('alice:pw:with:colons'), { user: 'alice', password: 'pw:with:colons' }],
    [b64('alice:'), { user: 'alice', password: '' }],
    [`bAsIc ${Buffer.from('ü:ö').toString('base64')}`, { user: 'ü', password: 'ö' }],
    ['Digest username="x"', undefined],
    ['Bearer abc', undefined],
  ])('%s', (header, expected) => {
    expect(parseBasic(header)).toEqual(expected);
  });

  it.each([['Basic !!!'], [b64('nocolon')], [b64(':pw')]])('refuses malformed %s with AUTH_REQUIRED', (header) => {
    expect(() => parseBasic(header)).toThrow(expect.objectContaining({ code: 'AUTH_REQUIRED' }));
  });

  it('quotes the realm (RFC 9110 §5.6.4)', () => {
    expect(basicChallenge('a "b" \\c')).toBe('Basic realm="a \\"b\\" \\\\c", charset="UTF-8"');
  });
});

describe('Lockout', () => {
  it('locks after the threshold with exponential backoff up to the maximum, and forgets after the window', () => {
    let t = 1_000_000;
    const l = new Lockout({ threshold: 3, baseDelay: 1000, maxDelay: 5000, window: 60_000 }, () => t);
    expect([l.fail('k'), l.fail('k')]).toEqual([0, 0]);
    expect(l.retryAfter('k')).toBe(0);
    expect(l.fail('k')).toBe(1000);
    expect(l.retryAfter('k')).toBe(1000);
    t += 400;
    expect(l.retryAfter('k')).toBe(600);
    expect([l.fail('k'), l.fail('k'), l.fail('k'), l.fail('k')]).toEqual([2000, 4000, 5000, 5000]);
    expect(l.retryAfter('other')).toBe(0);
    t += 61_000;
    expect(l.failures('k')).toBe(0);
  });

  it('a success clears the key; threshold 0 disables', () => {
    const l = new Lockout({ threshold: 1, baseDelay: 1000, maxDelay: 1000, window: 1000 });
    l.fail('k');
    expect(l.retryAfter('k')).toBeGreaterThan(0);
    l.succeed('k');
    expect(l.retryAfter('k')).toBe(0);
    const off = new Lockout({ threshold: 0, baseDelay: 1000, maxDelay: 1000, window: 1000 });
    expect(off.fail('k')).toBe(0);
    expect(off.retryAfter('k')).toBe(0);
  });

  it('admits only as many concurrent checks as could fail before the lock, one at a time once locked before', async () => {
    const l = new Lockout({ threshold: 3, baseDelay: 1000, maxDelay: 1000, window: 60_000 });
    const done = [l.begin('k'), l.begin('k')];
    expect(l.mayCheck('k')).toBe(true);
    done.push(l.begin('k'));
    expect(l.mayCheck('k')).toBe(false);
    expect(l.mayCheck('other')).toBe(true);
    const woken = l.settled('k');
    l.fail('k');
    done[0]!();
    await woken;
    // One failure recorded, two still running: 3 - 1 = 2 may run, and 2 do.
    expect(l.mayCheck('k')).toBe(false);
    done[1]!();
    done[2]!();
    expect(l.mayCheck('k')).toBe(true);
    l.fail('k');
    l.fail('k');
    // At the threshold: one check at a time (each failure now relocks).
    const one = l.begin('k');
    expect(l.mayCheck('k')).toBe(false);
    one();
    await expect(l.settled('k')).resolves.toBeUndefined();
  });

  it('is bounded by maxKeys, forgetting the least recently failed', () => {
    const l = new Lockout({ threshold: 3, baseDelay: 1000, maxDelay: 1000, window: 60_000, maxKeys: 100 });
    for (let i = 0; i < 1000; i++) l.fail(`user${i}`);
    expect(l.size).toBe(100);
    expect(l.failures('user999')).toBe(1);
    expect(l.failures('user0')).toBe(0);
  });
});

describe('CredentialCache', () => {
  const id: Identity = { user: 'alice', groups: [], via: 'file' };
  it('keys by a salted hash (never the header), and drops an entry whose revision changed', () => {
    const c = new CredentialCache(60_000, 10);
    const header = b64('alice:secret');
    const k = c.key(header);
    expect(k).not.toContain('secret');
    expect(k).not.toBe(new CredentialCache(60_000, 10).key(header)); // per-instance salt
    c.set(k, id, 'r1');
    expect(c.get(k, () => 'r1')).toBe(id);
    expect(c.get(k, () => 'r2')).toBeUndefined();
    expect(c.get(k, () => 'r1')).toBeUndefined(); // gone for good
  });

  it('is bounded and can be disabled', () => {
    const c = new CredentialCache(60_000, 2);
    for (let i = 0; i < 5; i++) c.set(c.key(`h${i}`), id, 'r');
    expect(c.size).toBe(2);
    const off = new CredentialCache(0, 10);
    off.set(off.key('h'), id, 'r');
    expect(off.get(off.key('h'), () => 'r')).toBeUndefined();
  });
});

/** A store that counts verifications. */
function countingStore(password: string): UserStore & { calls: number; rev: string } {
  const s = {
    calls: 0,
    rev: 'r1',
    async verify(user: string, pw: string) {
      s.calls++;
      return pw === password ? { user, groups: ['g'], via: 'file' as const } : null;
    },
    revision: () => s.rev,
    knows: () => true,
  };
  return s;
}
const log = { info() {}, warn() {}, error() {} };
const opts = { realm: 'r', cacheTtl: 60_000, cacheSize: 100, lockout: { threshold: 2, baseDelay: 1000, maxDelay: 8000, window: 60_000 }, addressLockout: { threshold: 10, baseDelay: 1000, maxDelay: 8000, window: 60_000 } };

describe('Authenticator', () => {
  it('answers a verified credential from the cache synchronously, and checks again after a revision change', async () => {
    const store = countingStore('pw');
    const a = new Authenticator(store, new SourceIdentities([]), opts, log);
    const first = a.identify(b64('alice:pw'), '10.0.0.1');
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toMatchObject({ user: 'alice', groups: ['g'] });
    expect(a.identify(b64('alice:pw'), '10.0.0.1')).toMatchObject({ user: 'alice' });
    expect(store.calls).toBe(1);
    store.rev = 'r2';
    expect(a.identify(b64('alice:pw'), '10.0.0.1')).toBeInstanceOf(Promise);
  });

  it('shares one check between concurrent requests with the same new credential', async () => {
    const store = countingStore('pw');
    const a = new Authenticator(store, new SourceIdentities([]), opts, log);
    await Promise.all([a.identify(b64('bob:pw'), '10.0.0.1'), a.identify(b64('bob:pw'), '10.0.0.2')]);
    expect(store.calls).toBe(1);
  });

  it('throws AUTH_REQUIRED with the challenge on a wrong password, then AUTH_LOCKED with Retry-After', async () => {
    let t = 0;
    const a = new Authenticator(countingStore('pw'), new SourceIdentities([]), opts, log, () => t);
    const fail = (): Promise<unknown> => Promise.resolve().then(() => a.identify(b64('carol:bad'), '10.0.0.1'));
    await expect(fail()).rejects.toMatchObject({ code: 'AUTH_REQUIRED', headers: { 'proxy-authenticate': 'Basic realm="r", charset="UTF-8"' } });
    await expect(fail()).rejects.toMatchObject({ code: 'AUTH_REQUIRED' });
    let err: unknown;
    try {
      a.identify(b64('carol:pw'), '10.0.0.1');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ProxyError);
    expect(err).toMatchObject({ code: 'AUTH_LOCKED', status: 429, headers: { 'retry-after': '1' } });
    t += 1001;
    expect(await a.identify(b64('carol:pw'), '10.0.0.1')).toMatchObject({ user: 'carol' });
  });

  it('maps source addresses when no credentials are sent; null when nothing matches', () => {
    const a = new Authenticator(null, new SourceIdentities([{ cidr: '10.1.0.0/16', user: 'srv', groups: ['b', 'a'] }]), opts, log);
    expect(a.identify(undefined, '10.1.2.3')).toEqual({ user: 'srv', groups: ['a', 'b'], via: 'address' });
    expect(a.identify(undefined, '::ffff:10.1.2.3')).toMatchObject({ user: 'srv' });
    expect(a.identify(undefined, '10.2.0.1')).toBeNull();
    expect(() => a.identify(b64('x:y'), '10.1.2.3')).toThrow(expect.objectContaining({ code: 'AUTH_REQUIRED' }));
  });
});

describe('SourceIdentities', () => {
  it('adds the groups of the config and groups file, rebuilt when those reload', () => {
    let gen = 1;
    let extra: string[] = ['staff'];
    const s = new SourceIdentities([{ cidr: '10.0.0.0/8', user: 'srv', groups: ['servers'] }], () => extra, () => gen);
    expect(s.lookup('10.1.1.1')?.groups).toEqual(['servers', 'staff']);
    extra = ['ops'];
    expect(s.lookup('10.1.1.1')?.groups).toEqual(['servers', 'staff']); // same generation: no per-request work
    gen = 2;
    expect(s.lookup('10.1.1.1')?.groups).toEqual(['ops', 'servers']);
    expect(s.lookup('192.0.2.1')).toBeUndefined();
  });
});

describe('LDAP escaping', () => {
  it.each([
    ['alice', 'alice'],
    ['*)(uid=*', '\\2a\\29\\28uid=\\2a'],
    ['a\\b', 'a\\5cb'],
  ])('filter value %j', (v, out) => expect(escapeFilterValue(v)).toBe(out));
  it.each([
    ['alice', 'alice'],
    ['a,ou=x', 'a\\,ou\\=x'],
    [' #lead', '\\ #lead'],
    ['#x', '\\#x'],
    ['trail ', 'trail\\ '],
  ])('DN value %j', (v, out) => expect(escapeDnValue(v)).toBe(out));
});
