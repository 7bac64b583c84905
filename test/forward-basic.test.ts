import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { readBody, startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

describe('forwarding absolute-URI HTTP requests', () => {
  let origin: Origin;
  let px: TestProxy;
  beforeAll(async () => {
    origin = await startOrigin(async (req, res) => {
      const body = await readBody(req);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ method: req.method, url: req.url, headers: req.headers, body: body.toString() }));
    });
    px = await startTestProxy();
  });
  afterAll(async () => {
    await px.close();
    await origin.close();
  });

  it('relays a GET with undici ProxyAgent (proxyTunnel: false) and logs one line', async () => {
    const agent = new ProxyAgent({ uri: px.url, proxyTunnel: false, token: 'Basic c2VjcmV0' });
    const res = await request(`${origin.url}/a/b?c=d`, { dispatcher: agent, headers: { 'x-custom': 'yes' } });
    const seen = (await res.body.json()) as { url: string; headers: Record<string, string> };
    expect(res.statusCode).toBe(200);
    expect(seen.url).toBe('/a/b?c=d');
    expect(seen.headers['x-custom']).toBe('yes');
    expect(seen.headers['proxy-authorization']).toBeUndefined();
    expect(seen.headers.via).toBe('1.1 egressd');
    expect(seen.headers.host).toBe(`127.0.0.1:${origin.port}`);
    expect(seen.headers['x-forwarded-for']).toBeUndefined();
    const line = await px.access.waitFor((l) => l.url === `${origin.url}/a/b?c=d`);
    expect(line).toMatchObject({ msg: 'request', method: 'GET', status: 200, client: '127.0.0.1', error: null });
    await agent.close();
  });
});
