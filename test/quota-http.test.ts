import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { rawExchange, statusOf } from './helpers/raw.js';
import { nextUtcMidnight, QuotaDir, type QuotaProxy } from './helpers/quota-proxy.js';

/**
 * Quotas on plain HTTP through the real proxy: rate (429 + Retry-After), volume (403
 * block page naming the quota and its reset), concurrency, a policy rule selecting a
 * profile, and the quota field of the access log. All requests come from 127.0.0.1
 * without a user, so they share the anonymous key "ip:127.0.0.1".
 */

const BODY = 'x'.repeat(800);
let origin: Origin;
let release: (() => void) | null = null;
const dirs: QuotaDir[] = [];
let px: QuotaProxy | null = null;

beforeAll(async () => {
  origin = await startOrigin((req, res) => {
    if (req.url?.startsWith('/slow')) {
      // Held until the test lets it go (concurrency).
      release = () => res.end('slow done');
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('slow…');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': BODY.length });
    res.end(BODY);
  });
});
afterEach(async () => {
  release?.();
  release = null;
  await px?.close();
  px = null;
});
afterAll(async () => {
  await origin.close();
  for (const d of dirs) d.remove();
});

async function start(quota: Record<string, unknown>, extra: Record<string, unknown> = {}, policy?: string): Promise<QuotaProxy> {
  const d = new QuotaDir();
  dirs.push(d);
  if (policy) d.write('policy.yaml', policy);
  px = await d.start({ quota, ...(policy ? { policy: { files: ['policy.yaml'], watch: false } } : {}), ...extra }, { 'updates.test': '127.0.0.1', 'site.test': '127.0.0.1' });
  return px;
}
const url = (path: string, host = '127.0.0.1'): string => `http://${host}:${origin.port}${path}`;
const quotaOf = (l: Record<string, unknown>): unknown => l.quota;

describe('request rate', () => {
  it('answers 429 with Retry-After once the burst is spent, without reaching the origin', async () => {
    const p = await start({ profiles: { slow: { rate: '1/m', burst: 2 } }, anonymous: 'slow' });
    const before = origin.requests.length;
    const ok1 = await proxyRequest(p.port, url('/r1'));
    const ok2 = await proxyRequest(p.port, url('/r2'));
    const refused = await proxyRequest(p.port, url('/r3'));
    expect([ok1.status, ok2.status]).toEqual([200, 200]);
    expect(refused.status).toBe(429);
    // One token per minute: the next one is about 60 s away.
    const retry = Number(refused.headers['retry-after']);
    expect(retry).toBeGreaterThanOrEqual(55);
    expect(retry).toBeLessThanOrEqual(60);
    expect(String(refused.headers['x-egressd-error'])).toMatch(/^QUOTA_RATE: request rate quota "slow" exceeded/);
    expect(refused.body).toMatch(/QUOTA_RATE/);
    expect(origin.requests.length - before).toBe(2);

    const l1 = await p.access.waitFor((l) => l.url === url('/r1'));
    expect(quotaOf(l1)).toEqual({ profile: 'slow', tokens: 1 });
    const l3 = await p.access.waitFor((l) => l.url === url('/r3'));
    expect(l3).toMatchObject({ status: 429, error: 'QUOTA_RATE', level: 40 });
    expect(quotaOf(l3)).toEqual({ profile: 'slow', hit: 'rate' });
  });

  it('an Upgrade handshake takes a token too, and is refused with 429 when none is left', async () => {
    const p = await start({ profiles: { one: { rate: '1/m', burst: 1 } }, anonymous: 'one' });
    expect((await proxyRequest(p.port, url('/u1'))).status).toBe(200);
    const { text } = await rawExchange(p.port, `GET ${url('/ws')} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n`);
    expect(statusOf(text)).toBe(429);
    expect(text).toMatch(/\r\nretry-after: \d+\r\n/i);
    const l = await p.access.waitFor((x) => x.url === url('/ws'));
    expect(l).toMatchObject({ kind: 'upgrade', error: 'QUOTA_RATE' });
  });

  it('without any profile the quota field is null and nothing is limited', async () => {
    const p = await start({});
    for (let i = 0; i < 5; i++) expect((await proxyRequest(p.port, url(`/n${i}`))).status).toBe(200);
    const l = await p.access.waitFor((x) => x.url === url('/n4'));
    expect(l.quota).toBeNull();
  });
});

describe('transfer volume', () => {
  it('counts bytes to the client, then answers a 403 page naming the quota and its reset', async () => {
    const p = await start({ profiles: { tiny: { volume: ['1KiB per day'] } }, anonymous: 'tiny' });
    const a = await proxyRequest(p.port, url('/v1'));
    expect(a.status).toBe(200);
    expect((await p.access.waitFor((l) => l.url === url('/v1'))).quota).toEqual({ profile: 'tiny', left: 1024 - 800 });
    // Admitted with 224 bytes left; the whole response still goes through (HTTP is
    // counted when it ends), and the allowance is then used up.
    const b = await proxyRequest(p.port, url('/v2'));
    expect(b.status).toBe(200);
    expect(b.bytes).toBe(800);
    expect((await p.access.waitFor((l) => l.url === url('/v2'))).quota).toEqual({ profile: 'tiny', left: 0 });

    const c = await proxyRequest(p.port, url('/v3'), { headers: { accept: 'text/html' } });
    expect(c.status).toBe(403);
    const reset = nextUtcMidnight();
    expect(String(c.headers['x-egressd-error'])).toContain(`QUOTA_VOLUME: transfer quota "tiny" used up (1KiB per day); resets at ${reset}`);
    expect(c.body).toContain('Your transfer quota is used up');
    expect(c.body).toContain(`resets at ${reset} (${reset.slice(0, 10)} 00:00 UTC)`);
    expect(c.headers['retry-after']).toBeUndefined();
    const l = await p.access.waitFor((x) => x.url === url('/v3'));
    expect(l).toMatchObject({ status: 403, error: 'QUOTA_VOLUME' });
    expect(l.quota).toEqual({ profile: 'tiny', hit: 'volume' });
  });

  it('names the local reset time in the configured time zone', async () => {
    const p = await start({ profiles: { tiny: { volume: ['100 per month'] } }, anonymous: 'tiny', timezone: 'Asia/Tokyo' });
    await proxyRequest(p.port, url('/tz1'));
    const r = await proxyRequest(p.port, url('/tz2'));
    expect(r.status).toBe(403);
    // Tokyo is UTC+9 without DST: the month starts at 15:00 UTC on the last day before.
    const now = new Date(Date.now() + 9 * 3_600_000);
    const resetUtc = new Date(Date.UTC(now.getUTCFullYear(), now.getUTCMonth() + 1, 1) - 9 * 3_600_000).toISOString();
    expect(r.body).toContain(`resets at ${resetUtc}`);
    expect(r.body).toMatch(/\d{4}-\d\d-01 00:00 Asia\/Tokyo/);
  });
});

describe('reload', () => {
  it('keeps the counters across a config reload and applies the new limits', async () => {
    const d = new QuotaDir();
    dirs.push(d);
    const q = { profiles: { tiny: { volume: ['1000 per day'] } }, anonymous: 'tiny' };
    px = await d.start({ quota: q });
    expect((await proxyRequest(px.port, url('/re1'))).status).toBe(200);
    // Same profile, a larger allowance: the 800 bytes already used still count.
    d.writeConfig({ quota: { ...q, profiles: { tiny: { volume: ['2000 per day'] } } } });
    expect(await px.proxy.reload()).toMatchObject({ ok: true });
    expect((await proxyRequest(px.port, url('/re2'))).status).toBe(200);
    expect((await px.access.waitFor((l) => l.url === url('/re2'))).quota).toEqual({ profile: 'tiny', left: 400 });
    // A store change needs a restart, and says so.
    d.writeConfig({ quota: { ...q, store: 'redis' } });
    expect(await px.proxy.reload()).toMatchObject({ ok: true });
    await px.server.waitFor((l) => /changes to .*quota\.store.* take effect at the next restart/.test(l.msg));
    // A policy naming an unknown profile is rejected and the running one stays.
    d.write('policy.yaml', 'version: 1\nrules:\n  - id: default\n    action: allow\n    quota: nope\n');
    d.writeConfig({ quota: q, policy: { files: ['policy.yaml'], watch: false } });
    const r = await px.proxy.reload();
    expect(r.ok).toBe(false);
    expect(r.ok === false && r.problems.join('\n')).toMatch(/policy\.yaml:3:1: rule "default": unknown quota profile "nope"/);
  });
});

describe('concurrency', () => {
  it('refuses a second request while the first is in flight, and admits again after', async () => {
    const p = await start({ profiles: { one: { concurrent: 1 } }, anonymous: 'one' });
    const first = proxyRequest(p.port, url('/slow'));
    await new Promise<void>((r) => {
      const t = setInterval(() => release && (clearInterval(t), r()), 10);
    });
    const second = await proxyRequest(p.port, url('/c2'));
    expect(second.status).toBe(429);
    expect(second.headers['retry-after']).toBe('1');
    expect(String(second.headers['x-egressd-error'])).toMatch(/^QUOTA_CONCURRENT: /);
    release!();
    expect((await first).status).toBe(200);
    await p.access.waitFor((l) => l.url === url('/slow'));
    expect((await proxyRequest(p.port, url('/c3'))).status).toBe(200);
  });
});

describe('profile chosen by a policy rule', () => {
  const POLICY = `version: 1
rules:
  - id: updates
    hosts: [updates.test]
    action: allow
    quota: updates
  - id: default
    action: allow
`;
  it('a rule\'s quota profile replaces the anonymous one and counts separately', async () => {
    const p = await start({ profiles: { tiny: { volume: ['100 per day'] }, updates: { volume: ['1MiB per day'] } }, anonymous: 'tiny' }, {}, POLICY);
    expect((await proxyRequest(p.port, url('/p1', 'site.test'))).status).toBe(200);
    expect((await proxyRequest(p.port, url('/p2', 'site.test'))).status).toBe(403);
    const u = await proxyRequest(p.port, url('/p3', 'updates.test'));
    expect(u.status).toBe(200);
    const l = await p.access.waitFor((x) => x.url === url('/p3', 'updates.test'));
    expect(l.quota).toEqual({ profile: 'updates', left: (1 << 20) - 800 });
    expect((l.decision as { rule: string }).rule).toBe('updates');
  });

  it('a rule naming an unknown profile stops the start with file:line', async () => {
    const d = new QuotaDir();
    dirs.push(d);
    d.write('policy.yaml', POLICY);
    await expect(d.start({ quota: { profiles: { tiny: {} } }, policy: { files: ['policy.yaml'], watch: false } })).rejects.toThrow(/policy\.yaml:3:\d+: rule "updates": unknown quota profile "updates" \(config quota\.profiles: tiny\)/);
  });
});
