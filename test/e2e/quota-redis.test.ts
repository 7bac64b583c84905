import { once } from 'node:events';
import { connect, createServer, type AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { proxyRequest } from '../helpers/pol-client.js';
import { QuotaDir, type QuotaProxy } from '../helpers/quota-proxy.js';
import { rawExchange, statusOf } from '../helpers/raw.js';
import { RedisServer } from './redis-server.js';

/**
 * Quotas shared through Debian's redis-server, started here on a free loopback port
 * (never the system one on 6379) and killed by PID: two egressd instances enforce one
 * quota, and Redis going away fails open or closed as configured, with one log line,
 * and quotas come back when Redis does.
 */

const BODY = 'r'.repeat(600);
let origin: Origin;
let redis: RedisServer;
const dirs: QuotaDir[] = [];
const proxies: QuotaProxy[] = [];
let prefixN = 0;

/** An egressd on the shared Redis; `prefix` separates each test's counters. */
async function proxyOn(prefix: string, quota: Record<string, unknown>): Promise<QuotaProxy> {
  const d = new QuotaDir();
  dirs.push(d);
  const p = await d.start({ quota: { store: 'redis', ...quota, redis: { url: redis.url, prefix, timeout: '300ms', ...(quota.redis as object) } } });
  proxies.push(p);
  return p;
}

const url = (p: string): string => `http://127.0.0.1:${origin.port}${p}`;

beforeAll(async () => {
  redis = await RedisServer.launch();
  origin = await startOrigin((_req, res) => {
    res.writeHead(200, { 'content-length': BODY.length });
    res.end(BODY);
  });
});
afterAll(async () => {
  for (const p of proxies) await p.close();
  await redis?.close();
  await origin?.close();
  for (const d of dirs) d.remove();
});

describe('two egressd instances, one Redis', () => {
  it('share one request-rate bucket', async () => {
    const prefix = `t${++prefixN}:`;
    const q = { profiles: { shared: { rate: '1/m', burst: 3 } }, anonymous: 'shared' };
    const a = await proxyOn(prefix, q);
    const b = await proxyOn(prefix, q);
    const statuses = [];
    for (const [p, path] of [[a, '/r1'], [b, '/r2'], [a, '/r3'], [b, '/r4'], [a, '/r5']] as const) statuses.push((await proxyRequest(p.port, url(path))).status);
    // Three tokens between the two, whichever instance asks.
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const l = await b.access.waitFor((x) => x.url === url('/r4'));
    expect(l).toMatchObject({ error: 'QUOTA_RATE' });
    expect(l.quota).toEqual({ profile: 'shared', hit: 'rate' });
  });

  it('share one volume window: bytes counted on one instance refuse on the other', async () => {
    const prefix = `t${++prefixN}:`;
    const q = { profiles: { vol: { volume: ['1000 per day'] } }, anonymous: 'vol' };
    const a = await proxyOn(prefix, q);
    const b = await proxyOn(prefix, q);
    expect((await proxyRequest(a.port, url('/v1'))).status).toBe(200);
    await a.access.waitFor((x) => x.url === url('/v1'));
    // The INCRBY of /v1 is sent when its response ends; give it a round trip.
    const lb = await waitStatus(b, '/v2', 200);
    expect(lb).toBe(200);
    const bl = await b.access.waitFor((x) => x.url === url('/v2'));
    expect(bl.quota).toEqual({ profile: 'vol', left: 0 });
    expect(await waitStatus(a, '/v3', 403)).toBe(403);
    const r = await proxyRequest(b.port, url('/v4'));
    expect(r.status).toBe(403);
    expect(String(r.headers['x-egressd-error'])).toMatch(/^QUOTA_VOLUME: transfer quota "vol" used up \(1000 per day\); resets at /);
  });
});

describe('tunnels through the shared store', () => {
  it('a tunnel on one instance crosses the volume and is cut; the other instance refuses the next CONNECT', async () => {
    // A TLS-like server that streams 16 KiB every 10 ms until the peer leaves.
    const streamer = createServer((s) => {
      s.on('error', () => {});
      const t = setInterval(() => s.writable && s.write(Buffer.alloc(16 * 1024, 0x62)), 10);
      s.on('close', () => clearInterval(t));
    });
    streamer.listen(0, '127.0.0.1');
    await once(streamer, 'listening');
    const sport = (streamer.address() as AddressInfo).port;
    try {
      const prefix = `t${++prefixN}:`;
      const q = { profiles: { tun: { volume: ['128KiB per day'] } }, anonymous: 'tun', tunnelCheck: '100ms' };
      const mk = async (): Promise<QuotaProxy> => {
        const d = new QuotaDir();
        dirs.push(d);
        const p = await d.start({ proxy: { connectPorts: [sport] }, quota: { store: 'redis', ...q, redis: { url: redis.url, prefix } } });
        proxies.push(p);
        return p;
      };
      const a = await mk();
      const b = await mk();
      const bytes = await new Promise<number>((resolve, reject) => {
        const s = connect(a.port, '127.0.0.1');
        let n = 0;
        const guard = setTimeout(() => (s.destroy(), reject(new Error(`not cut after ${n} bytes`))), 15_000);
        s.on('connect', () => s.write(`CONNECT 127.0.0.1:${sport} HTTP/1.1\r\nHost: 127.0.0.1:${sport}\r\n\r\n`));
        s.on('data', (c: Buffer) => (n += c.length));
        s.on('error', () => {});
        s.on('close', () => (clearTimeout(guard), resolve(n)));
      });
      expect(bytes).toBeGreaterThan(128 * 1024);
      const line = await a.access.waitFor((l) => l.kind === 'connect' && l.error === 'QUOTA_VOLUME');
      expect(line.quota).toEqual({ profile: 'tun', hit: 'volume' });
      const { text } = await rawExchange(b.port, `CONNECT 127.0.0.1:${sport} HTTP/1.1\r\nHost: 127.0.0.1:${sport}\r\n\r\n`);
      expect(statusOf(text)).toBe(403);
      expect(text).toMatch(/x-egressd-error: QUOTA_VOLUME: transfer quota "tun" used up \(128KiB per day\)/);
    } finally {
      streamer.close();
    }
  });
});

/** Retry a request briefly until it gets `want` (counters land asynchronously). */
async function waitStatus(p: QuotaProxy, path: string, want: number): Promise<number> {
  let status = 0;
  for (let i = 0; i < 20; i++) {
    status = (await proxyRequest(p.port, url(`${path}${i ? `?${i}` : ''}`))).status;
    if (status === want) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  return status;
}

describe('Redis going away', () => {
  it('fails open or closed as configured, logs once, and recovers when Redis is back', async () => {
    const open = await proxyOn(`t${++prefixN}:`, { profiles: { p: { rate: 100, volume: ['1GiB per day'] } }, anonymous: 'p', redis: { onError: 'open' } });
    const closed = await proxyOn(`t${++prefixN}:`, { profiles: { p: { rate: 100 } }, anonymous: 'p', redis: { onError: 'closed' } });
    expect((await proxyRequest(open.port, url('/up'))).status).toBe(200);
    expect((await open.access.waitFor((x) => x.url === url('/up'))).quota).toMatchObject({ profile: 'p', tokens: 99 });

    await redis.kill();
    const openStatuses = [];
    for (let i = 0; i < 5; i++) openStatuses.push((await proxyRequest(open.port, url(`/down-open${i}`))).status);
    expect(openStatuses).toEqual([200, 200, 200, 200, 200]);
    const ol = await open.access.waitFor((x) => x.url === url('/down-open4'));
    expect(ol.quota).toEqual({ profile: 'p', unmetered: true });
    const c = await proxyRequest(closed.port, url('/down-closed'));
    expect(c.status).toBe(503);
    expect(c.headers['retry-after']).toBe('1');
    expect(String(c.headers['x-egressd-error'])).toMatch(/^QUOTA_UNAVAILABLE: /);
    expect(await closed.access.waitFor((x) => x.url === url('/down-closed'))).toMatchObject({ error: 'QUOTA_UNAVAILABLE', status: 503 });

    await open.server.waitFor((l) => /quota store redis .* unreachable: failing open/.test(l.msg));
    await closed.server.waitFor((l) => /quota store redis .* unreachable: failing closed/.test(l.msg));
    // Rate-limited: one line for the outage, not one per request or reconnect attempt.
    expect(open.server.lines.filter((l) => /unreachable/.test(l.msg))).toHaveLength(1);

    await redis.start();
    await open.server.waitFor((l) => /quota store redis .* reachable again/.test(l.msg), 10_000);
    await closed.server.waitFor((l) => /reachable again/.test(l.msg), 10_000);
    expect((await proxyRequest(closed.port, url('/back'))).status).toBe(200);
    expect((await closed.access.waitFor((x) => x.url === url('/back'))).quota).toMatchObject({ profile: 'p', tokens: 99 });
  });
});
