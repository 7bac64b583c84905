import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCacheOrigin, viaProxy, type CacheOrigin } from './helpers/cache-origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

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
    expect(b.headers['cache-status']).toMatch(/^egressd; hit; ttl=(59|60)$/);
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
