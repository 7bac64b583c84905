import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openTunnel } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { parseProm } from './helpers/prom-text.js';
import { baseConfig, merge, startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * Every route of the admin listener through real sockets: health, readiness (and
 * during a drain), status, dashboard page and data, reload through the API (valid and
 * invalid config), CA and PAC downloads, the token, methods and unknown paths.
 */

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const TOKEN = 'a-long-enough-admin-token';

let dir: string;
let origin: Origin;
let px: TestProxy;
let admin: string;
let over: Record<string, unknown>;

interface Got {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  body: Buffer;
}

async function get(path: string, init: { method?: string; token?: string; base?: string; headers?: Record<string, string> } = {}): Promise<Got> {
  const headers: Record<string, string> = { ...init.headers };
  if (init.token) headers.authorization = `Bearer ${init.token}`;
  const res = await request(`${init.base ?? admin}${path}`, { method: (init.method ?? 'GET') as 'GET', headers });
  const body = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, text: body.toString('utf8'), body };
}
const json = (g: Got): Record<string, unknown> => JSON.parse(g.text) as Record<string, unknown>;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'egressd-admin-api-'));
  origin = await startOrigin((_req, res) => res.end('hello'));
  over = {
    admin: { listen: { address: '127.0.0.1', port: 0 } },
    tls: { intercept: 'all', ca: { dir: join(dir, 'ca') }, serveCa: true, learnAfterRejects: 0 },
    pac: { enabled: true, directDomains: ['intranet.example'] },
    proxy: { connectPorts: [origin.port] },
  };
  px = await startTestProxy(over);
  admin = `http://127.0.0.1:${px.proxy.admin.address!.port}`;
});
afterAll(async () => {
  await px?.close();
  await origin?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('health and readiness', () => {
  it('/healthz answers 200 "ok" (and HEAD without a body)', async () => {
    const g = await get('/healthz');
    expect(g.status).toBe(200);
    expect(g.text).toBe('ok\n');
    expect(g.headers['content-type']).toMatch(/^text\/plain/);
    const h = await get('/healthz', { method: 'HEAD' });
    expect(h.status).toBe(200);
    expect(h.body.length).toBe(0);
  });

  it('/readyz answers 200 once the listeners are bound', async () => {
    const g = await get('/readyz');
    expect(g.status).toBe(200);
    expect(g.text).toBe('ready\n');
  });
});

describe('status', () => {
  it('/api/status reports version, uptime, generation, listeners, cache and the CA fingerprint', async () => {
    const s = json(await get('/api/status'));
    expect(s.version).toBe(VERSION);
    expect(s.pid).toBe(process.pid);
    expect(typeof s.uptimeSeconds).toBe('number');
    expect(Date.parse(s.startedAt as string)).toBeLessThanOrEqual(Date.now());
    expect(s.configFile).toBe(px.configFile);
    expect(s.generation).toBe(px.proxy.runtime.generation);
    expect(s).toMatchObject({ ready: true, draining: false });
    expect(s.listeners).toEqual([{ address: '127.0.0.1', port: px.port, family: 'IPv4', mode: 'forward' }]);
    expect(s.active).toMatchObject({ requests: 0, tunnels: 0 });
    expect(s.parents).toEqual([]);
    expect(s.cache).toMatchObject({ entries: expect.any(Number), hitRatio: expect.any(Number) });
    const pem = readFileSync(join(dir, 'ca', 'ca.pem'), 'utf8');
    const cert = new X509Certificate(pem);
    expect(s.interception).toMatchObject({ caSha256: cert.fingerprint256, caSubject: expect.stringContaining('egressd') });
  });
});

describe('downloads', () => {
  it('serves the interception CA as PEM and DER', async () => {
    const pem = readFileSync(join(dir, 'ca', 'ca.pem'), 'utf8');
    const crt = await get('/egressd-ca.crt');
    expect(crt.status).toBe(200);
    expect(crt.headers['content-type']).toBe('application/x-x509-ca-cert');
    expect(new X509Certificate(crt.text).fingerprint256).toBe(new X509Certificate(pem).fingerprint256);
    const der = await get('/egressd-ca.der');
    expect(der.status).toBe(200);
    expect(der.body.equals(new X509Certificate(pem).raw)).toBe(true);
  });

  it('serves the PAC file naming the forward listener, not the admin address', async () => {
    const g = await get('/proxy.pac');
    expect(g.status).toBe(200);
    expect(g.headers['content-type']).toBe('application/x-ns-proxy-autoconfig');
    expect(g.text).toContain(`PROXY 127.0.0.1:${px.port}`);
    expect(g.text).toContain('intranet.example');
    expect(g.text).not.toContain(`:${px.proxy.admin.address!.port}`);
  });
});

describe('interception counters', () => {
  it('a leaf issued for a decrypted tunnel shows in /metrics and /api/status', async () => {
    const before = parseProm((await get('/metrics')).text).value('egressd_certificates_issued_total');
    expect(before).toBe(0);
    const t = await openTunnel(px.port, `127.0.0.1:${origin.port}`);
    expect(t.status).toBe(200);
    const tls = tlsConnect({ socket: t.socket, servername: 'leaf.test', ca: readFileSync(join(dir, 'ca', 'ca.pem'), 'utf8') });
    tls.on('error', () => {});
    await once(tls, 'secureConnect');
    expect(tls.getPeerX509Certificate()?.subjectAltName).toContain('DNS:leaf.test');
    tls.destroy();
    const m = parseProm((await get('/metrics')).text);
    expect(m.value('egressd_certificates_issued_total')).toBe(1);
    const s = json(await get('/api/status'));
    expect((s.interception as { leaves: { issued: number } }).leaves.issued).toBe(1);
  });
});

describe('dashboard', () => {
  it('GET / is one self-contained HTML page', async () => {
    const g = await get('/');
    expect(g.status).toBe(200);
    expect(g.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(g.text).toContain('id="rate-chart"');
    expect(g.text).toContain('/api/dashboard');
    expect(g.text).toMatch(/<script>/);
    // No external assets: no src/href to anything, no stylesheet links.
    expect(g.text).not.toMatch(/\b(src|href)=["']?(https?:)?\/\//i);
    expect(g.text).not.toMatch(/<link\b/i);
  });

  it('/api/dashboard has the 10 s series and counts a request through the proxy', async () => {
    const before = json(await get('/api/dashboard'));
    expect(before).toMatchObject({ bucketSeconds: 10, windowSeconds: 300 });
    expect(before.series).toHaveLength(30);
    const r = await proxyRequest(px.port, `${origin.url}/dash`);
    expect(r.status).toBe(200);
    await px.access.waitFor((l) => l.url === `${origin.url}/dash`);
    const after = json(await get('/api/dashboard'));
    const t0 = before.totals as { requests: number };
    const t1 = after.totals as { requests: number };
    expect(t1.requests).toBe(t0.requests + 1);
    expect(after.topDestinations).toContainEqual(expect.objectContaining({ host: '127.0.0.1' }));
    expect(after.topUsers).toContainEqual(expect.objectContaining({ user: '(anonymous 127.0.0.1)' }));
    const series = after.series as { requests: number }[];
    expect(series.reduce((a, p) => a + p.requests, 0)).toBe(t1.requests);
  });
});

describe('reload through the API', () => {
  it('a valid config is swapped in: 200 with the new generation', async () => {
    const gen = px.proxy.runtime.generation;
    px.writeConfig(merge(merge(baseConfig(), over), { proxy: { adminContact: 'ops@example.test' } }));
    const g = await get('/api/reload', { method: 'POST' });
    expect(g.status).toBe(200);
    expect(json(g)).toEqual({ ok: true, generation: gen + 1 });
    expect(px.proxy.runtime.config.proxy.adminContact).toBe('ops@example.test');
    expect(json(await get('/api/status')).generation).toBe(gen + 1);
  });

  it('an invalid config is refused: 422 with file:line:col problems, the old config stays', async () => {
    const gen = px.proxy.runtime.generation;
    px.writeConfig(merge(merge(baseConfig(), over), { proxy: { nosuchkey: 1 } }));
    const g = await get('/api/reload', { method: 'POST' });
    expect(g.status).toBe(422);
    const body = json(g);
    expect(body).toMatchObject({ ok: false, error: 'RELOAD_REJECTED' });
    const problems = body.problems as string[];
    expect(problems.length).toBeGreaterThan(0);
    expect(problems[0]).toMatch(/egressd\.yaml:\d+:\d+: /);
    expect(px.proxy.runtime.generation).toBe(gen);
    expect(json(await get('/api/status')).generation).toBe(gen);
    px.writeConfig(merge(baseConfig(), over));
  });

  it('refuses a cross-site POST (a web page in the admin\'s browser)', async () => {
    const g = await get('/api/reload', { method: 'POST', headers: { origin: 'http://evil.example' } });
    expect(g.status).toBe(403);
    expect(json(g).error).toBe('CROSS_SITE');
  });
});

describe('methods and paths', () => {
  it.each([
    ['GET', '/api/reload', 405, 'POST'],
    ['POST', '/metrics', 405, 'GET, HEAD'],
    ['DELETE', '/api/status', 405, 'GET, HEAD'],
  ])('%s %s → %i', async (method, path, status, allow) => {
    const g = await get(path, { method });
    expect(g.status).toBe(status);
    expect(json(g).error).toBe('METHOD_NOT_ALLOWED');
    expect(g.headers.allow).toBe(allow);
  });

  it('answers 404 for an unknown path', async () => {
    const g = await get('/nothing-here');
    expect(g.status).toBe(404);
    expect(json(g).error).toBe('NOT_FOUND');
  });
});

describe('with a token', () => {
  let guarded: TestProxy;
  let base: string;
  beforeAll(async () => {
    guarded = await startTestProxy({ admin: { listen: { address: '127.0.0.1', port: 0 }, token: TOKEN } });
    base = `http://127.0.0.1:${guarded.proxy.admin.address!.port}`;
  });
  afterAll(async () => {
    await guarded?.close();
  });

  it.each(['/healthz', '/readyz', '/metrics', '/api/status', '/api/dashboard'])('%s needs the token: 401 without or with a wrong one', async (path) => {
    const none = await get(path, { base });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toBe('Bearer');
    expect((await get(path, { base, token: 'wrong-token-of-some-length' })).status).toBe(401);
    expect((await get(path, { base, token: TOKEN })).status).toBe(200);
  });

  it('POST /api/reload needs the token too', async () => {
    expect((await get('/api/reload', { base, method: 'POST' })).status).toBe(401);
  });

  it('the dashboard shell is served without it (it holds no data)', async () => {
    const g = await get('/', { base });
    expect(g.status).toBe(200);
    expect(g.text).toContain('token-form');
  });

  it('CA and PAC answer 404 when interception and PAC are off', async () => {
    expect((await get('/egressd-ca.crt', { base, token: TOKEN })).status).toBe(404);
    expect((await get('/proxy.pac', { base, token: TOKEN })).status).toBe(404);
  });
});

describe('readiness during a drain', () => {
  it('/readyz answers 503 while the proxy drains, /healthz stays 200', async () => {
    const held: { release?: () => void } = {};
    const slow = await startOrigin((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.write('slow…');
      held.release = () => res.end('done');
    });
    const d = await startTestProxy({ admin: { listen: { address: '127.0.0.1', port: 0 } } });
    const base = `http://127.0.0.1:${d.proxy.admin.address!.port}`;
    let closing: Promise<void> | null = null;
    try {
      const pending = proxyRequest(d.port, `${slow.url}/held`);
      const t0 = Date.now();
      while (!held.release && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 10));
      expect(held.release, 'the origin never saw the request').toBeDefined();
      expect((await get('/readyz', { base })).status).toBe(200);
      closing = d.close(5000);
      const r = await get('/readyz', { base });
      expect(r.status).toBe(503);
      expect(r.text).toBe('not ready: draining\n');
      expect((await get('/healthz', { base })).status).toBe(200);
      expect(json(await get('/api/status', { base }))).toMatchObject({ ready: false, draining: true, active: { requests: 1 } });
      held.release!();
      expect((await pending).status).toBe(200);
      await closing;
    } finally {
      held.release?.();
      await (closing ?? d.close(0)).catch(() => {});
      await slow.close();
    }
  });
});
