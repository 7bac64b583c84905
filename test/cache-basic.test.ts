import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCacheOrigin, viaProxy, type CacheOrigin } from './helpers/cache-origin.js';
import { baseConfig, startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * The cache through the real proxy: hits and misses, freshness sources, Age, X-Cache and
 * Cache-Status, the access-log field, HEAD from a cached GET, Vary, and what is never
 * stored (RFC 9111 §3).
 */
let origin: CacheOrigin;
let px: TestProxy;
let n = 0;
const uniq = (): string => `/b${++n}`;
const url = (p: string): string => `http://127.0.0.1:${origin.port}${p}`;
const get = (p: string, h = {}, method = 'GET') => viaProxy(px.port, url(p), h, method);

beforeAll(async () => {
  origin = await startCacheOrigin();
  px = await startTestProxy({});
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

describe('hits and misses', () => {
  it('stores a max-age response and serves the second request from the cache with Age, X-Cache and Cache-Status', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=60', 'content-type': 'text/plain' }, body: 'hello' });
    const a = await get(p);
    expect(a.status).toBe(200);
    expect(a.headers['x-cache']).toBe('MISS from egressd');
    expect(a.headers['cache-status']).toBe('egressd; fwd=uri-miss; stored');
    const b = await get(p);
    expect(b.status).toBe(200);
    expect(b.body).toBe('hello');
    expect(b.headers['x-cache']).toBe('HIT from egressd');
    const ttl = Number(/^egressd; hit; ttl=(\d+)$/.exec(String(b.headers['cache-status']))![1]);
    expect(ttl).toBeLessThanOrEqual(60);
    expect(ttl).toBeGreaterThan(50);
    expect(b.headers.age).toMatch(/^\d+$/);
    expect(b.headers['content-type']).toBe('text/plain');
    expect(origin.count(p)).toBe(1);
    const line = await px.access.waitFor((l) => l.url === url(p) && l.cache === 'hit');
    expect(line.status).toBe(200);
    expect(line.upstream).toBeNull();
    expect(px.access.lines.filter((l) => l.url === url(p)).map((l) => l.cache)).toEqual(['miss', 'hit']);
  });

  it('answers HEAD from a cached GET without a body', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=60' }, body: 'twelve bytes' });
    await get(p);
    const h = await get(p, {}, 'HEAD');
    expect(h.status).toBe(200);
    expect(h.headers['content-length']).toBe('12');
    expect(h.body).toBe('');
    expect(h.headers['x-cache']).toBe('HIT from egressd');
    expect(origin.count(p)).toBe(1);
  });
});

describe('freshness sources (§4.2.1, §4.2.2) and Age (§4.2.3)', () => {
  it('uses Expires minus Date when there is no max-age', async () => {
    const p = uniq();
    const now = Date.now();
    origin.route(p, { headers: { date: new Date(now).toUTCString(), expires: new Date(now + 120_000).toUTCString() }, body: 'x' });
    await get(p);
    const b = await get(p);
    expect(b.headers['x-cache']).toBe('HIT from egressd');
    expect(Number(/ttl=(-?\d+)/.exec(String(b.headers['cache-status']))![1])).toBeGreaterThan(100);
  });

  it('treats an Expires in the past as stale (revalidates or refetches)', async () => {
    const p = uniq();
    origin.route(p, { headers: { date: new Date().toUTCString(), expires: 'Thu, 01 Jan 1970 00:00:00 GMT' }, body: 'x' });
    await get(p);
    const b = await get(p);
    expect(b.headers['x-cache']).toBe('MISS from egressd');
    expect(origin.count(p)).toBe(2);
  });

  it('gives a heuristic lifetime from Last-Modified to a 200 without explicit freshness', async () => {
    const p = uniq();
    const now = Date.now();
    origin.route(p, { headers: { date: new Date(now).toUTCString(), 'last-modified': new Date(now - 1000_000).toUTCString() }, body: 'x' });
    await get(p);
    const b = await get(p);
    expect(b.headers['x-cache']).toBe('HIT from egressd');
    // 10% of 1000 s
    expect(Number(/ttl=(-?\d+)/.exec(String(b.headers['cache-status']))![1])).toBeGreaterThan(95);
    expect(origin.count(p)).toBe(1);
  });

  it('counts the Age the origin reports, and an old Date, against freshness', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=100', age: '90' }, body: 'x' });
    await get(p);
    const b = await get(p);
    expect(Number(b.headers.age)).toBeGreaterThanOrEqual(90);
    const q = uniq();
    origin.route(q, { headers: { 'cache-control': 'max-age=60', date: new Date(Date.now() - 120_000).toUTCString() }, body: 'x' });
    await get(q);
    expect((await get(q)).headers['x-cache']).toBe('MISS from egressd');
  });

  it('does not let an origin clock ahead of ours make a response younger than zero', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=60', date: new Date(Date.now() + 3600_000).toUTCString() }, body: 'x' });
    await get(p);
    const b = await get(p);
    expect(b.headers['x-cache']).toBe('HIT from egressd');
    // Only our own response delay counts, not the hour the origin's clock is ahead.
    expect(Number(b.headers.age)).toBeLessThan(5);
  });
});

