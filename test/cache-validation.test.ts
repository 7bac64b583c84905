import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCacheOrigin, viaProxy, type CacheOrigin } from './helpers/cache-origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * Request directives (RFC 9111 §5.2.1), validation (§4.3), stale-while-revalidate and
 * stale-if-error (RFC 5861), serving stale when the origin is unreachable (§4.2.4), and
 * must-revalidate (§5.2.2.2), through the real proxy.
 */
let origin: CacheOrigin;
let px: TestProxy;
let n = 0;
const uniq = (): string => `/v${++n}`;
const url = (p: string): string => `http://127.0.0.1:${origin.port}${p}`;
const get = (p: string, h = {}) => viaProxy(px.port, url(p), h);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  origin = await startCacheOrigin();
  px = await startTestProxy({});
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

/** A response that is stale at once (max-age=0 plus Age) but carries validators. */
const etagged = (extraCc = '') => (req: { headers: Record<string, unknown> }) =>
  req.headers['if-none-match'] === '"v1"'
    ? { status: 304, headers: { etag: '"v1"', 'cache-control': `max-age=60${extraCc}`, 'x-fresh': 'yes' } }
    : { headers: { etag: '"v1"', 'cache-control': `max-age=0${extraCc}`, 'x-fresh': 'no' }, body: 'body-v1' };

describe('request directives (§5.2.1)', () => {
  it('no-cache revalidates a fresh entry with the origin', async () => {
    const p = uniq();
    origin.route(p, (req) => (req.headers['if-none-match'] ? { status: 304, headers: { etag: '"v1"', 'cache-control': 'max-age=60' } } : { headers: { etag: '"v1"', 'cache-control': 'max-age=60' }, body: 'b' }));
    await get(p);
    const b = await get(p, { 'cache-control': 'no-cache' });
    expect(b.status).toBe(200);
    expect(b.body).toBe('b');
    expect(b.headers['x-cache']).toBe('REVALIDATED from egressd');
    expect(origin.last(p)!['if-none-match']).toBe('"v1"');
    expect(origin.count(p)).toBe(2);
  });

  it('Pragma: no-cache without Cache-Control does the same (§5.4)', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=60' }, body: 'b' });
    await get(p);
    await get(p, { pragma: 'no-cache' });
    expect(origin.count(p)).toBe(2);
  });

  it('max-age and min-fresh send a fresh-enough request upstream; max-stale accepts a stale entry', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=100', age: '50' }, body: 'b' });
    await get(p);
    expect((await get(p, { 'cache-control': 'max-age=10' })).headers['x-cache']).toBe('MISS from egressd');
    origin.route(p, { headers: { 'cache-control': 'max-age=100', age: '50' }, body: 'b' });
    expect((await get(p, { 'cache-control': 'min-fresh=80' })).headers['x-cache']).toBe('MISS from egressd');
    expect((await get(p, { 'cache-control': 'min-fresh=10' })).headers['x-cache']).toBe('HIT from egressd');
    const q = uniq();
    origin.route(q, { headers: { 'cache-control': 'max-age=10', age: '30' }, body: 'old' });
    await get(q);
    const s = await get(q, { 'cache-control': 'max-stale=60' });
    expect(s.headers['x-cache']).toBe('STALE from egressd');
    expect(s.body).toBe('old');
    expect(origin.count(q)).toBe(1);
  });

  it('only-if-cached answers 504 when nothing is stored, and the stored response when it is', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=60' }, body: 'b' });
    const miss = await get(p, { 'cache-control': 'only-if-cached' });
    expect(miss.status).toBe(504);
    expect(miss.headers['x-egressd-error']).toMatch(/^CACHE_ONLY_IF_CACHED/);
    expect(origin.count(p)).toBe(0);
    await get(p);
    expect((await get(p, { 'cache-control': 'only-if-cached' })).status).toBe(200);
    const line = await px.access.waitFor((l) => l.url === url(p) && l.status === 504);
    expect(line.error).toBe('CACHE_ONLY_IF_CACHED');
  });
});

