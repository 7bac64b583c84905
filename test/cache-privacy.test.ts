import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCacheOrigin, viaProxy, type CacheOrigin } from './helpers/cache-origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * A shared cache must never give one user's private response to another (RFC 9111
 * §3, §3.5, §5.2.2.7). Users are simulated by their credentials (Authorization, a
 * session cookie) on separate connections; the origin answers each with their own data.
 */
let origin: CacheOrigin;
let px: TestProxy;
let n = 0;
const uniq = (): string => `/p${++n}`;
const url = (p: string): string => `http://127.0.0.1:${origin.port}${p}`;

const ALICE = { authorization: 'Bearer alice-token', cookie: 'sid=alice' };
const BOB = { authorization: 'Bearer bob-token', cookie: 'sid=bob' };
const whoOf = (h: Record<string, unknown>): string => String(h.authorization ?? h.cookie ?? 'anonymous').replace(/^(Bearer |sid=)/, '').replace('-token', '');

beforeAll(async () => {
  origin = await startCacheOrigin();
  px = await startTestProxy({});
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

describe('privacy between users', () => {
  it('a response marked private is never served to another user', async () => {
    const p = uniq();
    origin.route(p, (req) => ({ headers: { 'cache-control': 'private, max-age=600' }, body: `account of ${whoOf({ cookie: req.headers.cookie })}` }));
    const a = await viaProxy(px.port, url(p), { cookie: ALICE.cookie });
    const b = await viaProxy(px.port, url(p), { cookie: BOB.cookie });
    const a2 = await viaProxy(px.port, url(p), { cookie: ALICE.cookie });
    expect(a.body).toBe('account of alice');
    expect(b.body).toBe('account of bob');
    expect(a2.body).toBe('account of alice');
    for (const r of [a, b, a2]) expect(r.headers['x-cache']).toBe('MISS from egressd');
    expect(origin.count(p)).toBe(3);
  });

  it('a response to a request with Authorization is not stored without public, s-maxage or must-revalidate', async () => {
    const p = uniq();
    origin.route(p, (req) => ({ headers: { 'cache-control': 'max-age=600' }, body: `inbox of ${whoOf(req.headers)}` }));
    const a = await viaProxy(px.port, url(p), { authorization: ALICE.authorization });
    const b = await viaProxy(px.port, url(p), { authorization: BOB.authorization });
    const anon = await viaProxy(px.port, url(p));
    expect(a.body).toBe('inbox of alice');
    expect(b.body).toBe('inbox of bob');
    expect(anon.body).toBe('inbox of anonymous');
    expect(origin.count(p)).toBe(3);
  });

  it('concurrent requests from different users for a private URL each get their own answer (coalescing falls back)', async () => {
    const p = uniq();
    origin.route(p, (req) => ({ headers: { 'cache-control': 'private, max-age=600' }, body: `for ${whoOf({ cookie: req.headers.cookie })}`, delayMs: 100 }));
    const users = Array.from({ length: 10 }, (_, i) => `user${i}`);
    const got = await Promise.all(users.map((u) => viaProxy(px.port, url(p), { cookie: `sid=${u}` })));
    got.forEach((g, i) => expect(g.body).toBe(`for ${users[i]}`));
    expect(origin.count(p)).toBe(10);
  });

  it('concurrent Authorization requests each get their own answer', async () => {
    const p = uniq();
    origin.route(p, (req) => ({ headers: { 'cache-control': 'max-age=600' }, body: `for ${whoOf(req.headers)}`, delayMs: 100 }));
    const [a, b] = await Promise.all([viaProxy(px.port, url(p), ALICE), viaProxy(px.port, url(p), BOB)]);
    expect(a.body).toBe('for alice');
    expect(b.body).toBe('for bob');
  });

  it('a response the origin marks public is shared, even when it answered Authorization (§3.5)', async () => {
    const p = uniq();
    origin.route(p, (req) => ({ headers: { 'cache-control': 'public, max-age=600' }, body: `logo fetched by ${whoOf(req.headers)}` }));
    await viaProxy(px.port, url(p), { authorization: ALICE.authorization });
    const b = await viaProxy(px.port, url(p), { authorization: BOB.authorization });
    expect(b.headers['x-cache']).toBe('HIT from egressd');
    expect(origin.count(p)).toBe(1);
  });

  it('the cookie a response sets for one user is not replayed to another', async () => {
    const p = uniq();
    origin.route(p, (req) => ({ headers: { 'cache-control': 'max-age=600', 'set-cookie': `sid=${whoOf({ cookie: req.headers.cookie })}-new` }, body: 'welcome' }));
    const a = await viaProxy(px.port, url(p), { cookie: ALICE.cookie });
    const b = await viaProxy(px.port, url(p), { cookie: BOB.cookie });
    expect(a.headers['set-cookie']).toEqual(['sid=alice-new']);
    expect(b.headers['set-cookie']).toEqual(['sid=bob-new']);
  });
});
