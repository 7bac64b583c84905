import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * A parent that closes a kept-alive connection just as the next request goes out on it
 * (RFC 9112 §9.3.1 lets either side close an idle connection): here it drops every
 * second request of a connection unanswered. A replayable request is tried again on the
 * same parent, whose health is not held against it; a request with a body is not.
 */
describe('a parent closing a reused keep-alive connection', () => {
  let parent: Server;
  let parentPort: number;
  const seen: string[] = [];
  let origin: Origin;
  let px: TestProxy;
  beforeAll(async () => {
    origin = await startOrigin((req, res) => res.end(`origin ${req.method} ${req.url}`));
    const perSocket = new WeakMap<Socket, number>();
    parent = createServer((req, res) => {
      const n = (perSocket.get(req.socket) ?? 0) + 1;
      perSocket.set(req.socket, n);
      seen.push(`${req.method} ${req.url} #${n}`);
      if (n === 2) {
        req.socket.destroy();
        return;
      }
      req.resume();
      req.on('end', () => res.end(`parent ${req.method} ${new URL(req.url!).pathname}`));
    });
    await new Promise<void>((r) => parent.listen(0, '127.0.0.1', r));
    parentPort = (parent.address() as AddressInfo).port;
    px = await startTestProxy({ upstream: { default: 'corp', groups: { corp: { health: { check: 'none' }, parents: [`http://127.0.0.1:${parentPort}`] } } } });
  });
  afterAll(async () => {
    await px?.close();
    parent?.close();
    parent?.closeAllConnections();
    await origin?.close();
  });

  it('GET on the reused connection: tried again on a new one, 200, and the parent stays up with no failure', async () => {
    seen.length = 0;
    expect((await proxyRequest(px.port, `${origin.url}/a`)).status).toBe(200);
    const b = await proxyRequest(px.port, `${origin.url}/b`);
    expect(b.status).toBe(200);
    expect(b.body.toString()).toBe('parent GET /b');
    expect(seen).toEqual([`GET ${origin.url}/a #1`, `GET ${origin.url}/b #2`, `GET ${origin.url}/b #1`]);
    const p = px.proxy.runtime.upstream.status()[0]!.parents[0]!;
    expect(p).toMatchObject({ state: 'up', failures: 0 });
  });

  it('POST with a body on the reused connection: not replayed, 502 with the reason', async () => {
    seen.length = 0;
    expect((await proxyRequest(px.port, `${origin.url}/c`)).status).toBe(200);
    const post = await proxyRequest(px.port, `${origin.url}/d`, { method: 'POST', body: 'payload', headers: { 'content-type': 'text/plain' } });
    expect(post.status).toBe(502);
    expect(seen.filter((s) => s.startsWith('POST'))).toEqual([`POST ${origin.url}/d #2`]);
    const line = await px.access.waitFor((l) => l.url === `${origin.url}/d`);
    expect(line).toMatchObject({ status: 502, error: 'UPSTREAM_RESET' });
  });
});
