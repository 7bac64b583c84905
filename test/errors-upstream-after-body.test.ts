import { afterAll, beforeAll, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { startTcpServer, type TcpServer } from './helpers/err-net.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * Regression: an origin that read a whole POST body and then reset the connection was
 * logged as BAD_REQUEST "client aborted the request body" and the client's connection
 * was cut, because a fully read IncomingMessage is destroyed too (autoDestroy). The
 * client must get 502 UPSTREAM_RESET.
 */

let origin: TcpServer;
let px: TestProxy;

beforeAll(async () => {
  origin = await startTcpServer((s) => {
    let seen = '';
    s.on('data', (d: Buffer) => {
      seen += d.toString('latin1');
      if (seen.includes('\r\n\r\npayload')) s.resetAndDestroy();
    });
    s.on('error', () => undefined);
  });
  px = await startTestProxy();
});

afterAll(async () => {
  await px?.close();
  await origin?.close();
});

it('an origin that resets after the whole POST body arrived gives 502 UPSTREAM_RESET, not a cut connection', async () => {
  const agent = new ProxyAgent({ uri: px.url, proxyTunnel: false });
  try {
    const res = await request(`http://127.0.0.1:${origin.port}/upload`, { dispatcher: agent, method: 'POST', body: 'payload' });
    await res.body.text();
    expect(res.statusCode).toBe(502);
    expect(String(res.headers['x-egressd-error'])).toMatch(/^UPSTREAM_RESET/);
  } finally {
    await agent.close();
  }
  const line = await px.access.waitFor((l) => l.url === `http://127.0.0.1:${origin.port}/upload`);
  expect(line.error).toBe('UPSTREAM_RESET');
});