describe('validation (§4.3)', () => {
  it('revalidates a stale entry with If-None-Match; the 304 refreshes the stored headers (§4.3.4)', async () => {
    const p = uniq();
    origin.route(p, etagged());
    const a = await get(p);
    expect(a.headers['x-fresh']).toBe('no');
    const b = await get(p);
    expect(b.status).toBe(200);
    expect(b.body).toBe('body-v1');
    expect(b.headers['x-cache']).toBe('REVALIDATED from egressd');
    expect(b.headers['cache-status']).toMatch(/^egressd; fwd=stale; fwd-status=304; ttl=/);
    expect(b.headers['x-fresh']).toBe('yes');
    // Now fresh for 60 s from the 304's headers: a hit.
    const c = await get(p);
    expect(c.headers['x-cache']).toBe('HIT from egressd');
    expect(c.headers['x-fresh']).toBe('yes');
    expect(origin.count(p)).toBe(2);
    const line = await px.access.waitFor((l) => l.url === url(p) && l.cache === 'revalidated');
    expect(line.status).toBe(200);
  });

  it('revalidates with If-Modified-Since when there is only Last-Modified', async () => {
    const p = uniq();
    const lm = new Date(Date.now() - 3600_000).toUTCString();
    origin.route(p, (req) => (req.headers['if-modified-since'] === lm ? { status: 304, headers: { 'cache-control': 'max-age=60' } } : { headers: { 'last-modified': lm, 'cache-control': 'max-age=0' }, body: 'lm' }));
    await get(p);
    const b = await get(p);
    expect(b.headers['x-cache']).toBe('REVALIDATED from egressd');
    expect(b.body).toBe('lm');
  });

  it('replaces the entry when the origin answers 200 to the revalidation', async () => {
    const p = uniq();
    origin.route(p, (_req, k) => ({ headers: { etag: `"v${k}"`, 'cache-control': k === 1 ? 'max-age=0' : 'max-age=60' }, body: `v${k}` }));
    await get(p);
    const b = await get(p);
    expect(b.body).toBe('v2');
    expect(b.headers['x-cache']).toBe('MISS from egressd');
    expect((await get(p)).body).toBe('v2');
    expect(origin.count(p)).toBe(2);
  });

  it("answers the client's own conditional request from a fresh entry with 304 (§4.3.2)", async () => {
    const p = uniq();
    origin.route(p, { headers: { etag: '"e1"', 'cache-control': 'max-age=60', 'content-type': 'text/plain' }, body: 'body' });
    await get(p);
    const c = await get(p, { 'if-none-match': '"e1"' });
    expect(c.status).toBe(304);
    expect(c.body).toBe('');
    expect(c.headers.etag).toBe('"e1"');
    expect(c.headers['x-cache']).toBe('HIT from egressd');
    const d = await get(p, { 'if-none-match': '"other"' });
    expect(d.status).toBe(200);
    expect(d.body).toBe('body');
    expect(origin.count(p)).toBe(1);
  });

  it('must-revalidate: a stale entry is never served without the origin', async () => {
    const p = uniq();
    origin.route(p, { headers: { etag: '"m"', 'cache-control': 'max-age=0, must-revalidate, stale-if-error=600' }, body: 'm' });
    await get(p);
    const b = await get(p, { 'cache-control': 'max-stale' });
    expect(b.headers['x-cache']).not.toBe('STALE from egressd');
    expect(origin.count(p)).toBe(2);
    origin.route(p, { status: 503, body: 'down' });
    expect((await get(p)).status).toBe(503);
  });
});

describe('serving stale (RFC 5861)', () => {
  it('stale-while-revalidate serves the stale entry at once and refreshes it once in the background', async () => {
    const p = uniq();
    origin.route(p, (_req, k) => ({ headers: { 'cache-control': `max-age=${k === 1 ? 1 : 60}, stale-while-revalidate=60` }, body: `gen${k}`, delayMs: k > 1 ? 1500 : 0 }));
    await get(p);
    await sleep(1100);
    const [s1, s2, s3] = await Promise.all([get(p), get(p), get(p)]);
    for (const s of [s1!, s2!, s3!]) {
      expect(s.body).toBe('gen1');
      expect(s.headers['x-cache']).toBe('STALE from egressd');
    }
    // The refresh takes the origin's 1.5 s; stale answers meanwhile start no second one.
    let fresh = await get(p);
    for (let i = 0; i < 60 && fresh.headers['x-cache'] !== 'HIT from egressd'; i++) {
      await sleep(100);
      fresh = await get(p);
    }
    expect(fresh.body).toBe('gen2');
    expect(fresh.headers['x-cache']).toBe('HIT from egressd');
    expect(origin.count(p)).toBe(2);
    const line = await px.access.waitFor((l) => l.url === url(p) && l.cache === 'stale');
    expect(line.status).toBe(200);
  });

  it('stale-if-error serves the stale entry when revalidation gets a 5xx', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=0, stale-if-error=600' }, body: 'keep' });
    await get(p);
    origin.route(p, { status: 502, body: 'bad gateway' });
    const b = await get(p);
    expect(b.status).toBe(200);
    expect(b.body).toBe('keep');
    expect(b.headers['x-cache']).toBe('STALE from egressd');
  });

  it('without stale-if-error the 5xx is passed on', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=0' }, body: 'keep' });
    await get(p);
    origin.route(p, { status: 500, body: 'err' });
    expect((await get(p)).status).toBe(500);
  });
});

