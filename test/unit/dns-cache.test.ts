import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyError } from '../../src/http/errors.js';
import { DnsCache, type DnsOptions } from '../../src/upstream/dns-cache.js';

type Rec = { address: string; ttl: number };
type Answer = Rec[] | NodeJS.ErrnoException;

/** A fake c-ares resolver: answers from a table, counts queries, can hold answers back. */
class FakeResolver {
  readonly calls: string[] = [];
  a = new Map<string, Answer>();
  aaaa = new Map<string, Answer>();
  gate: Promise<void> | null = null;

  private async answer(table: Map<string, Answer>, kind: string, host: string): Promise<Rec[]> {
    this.calls.push(`${kind} ${host}`);
    if (this.gate) await this.gate;
    const a = table.get(host);
    if (a === undefined) throw Object.assign(new Error(`query${kind} ENOTFOUND ${host}`), { code: 'ENOTFOUND' });
    if (a instanceof Error) throw a;
    return a;
  }
  resolve4 = ((host: string) => this.answer(this.a, 'A', host)) as never;
  resolve6 = ((host: string) => this.answer(this.aaaa, 'AAAA', host)) as never;
  queries(host: string): number {
    return this.calls.filter((c) => c.endsWith(` ${host}`)).length;
  }
}

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(code), { code });
}

