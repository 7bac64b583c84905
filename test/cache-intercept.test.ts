import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeOriginCa, ORIGIN_NAMES } from './helpers/icp-certs.js';
import { getRequest, RawHttp, tlsThroughProxy } from './helpers/icp-client.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { requestLine, startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import type { Origin } from './helpers/origin.js';

/**
 * Requests decrypted from intercepted tunnels run the same pipeline: they are cached
 * (keyed by their https URL) and shared across tunnels, and private answers are not.
 */
let origin: Origin;
let files: ReturnType<typeof tempFiles>;
let px: IcpProxy;
const counts = new Map<string, number>();

function handler(req: IncomingMessage, res: ServerResponse): void {
  counts.set(req.url!, (counts.get(req.url!) ?? 0) + 1);
  const cc = req.url!.startsWith('/private') ? 'private, max-age=600' : 'max-age=600';
  const body = `for ${req.headers.cookie ?? 'nobody'} ${req.url}`;
  res.writeHead(200, { 'cache-control': cc, 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

beforeAll(async () => {
  const originCa = makeOriginCa();
  const cert = originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] });
  origin = await startHttpsOrigin(cert, 'C', handler);
  files = tempFiles();
  px = await startIcpProxy({ config: { proxy: { connectPorts: [origin.port] }, tls: { upstreamCaFiles: [files.write('origin-ca.pem', originCa.cert)] } } });
});
afterAll(async () => {
  await px?.close();
  await origin?.close();
  files?.remove();
});

/** One user's tunnel: a fresh CONNECT and TLS connection, one request. */
async function inTunnel(path: string, cookie: string) {
  const host = `localhost:${origin.port}`;
  const t = await tlsThroughProxy(px.port, host, { servername: 'localhost', ca: px.caPem });
  try {
    return await new RawHttp(t.tls).request(getRequest(host, path, { cookie }));
  } finally {
    t.tls.destroy();
  }
}

describe('cache inside intercepted tunnels', () => {
  it('a cacheable response fetched in one tunnel is a hit in another', async () => {
    const a = await inTunnel('/shared.css', 'sid=alice');
    const b = await inTunnel('/shared.css', 'sid=bob');
    expect(a.headers['x-cache']).toBe('MISS from egressd');
    expect(b.headers['x-cache']).toBe('HIT from egressd');
    expect(b.body.toString()).toBe('for sid=alice /shared.css');
    expect(counts.get('/shared.css')).toBe(1);
    const line = await requestLine(px, `https://localhost:${origin.port}/shared.css`, (l) => l.cache === 'hit');
    expect(line.tls).toBe('intercepted');
  });

  it('a private response is not given to the user in the next tunnel', async () => {
    const a = await inTunnel('/private/inbox', 'sid=alice');
    const b = await inTunnel('/private/inbox', 'sid=bob');
    expect(a.body.toString()).toBe('for sid=alice /private/inbox');
    expect(b.body.toString()).toBe('for sid=bob /private/inbox');
    expect(counts.get('/private/inbox')).toBe(2);
  });
});
