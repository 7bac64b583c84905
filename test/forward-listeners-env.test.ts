import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EnvHttpProxyAgent, ProxyAgent, request } from 'undici';
import { echoHandler, viaProxy, type Echo } from './helpers/fwd-echo.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * Listeners (IPv6, several at once) and the ways clients find the proxy: HTTP_PROXY /
 * http_proxy in the environment (curl, undici EnvHttpProxyAgent) and undici's default
 * ProxyAgent, which tunnels http:// through CONNECT.
 */
let origin: Origin;
const closers: (() => Promise<unknown> | void)[] = [];

beforeAll(async () => {
  origin = await startOrigin(echoHandler);
});
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});
afterAll(async () => {
  await origin.close();
});

async function proxy(overrides: Record<string, unknown> = {}): Promise<TestProxy> {
  const px = await startTestProxy(overrides);
  closers.push(() => px.close());
  return px;
}

async function canBindIPv6Loopback(): Promise<boolean> {
  const s = createServer();
  try {
    s.listen(0, '::1');
    await once(s, 'listening');
    return true;
  } catch {
    return false;
  } finally {
    s.close();
  }
}
const ipv6 = await canBindIPv6Loopback();
if (!ipv6) console.warn('forward-listeners-env: ::1 cannot be bound on this host; IPv6 listener tests are skipped');

/** Ports of every "listening on" line of the server log, in order. */
function listeningPorts(px: TestProxy): { address: string; port: number }[] {
  return px.server.lines.filter((l) => String(l.msg).startsWith('listening on')).map((l) => ({ address: String(l.address), port: Number(l.port) }));
}

function curl(args: string[], env: Record<string, string | undefined>): Promise<{ stdout: string; stderr: string }> {
  // Start from an environment without any proxy variables, then add the test's.
  const base: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !/_proxy$/i.test(k)) base[k] = v;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) base[k] = v;
  return new Promise((resolve, reject) =>
    execFile('curl', ['-sS', '-m', '10', ...args], { env: base }, (err, stdout, stderr) => (err ? reject(Object.assign(err, { stderr })) : resolve({ stdout, stderr }))),
  );
}

describe('listeners', () => {
  it.skipIf(!ipv6)('an IPv6 listener on ::1 serves clients that connect over IPv6', async () => {
    const px = await proxy({ listeners: [{ address: '::1', port: 0 }] });
    const [l] = listeningPorts(px);
    expect(l!.address).toBe('::1');
    const r = await viaProxy(px.port, `${origin.url}/v6`, { proxyHost: '::1' });
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body.toString()) as Echo).url).toBe('/v6');
    const line = await px.access.waitFor((x) => x.url === `${origin.url}/v6`);
    expect(line.client).toBe('::1');
  });

  it.skipIf(!ipv6)('the bracketed form "[::1]" is accepted too, and curl -x http://[::1]:PORT works', async () => {
    const px = await proxy({ listeners: [{ address: '[::1]', port: 0 }] });
    const { stdout } = await curl(['-x', `http://[::1]:${px.port}`, `${origin.url}/v6-curl`], {});
    expect((JSON.parse(stdout) as Echo).url).toBe('/v6-curl');
  });

  it.skipIf(!ipv6)('an IPv6 client in xForwardedFor: append mode is reported as ::1', async () => {
    const px = await proxy({ listeners: [{ address: '::1', port: 0 }], proxy: { xForwardedFor: 'append' } });
    const r = await viaProxy(px.port, `${origin.url}/v6-xff`, { proxyHost: '::1' });
    expect((JSON.parse(r.body.toString()) as Echo).headers['x-forwarded-for']).toBe('::1');
  });

  it.skipIf(!ipv6)('an IPv6 literal target http://[::1]:PORT/ reaches an origin on ::1 with Host "[::1]:PORT"', async () => {
    const o6 = await startOrigin(echoHandler, { host: '::1' });
    closers.push(() => o6.close());
    const px = await proxy();
    const r = await viaProxy(px.port, `${o6.url}/v6-origin?x=1`);
    expect(r.status).toBe(200);
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(echo.url).toBe('/v6-origin?x=1');
    expect(echo.headers.host).toBe(`[::1]:${o6.port}`);
    const line = await px.access.waitFor((l) => l.url === `${o6.url}/v6-origin?x=1`);
    expect(line.upstream).toBe(`[::1]:${o6.port}`);
  });

  it('several listeners in one config all forward', async () => {
    const listeners = [
      { address: '127.0.0.1', port: 0 },
      { address: '127.0.0.1', port: 0 },
      ...(ipv6 ? [{ address: '::1', port: 0 }] : []),
    ];
    const px = await proxy({ listeners });
    const bound = listeningPorts(px);
    expect(bound).toHaveLength(listeners.length);
    expect(new Set(bound.map((b) => b.port)).size).toBe(listeners.length);
    for (const [i, b] of bound.entries()) {
      const r = await viaProxy(b.port, `${origin.url}/multi/${i}`, { proxyHost: b.address });
      expect(r.status).toBe(200);
      expect((JSON.parse(r.body.toString()) as Echo).url).toBe(`/multi/${i}`);
      expect(r.headers.via).toBe('1.1 egressd');
    }
  });
});

