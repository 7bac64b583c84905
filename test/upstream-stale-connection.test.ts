import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { proxyRequest } from './helpers/pol-client.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * An origin that closes a kept-alive connection just as the next request goes out on it
 * (RFC 9112 §9.3.1 lets either side close an idle connection; a busy origin with a short
 * keep-alive timeout does it all the time): here it drops the second request of every
 * connection, unanswered, or leaves it unanswered. The direct path sends a replayable
 * request again on a new connection, as Squid does; a request with a body, and a
 * request that timed out, get the error.
 */
describe('an origin closing a reused keep-alive connection (direct)', () => {
  let origin: Server;
  let base: string;
  const seen: string[] = [];
  /** What the origin does with the second request of a connection. */
  let second: 'drop' | 'hang' = 'drop';
  let px: TestProxy;
  beforeAll(async () => {
    const perSocket = new WeakMap<Socket, number>();
    origin = createServer((req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      seen.push(`${req.method} ${req.url} #${n}`);
      if (n === 2) {
        if (second === 'drop') req.socket.destroy();
        return;
      }
      req.resume();
      req.on('end', () => res.end(`origin ${req.method} ${req.url}`));
    });
    await new Promise<void>((r) => origin.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(origin.address() as AddressInfo).port}`;
    px = await startTestProxy({ timeouts: { upstreamHeaders: '500ms' } });
  });
  afterAll(async () => {
    await px?.close();
    origin?.close();
    origin?.closeAllConnections();
  });

  async function onReusedConnection(): Promise<void> {
    // A fresh connection for the first request: earlier tests' connections are gone.
    origin.closeAllConnections();
    await new Promise((r) => setTimeout(r, 50));
    seen.length = 0;
  }

  it('GET on the reused connection: sent again on a new one, 200, logged without error', async () => {
    second = 'drop';
    await onReusedConnection();
    expect((await proxyRequest(px.port, `${base}/a`)).status).toBe(200);
    const b = await proxyRequest(px.port, `${base}/b`);
    expect(b.status).toBe(200);
    expect(b.body.toString()).toBe('origin GET /b');
    expect(seen).toEqual(['GET /a #1', 'GET /b #2', 'GET /b #1']);
    const line = await px.access.waitFor((l) => l.url === `${base}/b`);
    expect(line).toMatchObject({ status: 200, error: null });
  });

  it('POST with a body on the reused connection: not replayed, 502 with the reason', async () => {
    second = 'drop';
    await onReusedConnection();
    expect((await proxyRequest(px.port, `${base}/c`)).status).toBe(200);
    const post = await proxyRequest(px.port, `${base}/d`, { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } });
    expect(post.status).toBe(502);
    expect(seen.filter((s) => s.startsWith('POST'))).toEqual(['POST /d #2']);
    const line = await px.access.waitFor((l) => l.url === `${base}/d`);
    expect(line).toMatchObject({ status: 502, error: 'UPSTREAM_RESET' });
  });

  it('GET that times out on the reused connection: not replayed (the origin is slow, not gone), 504', async () => {
    second = 'hang';
    await onReusedConnection();
    expect((await proxyRequest(px.port, `${base}/e`)).status).toBe(200);
    const f = await proxyRequest(px.port, `${base}/f`);
    expect(f.status).toBe(504);
    expect(seen.filter((s) => s.includes('/f'))).toEqual(['GET /f #2']);
  });
});