describe('DnsCache', () => {
  let dir: string;
  let hostsFile: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'egressd-dns-'));
    hostsFile = join(dir, 'hosts');
    writeFileSync(hostsFile, ['# comment', '10.1.1.1 pinned.example.test Alias.Example.Test.', '2001:db8::5 pinned.example.test', '192.0.2.9 v4only.test # trailing comment', 'garbage line', ''].join('\n'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function make(over: Partial<DnsOptions> = {}): { dns: DnsCache; r: FakeResolver; clock: { t: number } } {
    const r = new FakeResolver();
    const clock = { t: 1_000_000 };
    const dns = new DnsCache({
      minTtl: 1000,
      maxTtl: 60_000,
      negativeTtl: 5000,
      timeout: 1000,
      cacheSize: 100,
      family: 'ipv4first',
      hostsFile: join(dir, 'no-such-hosts-file'),
      resolver: r as never,
      now: () => clock.t,
      ...over,
    });
    return { dns, r, clock };
  }

  it('returns IP literals as they are, without a query', async () => {
    const { dns, r } = make();
    expect(await dns.resolve('192.0.2.1')).toEqual(['192.0.2.1']);
    expect(await dns.resolve('2001:db8::1')).toEqual(['2001:db8::1']);
    expect(r.calls).toHaveLength(0);
  });

  it('caches an answer for its TTL', async () => {
    const { dns, r, clock } = make();
    r.a.set('ttl.test', [{ address: '198.51.100.1', ttl: 10 }]);
    expect(await dns.resolve('ttl.test')).toEqual(['198.51.100.1']);
    const first = r.queries('ttl.test');
    clock.t += 9_000;
    expect(await dns.resolve('ttl.test')).toEqual(['198.51.100.1']);
    expect(r.queries('ttl.test')).toBe(first);
    clock.t += 1_001;
    r.a.set('ttl.test', [{ address: '198.51.100.2', ttl: 10 }]);
    expect(await dns.resolve('ttl.test')).toEqual(['198.51.100.2']);
    expect(r.queries('ttl.test')).toBeGreaterThan(first);
  });

  it('clamps a TTL below minTtl up to minTtl', async () => {
    const { dns, r, clock } = make({ minTtl: 5000 });
    r.a.set('short.test', [{ address: '198.51.100.3', ttl: 0 }]);
    await dns.resolve('short.test');
    const n = r.queries('short.test');
    clock.t += 4_900;
    await dns.resolve('short.test');
    expect(r.queries('short.test')).toBe(n);
    clock.t += 200;
    await dns.resolve('short.test');
    expect(r.queries('short.test')).toBeGreaterThan(n);
  });

  it('clamps a TTL above maxTtl down to maxTtl', async () => {
    const { dns, r, clock } = make({ maxTtl: 30_000 });
    r.a.set('long.test', [{ address: '198.51.100.4', ttl: 86_400 }]);
    await dns.resolve('long.test');
    const n = r.queries('long.test');
    clock.t += 29_000;
    await dns.resolve('long.test');
    expect(r.queries('long.test')).toBe(n);
    clock.t += 1_500;
    await dns.resolve('long.test');
    expect(r.queries('long.test')).toBeGreaterThan(n);
  });

  it('uses the smallest TTL of the A and AAAA answers', async () => {
    const { dns, r, clock } = make();
    r.a.set('both.test', [{ address: '198.51.100.5', ttl: 50 }]);
    r.aaaa.set('both.test', [{ address: '2001:db8::5', ttl: 3 }]);
    await dns.resolve('both.test');
    const n = r.queries('both.test');
    clock.t += 3_100;
    await dns.resolve('both.test');
    expect(r.queries('both.test')).toBeGreaterThan(n);
  });

  it('caches failures for negativeTtl and throws DNS_FAILED each time', async () => {
    const { dns, r, clock } = make({ negativeTtl: 5000 });
    const err1 = await dns.resolve('missing.test').catch((e: unknown) => e);
    expect(err1).toBeInstanceOf(ProxyError);
    expect((err1 as ProxyError).code).toBe('DNS_FAILED');
    expect((err1 as ProxyError).status).toBe(502);
    const n = r.queries('missing.test');
    clock.t += 4_000;
    await expect(dns.resolve('missing.test')).rejects.toMatchObject({ code: 'DNS_FAILED' });
    expect(r.queries('missing.test')).toBe(n);
    // Once the negative entry expires, a fresh query runs (and now succeeds).
    clock.t += 1_500;
    r.a.set('missing.test', [{ address: '198.51.100.6', ttl: 60 }]);
    expect(await dns.resolve('missing.test')).toEqual(['198.51.100.6']);
    expect(r.queries('missing.test')).toBeGreaterThan(n);
  });

  it('maps a resolver timeout to DNS_TIMEOUT (504)', async () => {
    const { dns, r } = make();
    r.a.set('slow.test', errno('ETIMEOUT'));
    r.aaaa.set('slow.test', errno('ETIMEOUT'));
    await expect(dns.resolve('slow.test')).rejects.toMatchObject({ code: 'DNS_TIMEOUT', status: 504 });
  });

  it('succeeds with AAAA only when A fails', async () => {
    const { dns, r } = make();
    r.aaaa.set('v6.test', [{ address: '2001:db8::6', ttl: 60 }]);
    expect(await dns.resolve('v6.test')).toEqual(['2001:db8::6']);
  });

  it('coalesces concurrent lookups of one name into one query', async () => {
    const { dns, r } = make();
    r.a.set('popular.test', [{ address: '198.51.100.7', ttl: 60 }]);
    let open!: () => void;
    r.gate = new Promise<void>((res) => (open = res));
    const all = Promise.all(Array.from({ length: 20 }, () => dns.resolve('popular.test')));
    await new Promise((res) => setImmediate(res));
    open();
    const answers = await all;
    expect(answers.every((a) => a[0] === '198.51.100.7')).toBe(true);
    expect(r.calls.filter((c) => c === 'A popular.test')).toHaveLength(1);
    expect(r.calls.filter((c) => c === 'AAAA popular.test')).toHaveLength(1);
  });

  it('coalesces concurrent failing lookups too, and every waiter gets the error', async () => {
    const { dns, r } = make();
    let open!: () => void;
    r.gate = new Promise<void>((res) => (open = res));
    const all = Promise.allSettled(Array.from({ length: 5 }, () => dns.resolve('nothere.test')));
    await new Promise((res) => setImmediate(res));
    open();
    const results = await all;
    expect(results.every((x) => x.status === 'rejected' && (x.reason as ProxyError).code === 'DNS_FAILED')).toBe(true);
    expect(r.calls.filter((c) => c === 'A nothere.test')).toHaveLength(1);
  });

  it('orders addresses by family preference', async () => {
    for (const [family, want] of [
      ['ipv4first', ['198.51.100.8', '2001:db8::8']],
      ['ipv6first', ['2001:db8::8', '198.51.100.8']],
      ['ipv4', ['198.51.100.8']],
      ['ipv6', ['2001:db8::8']],
    ] as const) {
      const { dns, r } = make({ family });
      r.a.set('dual.test', [{ address: '198.51.100.8', ttl: 60 }]);
      r.aaaa.set('dual.test', [{ address: '2001:db8::8', ttl: 60 }]);
      expect(await dns.resolve('dual.test'), family).toEqual(want);
    }
  });

  it('the hosts file wins over DNS, case-insensitively and with a trailing dot in the file', async () => {
    const { dns, r } = make({ hostsFile });
    r.a.set('pinned.example.test', [{ address: '198.51.100.9', ttl: 60 }]);
    expect(await dns.resolve('pinned.example.test')).toEqual(['10.1.1.1', '2001:db8::5']);
    expect(await dns.resolve('alias.example.test')).toEqual(['10.1.1.1']);
    expect(await dns.resolve('v4only.test')).toEqual(['192.0.2.9']);
    expect(r.queries('pinned.example.test')).toBe(0);
    expect(r.queries('alias.example.test')).toBe(0);
  });

  it('applies the family preference to hosts-file entries', async () => {
    const { dns } = make({ hostsFile, family: 'ipv6first' });
    expect(await dns.resolve('pinned.example.test')).toEqual(['2001:db8::5', '10.1.1.1']);
  });

  it('falls back to DNS for names not in the hosts file', async () => {
    const { dns, r } = make({ hostsFile });
    r.a.set('other.test', [{ address: '198.51.100.10', ttl: 60 }]);
    expect(await dns.resolve('other.test')).toEqual(['198.51.100.10']);
    expect(r.queries('other.test')).toBeGreaterThan(0);
  });

  it('peek returns a cached answer without querying', async () => {
    const { dns, r } = make();
    expect(dns.peek('peek.test')).toBeUndefined();
    r.a.set('peek.test', [{ address: '198.51.100.11', ttl: 60 }]);
    await dns.resolve('peek.test');
    const n = r.calls.length;
    expect(dns.peek('peek.test')).toEqual(['198.51.100.11']);
    expect(r.calls.length).toBe(n);
  });

  // Regression (test/faults-dns.test.ts): c-ares alone gave up after about twice this.
  it('a lookup that gets no answer fails with DNS_TIMEOUT after timeout × tries, and the failure is cached', async () => {
    const { dns, r } = make({ timeout: 40, tries: 3 });
    r.gate = new Promise(() => {}); // the name server never answers
    const t0 = performance.now();
    const err = await dns.resolve('silent.test').catch((e: unknown) => e as ProxyError);
    const took = performance.now() - t0;
    expect(err).toBeInstanceOf(ProxyError);
    expect((err as ProxyError).code).toBe('DNS_TIMEOUT');
    expect((err as ProxyError).message).toContain('after 120 ms');
    expect(took).toBeGreaterThanOrEqual(110);
    expect(took).toBeLessThan(1000);
    const n = r.calls.length;
    await expect(dns.resolve('silent.test')).rejects.toMatchObject({ code: 'DNS_TIMEOUT' });
    expect(r.calls.length).toBe(n);
  });
});
