import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { curl, headersOf, openTunnel, readBytes, readToEnd } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';
import { rawExchange, statusOf } from './helpers/raw.js';

/** Open a keep-alive connection and complete one request on it, so the proxy surely admitted it. */
async function admitted(port: number, originUrl: string): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  await new Promise<void>((r) => s.once('connect', () => r()));
  s.write(`GET ${originUrl}/hold HTTP/1.1\r\nHost: x\r\n\r\n`);
  const got = await readBytes(s, 12);
  expect(got.toString('latin1')).toMatch(/^HTTP\/1\.1 200/);
  return s;
}

describe('limits.maxConnectionsPerClient', () => {
  let origin: Origin;
  let px: TestProxy;
  const open: Socket[] = [];
  beforeAll(async () => {
    origin = await startOrigin((_req, res) => res.end('ok'));
    px = await startTestProxy({ limits: { maxConnectionsPerClient: 2 } });
  });
  // End (not destroy) and wait for the proxy to close its side too, so the next test
  // starts with the proxy's per-client count back at zero.
  afterEach(async () => {
    await Promise.all(
      open.splice(0).map(
        (s) =>
          new Promise<void>((resolve) => {
            const t = setTimeout(() => {
              s.destroy();
              resolve();
            }, 2000);
            s.once('close', () => {
              clearTimeout(t);
              resolve();
            });
            s.resume();
            s.end();
          }),
      ),
    );
  });
  afterAll(async () => {
    await px.close();
    await origin.close();
  });

  it('answers the third concurrent connection from one client with 503 TOO_MANY_CONNECTIONS', async () => {
    open.push(await admitted(px.port, origin.url), await admitted(px.port, origin.url));
    const url = `${origin.url}/third`;
    const r = await rawExchange(px.port, `GET ${url} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(statusOf(r.text)).toBe(503);
    expect(headersOf(r.text)['x-egressd-error']).toMatch(/^TOO_MANY_CONNECTIONS: /);
    expect(r.closed).toBe(true);
    expect(origin.requests.some((q) => q.url === '/third')).toBe(false);
    const line = await px.access.waitFor((l) => l.url === url);
    expect(line).toMatchObject({ status: 503, error: 'TOO_MANY_CONNECTIONS' });
  });

  it('refuses a CONNECT on the third connection with 503 as well', async () => {
    open.push(await admitted(px.port, origin.url), await admitted(px.port, origin.url));
    const t = await openTunnel(px.port, 'example.com:443');
    expect(t.status).toBe(503);
    expect(headersOf(t.head)['x-egressd-error']).toMatch(/^TOO_MANY_CONNECTIONS: /);
    t.socket.destroy();
  });

  it('admits a new connection again once one of the two closes', async () => {
    const a = await admitted(px.port, origin.url);
    const b = await admitted(px.port, origin.url);
    open.push(b);
    const closed = new Promise((r) => a.once('close', r));
    a.destroy();
    await closed;
    // The proxy side sees the close shortly after.
    let status = 0;
    for (let i = 0; i < 20 && status !== 200; i++) {
      const r = await rawExchange(px.port, `GET ${origin.url}/again HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      status = statusOf(r.text);
      if (status !== 200) await new Promise((res) => setTimeout(res, 25));
    }
    expect(status).toBe(200);
  });
});

describe('limits.maxConnections (total)', () => {
  let origin: Origin;
  let px: TestProxy;
  const open: Socket[] = [];
  beforeAll(async () => {
    origin = await startOrigin((_req, res) => res.end('ok'));
    px = await startTestProxy({ limits: { maxConnections: 2 } });
  });
  afterAll(async () => {
    for (const s of open) s.destroy();
    await px.close();
    await origin.close();
  });

  it('answers connections beyond the total limit with 503 TOO_MANY_CONNECTIONS', async () => {
    open.push(await admitted(px.port, origin.url), await admitted(px.port, origin.url));
    const r = await rawExchange(px.port, `GET ${origin.url}/over HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(statusOf(r.text)).toBe(503);
    expect(headersOf(r.text)['x-egressd-error']).toMatch(/^TOO_MANY_CONNECTIONS: proxy connection limit/);
    expect(origin.requests.some((q) => q.url === '/over')).toBe(false);
  });
});

describe('clients.allow', () => {
  let origin: Origin;
  let px: TestProxy;
  beforeAll(async () => {
    origin = await startOrigin((_req, res) => res.end('ok'));
    px = await startTestProxy({ clients: { allow: ['10.0.0.0/8'] } });
  });
  afterAll(async () => {
    await px.close();
    await origin.close();
  });

  it('refuses an HTTP request from 127.0.0.1 with 403 CLIENT_FORBIDDEN', async () => {
    const r = await curl(['-x', px.url, '-D', '-', '-o', '/dev/null', `${origin.url}/nope`]);
    expect(statusOf(r.stdout)).toBe(403);
    expect(headersOf(r.stdout)['x-egressd-error']).toMatch(/^CLIENT_FORBIDDEN: /);
    expect(origin.requests).toHaveLength(0);
    const line = await px.access.waitFor((l) => l.url === `${origin.url}/nope`);
    expect(line).toMatchObject({ status: 403, error: 'CLIENT_FORBIDDEN', client: '127.0.0.1' });
  });

  it('refuses CONNECT from 127.0.0.1 with 403 CLIENT_FORBIDDEN', async () => {
    const t = await openTunnel(px.port, 'example.com:443');
    expect(t.status).toBe(403);
    expect(headersOf(t.head)['x-egressd-error']).toMatch(/^CLIENT_FORBIDDEN: /);
    const { how } = await readToEnd(t.socket, t.rest);
    expect(how).not.toBe('timeout');
  });
});