describe('never stored (§3, §3.5)', () => {
  it.each<[string, Record<string, string>, Record<string, string>, string]>([
    ['no-store', { 'cache-control': 'no-store, max-age=60' }, {}, 'no-store'],
    ['private', { 'cache-control': 'private, max-age=60' }, {}, 'private'],
    ['Set-Cookie', { 'cache-control': 'max-age=60', 'set-cookie': 'sid=1' }, {}, 'set-cookie'],
    ['Authorization without public', { 'cache-control': 'max-age=60' }, { authorization: 'Basic dTpw' }, 'authorization'],
    ['request no-store', { 'cache-control': 'max-age=60' }, { 'cache-control': 'no-store' }, 'no-store'],
    ['a 500', { 'cache-control': 'max-age=60' }, {}, 'status'],
  ])('%s', async (name, resHeaders, reqHeaders, detail) => {
    const p = uniq();
    origin.route(p, { status: name === 'a 500' ? 500 : 200, headers: resHeaders, body: 'x' });
    const a = await get(p, reqHeaders);
    expect(a.headers['cache-status']).toBe(`egressd; fwd=uri-miss; detail=${detail}`);
    await get(p, reqHeaders);
    expect(origin.count(p)).toBe(2);
  });

  it('passes Set-Cookie through untouched (nothing is stripped silently)', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=60', 'set-cookie': 'sid=1' }, body: 'x' });
    expect((await get(p)).headers['set-cookie']).toEqual(['sid=1']);
  });
});

describe('Vary (§4.1)', () => {
  it('keeps one variant per normalised request value', async () => {
    const p = uniq();
    origin.route(p, (req) => ({ headers: { 'cache-control': 'max-age=60', vary: 'Accept-Encoding' }, body: `enc=${req.headers['accept-encoding'] ?? '-'}` }));
    expect((await get(p, { 'accept-encoding': 'gzip, br' })).body).toBe('enc=gzip, br');
    expect((await get(p, { 'accept-encoding': 'identity' })).body).toBe('enc=identity');
    const again = await get(p, { 'accept-encoding': 'gzip,br' });
    expect(again.body).toBe('enc=gzip, br');
    expect(again.headers['x-cache']).toBe('HIT from egressd');
    expect((await get(p, { 'accept-encoding': 'identity' })).headers['x-cache']).toBe('HIT from egressd');
    const none = await get(p);
    expect(none.headers['cache-status']).toBe('egressd; fwd=vary-miss; stored');
    expect(origin.count(p)).toBe(3);
  });

  it('never matches Vary: *', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=60', vary: '*' }, body: 'x' });
    await get(p);
    expect((await get(p)).headers['x-cache']).toBe('MISS from egressd');
    expect(origin.count(p)).toBe(2);
  });
});

describe('bypass', () => {
  it('marks a POST as bypass in the headers and the log', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=60' }, body: 'x' });
    const a = await get(p, { 'content-length': '0' }, 'POST');
    expect(a.headers['x-cache']).toBe('BYPASS from egressd');
    expect(a.headers['cache-status']).toBe('egressd; fwd=method');
    const line = await px.access.waitFor((l) => l.url === url(p) && l.method === 'POST');
    expect(line.cache).toBe('bypass');
  });
});


describe('reload', () => {
  it('keeps stored responses and the counters across a config reload', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=600' }, body: 'kept' });
    await get(p);
    const before = px.proxy.runtime.cache!.stats();
    px.writeConfig({ ...baseConfig(), proxy: { adminContact: 'ops@example.test' } });
    expect((await px.proxy.reload()).ok).toBe(true);
    const b = await get(p);
    expect(b.headers['x-cache']).toBe('HIT from egressd');
    const after = px.proxy.runtime.cache!.stats();
    expect(after.hits).toBe(before.hits + 1);
    expect(after.entries).toBe(before.entries);
  });
});

describe('with an undici client', () => {
  it('gets the hit through a ProxyAgent on a keep-alive connection', async () => {
    const { ProxyAgent, request } = await import('undici');
    const agent = new ProxyAgent({ uri: px.url, proxyTunnel: false });
    try {
      const p = uniq();
      origin.route(p, { headers: { 'cache-control': 'max-age=60', etag: '"u"' }, body: 'undici body' });
      const a = await request(url(p), { dispatcher: agent });
      expect(await a.body.text()).toBe('undici body');
      const b = await request(url(p), { dispatcher: agent });
      expect(b.headers['x-cache']).toBe('HIT from egressd');
      expect(await b.body.text()).toBe('undici body');
      const c = await request(url(p), { dispatcher: agent, headers: { 'if-none-match': '"u"' } });
      expect(c.statusCode).toBe(304);
      await c.body.dump();
      expect(origin.count(p)).toBe(1);
    } finally {
      await agent.close();
    }
  });
});

describe('cache.allowSetCookie', () => {
  it('stores a Set-Cookie response, cookie included, only when the config says so', async () => {
    const loose = await startTestProxy({ cache: { allowSetCookie: true } });
    try {
      const p = uniq();
      origin.route(p, { headers: { 'cache-control': 'max-age=60', 'set-cookie': 'lang=en' }, body: 'x' });
      await viaProxy(loose.port, url(p));
      const b = await viaProxy(loose.port, url(p));
      expect(b.headers['x-cache']).toBe('HIT from egressd');
      expect(b.headers['set-cookie']).toEqual(['lang=en']);
      expect(origin.count(p)).toBe(1);
    } finally {
      await loose.close();
    }
  });
});