describe('origin unreachable (§4.2.4)', () => {
  it('serves stale when the config allows it, and reports the error when it does not', async () => {
    const down = await startCacheOrigin();
    const allow = await startTestProxy({ cache: { staleIfUnreachable: '1h' } });
    try {
      const u = `http://127.0.0.1:${down.port}/gone`;
      down.route('/gone', { headers: { 'cache-control': 'max-age=0' }, body: 'last known' });
      await viaProxy(allow.port, u);
      await viaProxy(px.port, u);
      await down.close();
      const ok = await viaProxy(allow.port, u);
      expect(ok.status).toBe(200);
      expect(ok.body).toBe('last known');
      expect(ok.headers['x-cache']).toBe('STALE from egressd');
      const refused = await viaProxy(px.port, u);
      expect(refused.status).toBe(502);
      expect(refused.headers['x-egressd-error']).toMatch(/^UPSTREAM_REFUSED/);
    } finally {
      await allow.close();
      await down.close().catch(() => {});
    }
  });

  it('answers 504 for a stale must-revalidate response when the origin is unreachable (§5.2.2.2)', async () => {
    const down = await startCacheOrigin();
    const allow = await startTestProxy({ cache: { staleIfUnreachable: '1h' } });
    try {
      const u = `http://127.0.0.1:${down.port}/strict`;
      down.route('/strict', { headers: { 'cache-control': 'max-age=0, must-revalidate', etag: '"s"' }, body: 'strict' });
      await viaProxy(allow.port, u);
      await down.close();
      const r = await viaProxy(allow.port, u);
      expect(r.status).toBe(504);
      expect(r.headers['x-egressd-error']).toMatch(/^CACHE_REVALIDATION_FAILED: .*UPSTREAM_REFUSED/);
      expect(r.body).not.toContain('strict');
    } finally {
      await allow.close();
      await down.close().catch(() => {});
    }
  });
});

describe('HEAD freshens a stored GET (§4.3.5)', () => {
  /** GET stores a stale response (max-age=0, no validators); HEAD answers with `head`. */
  const route = (p: string, head: Record<string, string>): void =>
    origin.route(p, (req) =>
      req.method === 'HEAD'
        ? { headers: head }
        : { headers: { 'cache-control': 'max-age=0', 'content-length': '6', 'x-version': 'get' }, body: 'body-1' },
    );

  it('a 200 to HEAD describing the same representation makes the stored GET fresh with its headers', async () => {
    const p = uniq();
    route(p, { 'cache-control': 'max-age=60', 'content-length': '6', 'x-version': 'head' });
    await get(p);
    const head = await viaProxy(px.port, url(p), {}, 'HEAD');
    expect(head.status).toBe(200);
    expect(origin.count(p)).toBe(2);
    const b = await get(p);
    expect(b.headers['x-cache']).toBe('HIT from egressd');
    expect(b.body).toBe('body-1');
    expect(b.headers['x-version']).toBe('head');
    expect(origin.count(p)).toBe(2);
  });

  it('a 200 to HEAD with another Content-Length invalidates it: the next GET goes to the origin', async () => {
    const p = uniq();
    // Stored fresh this time; the HEAD goes upstream because it asks for no-cache.
    origin.route(p, (req) =>
      req.method === 'HEAD' ? { headers: { 'content-length': '99' } } : { headers: { 'cache-control': 'max-age=60', 'content-length': '6' }, body: 'body-1' },
    );
    await get(p);
    expect((await get(p)).headers['x-cache']).toBe('HIT from egressd');
    await viaProxy(px.port, url(p), { 'cache-control': 'no-cache' }, 'HEAD');
    expect(origin.count(p)).toBe(2);
    const b = await get(p);
    expect(b.headers['x-cache']).toBe('MISS from egressd');
    expect(origin.count(p)).toBe(3);
  });
});
