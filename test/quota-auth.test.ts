import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { basic, htpasswd } from './helpers/auth-proxy.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { QuotaDir, type QuotaProxy } from './helpers/quota-proxy.js';

/**
 * Quotas by authenticated identity (issue 5): a user's own profile, a group's profile,
 * counters kept apart per user although every request comes from 127.0.0.1, and the
 * access log naming the user and the profile.
 */

let origin: Origin;
const dirs: QuotaDir[] = [];
let px: QuotaProxy | null = null;

beforeAll(async () => {
  origin = await startOrigin((_q, r) => {
    r.writeHead(200, { 'content-length': 2 });
    r.end('ok');
  });
});
afterEach(async () => {
  await px?.close();
  px = null;
});
afterAll(async () => {
  await origin.close();
  for (const d of dirs) d.remove();
});

async function start(): Promise<QuotaProxy> {
  const d = new QuotaDir();
  dirs.push(d);
  d.write('users', htpasswd({ alice: 'a-secret', bob: 'b-secret', carol: 'c-secret' }));
  px = await d.start({
    auth: { required: true, users: 'users', groups: { interns: ['carol'] } },
    quota: {
      profiles: { tight: { rate: '1/m', burst: 2 }, loose: { rate: '600/m', burst: 100 }, interns: { rate: '1/m', burst: 1 } },
      users: { alice: 'tight' },
      groups: { interns: 'interns' },
      default: 'loose',
    },
  });
  return px;
}

const get = (p: QuotaProxy, user: string, pw: string, path: string) =>
  proxyRequest(p.port, `http://127.0.0.1:${origin.port}${path}`, { headers: { 'proxy-authorization': basic(user, pw) } });

describe('quotas per authenticated user', () => {
  it("a user's own profile limits that user only; others from the same address keep theirs", async () => {
    const p = await start();
    expect((await get(p, 'alice', 'a-secret', '/a1')).status).toBe(200);
    expect((await get(p, 'alice', 'a-secret', '/a2')).status).toBe(200);
    const refused = await get(p, 'alice', 'a-secret', '/a3');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
    // bob (default profile "loose") is not affected by alice's empty bucket.
    for (let i = 0; i < 5; i++) expect((await get(p, 'bob', 'b-secret', `/b${i}`)).status).toBe(200);
    const line = await p.access.waitFor((l) => l.url === `http://127.0.0.1:${origin.port}/a3`);
    expect(line).toMatchObject({ user: 'alice', error: 'QUOTA_RATE', quota: { profile: 'tight' } });
    const bobLine = await p.access.waitFor((l) => l.url === `http://127.0.0.1:${origin.port}/b4`);
    expect(bobLine).toMatchObject({ user: 'bob', status: 200, quota: { profile: 'loose' } });
  });

  it("a group's profile applies to its members", async () => {
    const p = await start();
    expect((await get(p, 'carol', 'c-secret', '/c1')).status).toBe(200);
    expect((await get(p, 'carol', 'c-secret', '/c2')).status).toBe(429);
    const line = await p.access.waitFor((l) => l.url === `http://127.0.0.1:${origin.port}/c2`);
    expect(line).toMatchObject({ user: 'carol', groups: ['interns'], quota: { profile: 'interns' } });
  });
});