describe('clients configured through the environment', () => {
  it('curl honours http_proxy (no no_proxy) and sends 127.0.0.1 through the proxy', async () => {
    const px = await proxy();
    const { stdout } = await curl([`${origin.url}/env-curl`], { http_proxy: px.url });
    const echo = JSON.parse(stdout) as Echo;
    expect(echo.headers.via).toBe('1.1 egressd');
    expect(echo.headers['proxy-connection']).toBeUndefined();
    const line = await px.access.waitFor((l) => l.url === `${origin.url}/env-curl`);
    expect(line).toMatchObject({ method: 'GET', status: 200 });
  });

  it('curl ignores upper-case HTTP_PROXY for http:// URLs (httpoxy guard): the docs must say http_proxy', async () => {
    const px = await proxy();
    const { stdout } = await curl([`${origin.url}/env-curl-upper`], { HTTP_PROXY: px.url });
    // Went direct: no Via, and the proxy logged nothing.
    expect((JSON.parse(stdout) as Echo).headers.via).toBeUndefined();
    await new Promise((r) => setTimeout(r, 100));
    expect(px.access.lines.some((l) => l.url === `${origin.url}/env-curl-upper`)).toBe(false);
  });

  it('curl with http_proxy and a POST body', async () => {
    const px = await proxy();
    const { stdout } = await curl(['--data-binary', 'env-body', `${origin.url}/env-post`], { http_proxy: px.url });
    expect(JSON.parse(stdout)).toMatchObject({ method: 'POST', body: 'env-body' });
  });

  it('undici EnvHttpProxyAgent honours HTTP_PROXY (absolute-form, proxyTunnel: false)', async () => {
    const px = await proxy();
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (/_proxy$/i.test(k)) delete process.env[k];
    process.env.HTTP_PROXY = px.url;
    try {
      const agent = new EnvHttpProxyAgent({ proxyTunnel: false } as ConstructorParameters<typeof EnvHttpProxyAgent>[0]);
      closers.push(() => agent.close());
      const res = await request(`${origin.url}/env-undici`, { dispatcher: agent });
      const echo = (await res.body.json()) as Echo;
      expect(echo.headers.via).toBe('1.1 egressd');
      const line = await px.access.waitFor((l) => l.url === `${origin.url}/env-undici`);
      expect(line.kind).toBe('http');
    } finally {
      process.env = saved;
    }
  });

  it('undici EnvHttpProxyAgent with its defaults (CONNECT tunnel for http://) when the origin port is a CONNECT port', async () => {
    const px = await proxy({ proxy: { connectPorts: [origin.port] } });
    const saved = { ...process.env };
    for (const k of Object.keys(process.env)) if (/_proxy$/i.test(k)) delete process.env[k];
    process.env.HTTP_PROXY = px.url;
    try {
      const agent = new EnvHttpProxyAgent();
      const res = await request(`${origin.url}/env-undici-tunnel`, { dispatcher: agent });
      const echo = (await res.body.json()) as Echo;
      expect(echo.url).toBe('/env-undici-tunnel');
      // Inside a tunnel the proxy does not touch the request: no Via.
      expect(echo.headers.via).toBeUndefined();
      await agent.close();
      const line = await px.access.waitFor((l) => l.kind === 'connect' && l.url === `127.0.0.1:${origin.port}`);
      expect(line).toMatchObject({ method: 'CONNECT', status: 200 });
    } finally {
      process.env = saved;
    }
  });

  it('undici ProxyAgent default (tunnel via CONNECT) to an http origin, with connectPorts opened for it', async () => {
    const px = await proxy({ proxy: { connectPorts: [origin.port] } });
    const agent = new ProxyAgent(px.url);
    const bodies: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await request(`${origin.url}/tunnel/${i}`, { dispatcher: agent, method: 'POST', body: `t${i}` });
      const echo = (await res.body.json()) as Echo;
      expect(echo.headers.via).toBeUndefined();
      bodies.push(echo.body);
    }
    expect(bodies).toEqual(['t0', 't1', 't2']);
    await agent.close();
    const line = await px.access.waitFor((l) => l.kind === 'connect' && l.url === `127.0.0.1:${origin.port}`);
    expect(line).toMatchObject({ method: 'CONNECT', status: 200, error: null });
    expect(line.bytesIn).toBeGreaterThan(0);
    expect(line.bytesOut).toBeGreaterThan(0);
    // Three requests, one kept-alive tunnel.
    expect(px.access.lines.filter((l) => l.kind === 'connect')).toHaveLength(1);
  });

  it('undici ProxyAgent default is refused when the origin port is not a CONNECT port (default: 443 only)', async () => {
    const px = await proxy();
    const agent = new ProxyAgent(px.url);
    closers.push(() => agent.close());
    await expect(request(`${origin.url}/tunnel-refused`, { dispatcher: agent })).rejects.toThrow();
    const line = await px.access.waitFor((l) => l.kind === 'connect');
    expect(line).toMatchObject({ status: 403, error: 'PORT_FORBIDDEN' });
  });
});
