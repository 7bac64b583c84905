import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCacheOrigin, viaProxy, type CacheOrigin } from './helpers/cache-origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/** Invalidation by unsafe methods (RFC 9111 §4.4) and Range requests (RFC 9110 §14) through the proxy. */
let origin: CacheOrigin;
let px: TestProxy;
let n = 0;
const uniq = (): string => `/i${++n}`;
const url = (p: string): string => `http://127.0.0.1:${origin.port}${p}`;
const get = (p: string, h = {}) => viaProxy(px.port, url(p), h);

beforeAll(async () => {
  origin = await startCacheOrigin();
  px = await startTestProxy({});
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

const cacheable = (body: string) => ({ headers: { 'cache-control': 'max-age=600', etag: '"r1"' }, body });

describe('invalidation (§4.4)', () => {
  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('a successful %s invalidates the target URI', async (method) => {
    const p = uniq();
    origin.route(p, (req) => (req.method === 'GET' ? cacheable('doc') : { status: 204 }));
    await get(p);
    expect((await get(p)).headers['x-cache']).toBe('HIT from egressd');
    const w = await viaProxy(px.port, url(p), { 'content-length': '1' }, method, 'x');
    expect(w.status).toBe(204);
    expect((await get(p)).headers['x-cache']).toBe('MISS from egressd');
  });

  it('invalidates same-origin Location and Content-Location, but not another origin', async () => {
    const list = uniq();
    const item = uniq();
    const post = uniq();
    origin.route(list, cacheable('list'));
    origin.route(item, cacheable('item'));
    await get(list);
    await get(item);
    origin.route(post, { status: 201, headers: { location: item, 'content-location': url(list) } });
    await viaProxy(px.port, url(post), { 'content-length': '0' }, 'POST');
    expect((await get(list)).headers['x-cache']).toBe('MISS from egressd');
    expect((await get(item)).headers['x-cache']).toBe('MISS from egressd');

    const other = await startCacheOrigin();
    try {
      other.route('/x', cacheable('other'));
      const otherUrl = `http://127.0.0.1:${other.port}/x`;
      await viaProxy(px.port, otherUrl);
      const post2 = uniq();
      origin.route(post2, { status: 201, headers: { location: otherUrl } });
      await viaProxy(px.port, url(post2), { 'content-length': '0' }, 'POST');
      expect((await viaProxy(px.port, otherUrl)).headers['x-cache']).toBe('HIT from egressd');
    } finally {
      await other.close();
    }
  });

  it('an error response to an unsafe method invalidates nothing', async () => {
    const p = uniq();
    origin.route(p, (req) => (req.method === 'GET' ? cacheable('doc') : { status: 500 }));
    await get(p);
    await viaProxy(px.port, url(p), { 'content-length': '0' }, 'DELETE');
    expect((await get(p)).headers['x-cache']).toBe('HIT from egressd');
  });
});

describe('Range (RFC 9110 §14)', () => {
  const body = '0123456789abcdef';

  it('serves a single range as 206 from a complete cached body', async () => {
    const p = uniq();
    origin.route(p, cacheable(body));
    await get(p);
    const r = await get(p, { range: 'bytes=2-5' });
    expect(r.status).toBe(206);
    expect(r.body).toBe('2345');
    expect(r.headers['content-range']).toBe(`bytes 2-5/${body.length}`);
    expect(r.headers['content-length']).toBe('4');
    expect(r.headers['x-cache']).toBe('HIT from egressd');
    const suffix = await get(p, { range: 'bytes=-3' });
    expect(suffix.body).toBe('def');
    const bad = await get(p, { range: 'bytes=100-' });
    expect(bad.status).toBe(416);
    expect(bad.headers['content-range']).toBe(`bytes */${body.length}`);
    expect(origin.count(p)).toBe(1);
  });

  it('sends the whole body when If-Range does not match', async () => {
    const p = uniq();
    origin.route(p, cacheable(body));
    await get(p);
    const r = await get(p, { range: 'bytes=0-1', 'if-range': '"other"' });
    expect(r.status).toBe(200);
    expect(r.body).toBe(body);
    expect((await get(p, { range: 'bytes=0-1', 'if-range': '"r1"' })).status).toBe(206);
  });

  it('passes several ranges through to the origin', async () => {
    const p = uniq();
    origin.route(p, cacheable(body));
    await get(p);
    const r = await get(p, { range: 'bytes=0-1,4-5' });
    expect(r.headers['x-cache']).toBe('BYPASS from egressd');
    expect(origin.count(p)).toBe(2);
    expect(origin.last(p)!.range).toBe('bytes=0-1,4-5');
  });

  it('never stores a 206 as a complete response', async () => {
    const p = uniq();
    origin.route(p, (req) =>
      req.headers.range ? { status: 206, headers: { 'cache-control': 'max-age=600', 'content-range': `bytes 0-1/${body.length}` }, body: '01' } : cacheable(body),
    );
    const part = await get(p, { range: 'bytes=0-1' });
    expect(part.status).toBe(206);
    expect(part.headers['cache-status']).toBe('egressd; fwd=uri-miss; detail=partial');
    const full = await get(p);
    expect(full.status).toBe(200);
    expect(full.body).toBe(body);
    expect(full.headers['x-cache']).toBe('MISS from egressd');
  });
});
