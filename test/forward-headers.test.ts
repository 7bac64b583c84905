import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { echoHandler, viaProxy, type Echo } from './helpers/fwd-echo.js';
import { RawConn } from './helpers/fwd-raw-http.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * Header rules of issue 2 (RFC 9110 §7.6): hop-by-hop removal both ways, Via,
 * X-Forwarded-For modes, Host from the absolute target, Max-Forwards, loop refusal.
 */
let origin: Origin;
const closers: (() => Promise<void> | void)[] = [];

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

function names(raw: string[]): string[] {
  return raw.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
}

async function rawRequest(px: TestProxy, text: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  const c = await RawConn.open(px.port);
  closers.push(() => c.close());
  c.write(text);
  const rs = await c.responses(1, [method]);
  const r = rs.at(-1)!;
  return { status: r.status, headers: r.headers, body: r.body.toString('latin1') };
}

describe('hop-by-hop fields', () => {
  it('are removed from the request, including fields named in Connection', async () => {
    const px = await proxy();
    // Raw bytes: node:http and undici refuse to send some of these themselves.
    const r = await rawRequest(
      px,
      `GET ${origin.url}/hop-req HTTP/1.1\r\n` +
        'Host: x\r\n' +
        'Connection: keep-alive, X-Foo, x-bar\r\n' +
        'X-Foo: secret-foo\r\n' +
        'X-Bar: secret-bar\r\n' +
        'Keep-Alive: timeout=5, max=100\r\n' +
        'TE: trailers, deflate\r\n' +
        'Upgrade: h2c\r\n' +
        'Proxy-Connection: keep-alive\r\n' +
        'Proxy-Authorization: Basic dXNlcjpwYXNz\r\n' +
        'X-End-To-End: kept\r\n' +
        'Authorization: Bearer for-the-origin\r\n' +
        '\r\n',
    );
    expect(r.status).toBe(200);
    const echo = JSON.parse(r.body) as Echo;
    const seen = names(echo.rawHeaders);
    for (const h of ['x-foo', 'x-bar', 'keep-alive', 'te', 'upgrade', 'proxy-connection', 'proxy-authorization']) {
      expect(seen, `${h} must not reach the origin`).not.toContain(h);
    }
    expect(JSON.stringify(echo.rawHeaders)).not.toContain('secret-');
    expect(JSON.stringify(echo.rawHeaders)).not.toContain('dXNlcjpwYXNz');
    // Connection upstream is the proxy's own (keep-alive), never the client's token list.
    expect(echo.headers.connection ?? 'keep-alive').not.toMatch(/x-foo|x-bar/i);
    // End-to-end fields pass, Authorization included (it is for the origin).
    expect(echo.headers['x-end-to-end']).toBe('kept');
    expect(echo.headers.authorization).toBe('Bearer for-the-origin');
  });

  it('a chunked request is re-framed: the client Transfer-Encoding is not copied alongside the proxy’s', async () => {
    const px = await proxy();
    const r = await rawRequest(
      px,
      `POST ${origin.url}/te HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n`,
      'POST',
    );
    const echo = JSON.parse(r.body) as Echo;
    expect(echo.body).toBe('hello world');
    expect(names(echo.rawHeaders).filter((n) => n === 'transfer-encoding').length).toBeLessThanOrEqual(1);
  });

  it('are removed from the response, including fields the origin names in Connection', async () => {
    const px = await proxy();
    const r = await rawRequest(px, `GET ${origin.url}/hop HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok');
    expect(r.headers['x-origin-private']).toBeUndefined();
    expect(r.headers['proxy-connection']).toBeUndefined();
    expect(r.headers['proxy-authenticate']).toBeUndefined();
    expect(r.headers.upgrade).toBeUndefined();
    // node adds its own Keep-Alive for the client hop; the origin's (max=77) must not pass.
    expect(r.headers['keep-alive'] ?? '').not.toContain('max=77');
    expect(r.headers.connection ?? '').not.toMatch(/x-origin-private/i);
    expect(r.headers['x-end-to-end']).toBe('kept');
  });
});

describe('Via', () => {
  it('is added to the request and appended to the response Via', async () => {
    const px = await proxy();
    const r = await viaProxy(px.port, `${origin.url}/via`, { headers: { via: '1.0 corp-gw' } });
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(echo.headers.via).toBe('1.0 corp-gw, 1.1 egressd');
    const hop = await viaProxy(px.port, `${origin.url}/hop`);
    expect(hop.headers.via).toBe('1.1 origin-cache, 1.1 egressd');
    const plain = await viaProxy(px.port, `${origin.url}/cl?n=1`);
    expect(plain.headers.via).toBe('1.1 egressd');
  });

  it('uses the configured proxy name (proxy.name: gw1)', async () => {
    const px = await proxy({ proxy: { name: 'gw1' } });
    const r = await viaProxy(px.port, `${origin.url}/via`);
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(echo.headers.via).toBe('1.1 gw1');
    expect(r.headers.via).toBe('1.1 gw1');
  });

  it('proxy.via: false adds no Via either way', async () => {
    const px = await proxy({ proxy: { via: false } });
    const r = await viaProxy(px.port, `${origin.url}/via`);
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(echo.headers.via).toBeUndefined();
    expect(r.headers.via).toBeUndefined();
    // The origin's own Via still passes; only ours is missing.
    const hop = await viaProxy(px.port, `${origin.url}/hop`);
    expect(hop.headers.via).toBe('1.1 origin-cache');
  });
});

describe('X-Forwarded-For', () => {
  it('off (default): not added, and the client’s own XFF is removed', async () => {
    const px = await proxy();
    const none = JSON.parse((await viaProxy(px.port, `${origin.url}/xff`)).body.toString()) as Echo;
    expect(none.headers['x-forwarded-for']).toBeUndefined();
    const given = JSON.parse((await viaProxy(px.port, `${origin.url}/xff`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).body.toString()) as Echo;
    expect(given.headers['x-forwarded-for']).toBeUndefined();
    expect(JSON.stringify(given.rawHeaders)).not.toContain('203.0.113.9');
  });

  it('keep: the client’s XFF passes unchanged, none is invented', async () => {
    const px = await proxy({ proxy: { xForwardedFor: 'keep' } });
    const given = JSON.parse((await viaProxy(px.port, `${origin.url}/xff`, { headers: { 'x-forwarded-for': '203.0.113.9, 198.51.100.7' } })).body.toString()) as Echo;
    expect(given.headers['x-forwarded-for']).toBe('203.0.113.9, 198.51.100.7');
    const none = JSON.parse((await viaProxy(px.port, `${origin.url}/xff`)).body.toString()) as Echo;
    expect(none.headers['x-forwarded-for']).toBeUndefined();
  });

  it('append: the client address is appended (or becomes the value)', async () => {
    const px = await proxy({ proxy: { xForwardedFor: 'append' } });
    const given = JSON.parse((await viaProxy(px.port, `${origin.url}/xff`, { headers: { 'x-forwarded-for': '203.0.113.9' } })).body.toString()) as Echo;
    expect(given.headers['x-forwarded-for']).toBe('203.0.113.9, 127.0.0.1');
    const none = JSON.parse((await viaProxy(px.port, `${origin.url}/xff`)).body.toString()) as Echo;
    expect(none.headers['x-forwarded-for']).toBe('127.0.0.1');
    // Exactly one XFF field upstream, even when the client sent two.
    const two = await rawRequest(px, `GET ${origin.url}/xff HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 192.0.2.1\r\nX-Forwarded-For: 192.0.2.2\r\n\r\n`);
    const e = JSON.parse(two.body) as Echo;
    expect(names(e.rawHeaders).filter((n) => n === 'x-forwarded-for')).toHaveLength(1);
    expect(e.headers['x-forwarded-for']).toBe('192.0.2.1, 192.0.2.2, 127.0.0.1');
  });
});

describe('Host', () => {
  it('the origin sees the absolute-URI authority, not the Host the client sent (node:http)', async () => {
    const px = await proxy();
    const r = await viaProxy(px.port, `${origin.url}/host`, { headers: { host: 'evil.example:8080' } });
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(echo.headers.host).toBe(`127.0.0.1:${origin.port}`);
    expect(names(echo.rawHeaders).filter((n) => n === 'host')).toHaveLength(1);
    expect(JSON.stringify(echo.rawHeaders)).not.toContain('evil.example');
  });

  it('the same with undici ProxyAgent (proxyTunnel: false) and a Host header override', async () => {
    const px = await proxy();
    const agent = new ProxyAgent({ uri: px.url, proxyTunnel: false });
    closers.push(() => agent.close());
    const res = await request(`${origin.url}/host2`, { dispatcher: agent, headers: { host: 'other.example' } });
    const echo = (await res.body.json()) as Echo;
    expect(echo.headers.host).toBe(`127.0.0.1:${origin.port}`);
  });

  it('a raw request with no Host at all still reaches the origin with the target Host', async () => {
    const px = await proxy();
    const r = await rawRequest(px, `GET ${origin.url}/nohost HTTP/1.0\r\n\r\n`);
    const echo = JSON.parse(r.body) as Echo;
    expect(echo.headers.host).toBe(`127.0.0.1:${origin.port}`);
  });
});

describe('Max-Forwards (RFC 9110 §7.6.2)', () => {
  it('TRACE with Max-Forwards: 0 is answered by the proxy: message/http echo without credentials', async () => {
    const px = await proxy();
    const before = origin.requests.length;
    const r = await viaProxy(px.port, `${origin.url}/trace?x=1`, {
      method: 'TRACE',
      headers: {
        'max-forwards': '0',
        'x-trace-marker': 'marker-42',
        authorization: 'Bearer top-secret',
        'proxy-authorization': 'Basic cHJveHk6c2VjcmV0',
        cookie: 'session=cookie-secret',
      },
    });
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toMatch(/^message\/http/);
    const text = r.body.toString();
    expect(text.startsWith(`TRACE ${origin.url}/trace?x=1 HTTP/1.1\r\n`)).toBe(true);
    expect(text).toMatch(/^x-trace-marker: marker-42\r$/im);
    expect(text).toMatch(/^max-forwards: 0\r$/im);
    expect(text).not.toMatch(/top-secret|cHJveHk6c2VjcmV0|cookie-secret/);
    expect(text).not.toMatch(/^(authorization|proxy-authorization|cookie):/im);
    expect(origin.requests.length).toBe(before);
    const line = await px.access.waitFor((l) => l.method === 'TRACE');
    expect(line.status).toBe(200);
    expect(line.upstream).toBeNull();
  });

  it('OPTIONS with Max-Forwards: 0 is answered by the proxy, not forwarded', async () => {
    const px = await proxy();
    const before = origin.requests.length;
    const r = await viaProxy(px.port, `${origin.url}/opts`, { method: 'OPTIONS', headers: { 'max-forwards': '0' } });
    expect(r.status).toBe(200);
    expect(r.headers.allow).toBeDefined();
    expect(r.headers['x-echo-method']).toBeUndefined();
    expect(origin.requests.length).toBe(before);
  });

  it.each(['TRACE', 'OPTIONS'])('%s with Max-Forwards: 2 is forwarded with 1', async (method) => {
    const px = await proxy();
    const before = origin.requests.length;
    const r = await viaProxy(px.port, `${origin.url}/mf`, { method, headers: { 'max-forwards': '2' } });
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(echo.method).toBe(method);
    expect(echo.headers['max-forwards']).toBe('1');
    expect(origin.requests.length).toBe(before + 1);
  });

  it('other methods ignore Max-Forwards: a GET with 0 is forwarded unchanged', async () => {
    const px = await proxy();
    const r = await viaProxy(px.port, `${origin.url}/mf-get`, { headers: { 'max-forwards': '0' } });
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(echo.method).toBe('GET');
    expect(echo.headers['max-forwards']).toBe('0');
  });
});

describe('forwarding loops (Via already names this proxy)', () => {
  it.each([['1.1 egressd'], ['1.0 corp-gw, 1.1 egressd (egressd/0.1)'], ['1.1 EGRESSD']])('Via: %s → 508 LOOP_DETECTED, not forwarded', async (via) => {
    const px = await proxy();
    const before = origin.requests.length;
    const r = await viaProxy(px.port, `${origin.url}/loop`, { headers: { via } });
    expect(r.status).toBe(508);
    expect(r.headers['x-egressd-error']).toMatch(/^LOOP_DETECTED: /);
    expect(origin.requests.length).toBe(before);
    const line = await px.access.waitFor((l) => l.url === `${origin.url}/loop`);
    expect(line).toMatchObject({ status: 508, error: 'LOOP_DETECTED' });
  });

  it('a Via naming another proxy is not a loop; with proxy.name gw1, "1.1 egressd" passes and "1.1 gw1" loops', async () => {
    const px = await proxy({ proxy: { name: 'gw1' } });
    const ok = await viaProxy(px.port, `${origin.url}/loop-ok`, { headers: { via: '1.1 egressd' } });
    expect(ok.status).toBe(200);
    expect((JSON.parse(ok.body.toString()) as Echo).headers.via).toBe('1.1 egressd, 1.1 gw1');
    const loop = await viaProxy(px.port, `${origin.url}/loop-gw1`, { headers: { via: '1.1 gw1' } });
    expect(loop.status).toBe(508);
    expect(loop.headers['x-egressd-error']).toMatch(/^LOOP_DETECTED: /);
  });

  it('undici client gets the 508 too', async () => {
    const px = await proxy();
    const agent = new ProxyAgent({ uri: px.url, proxyTunnel: false });
    closers.push(() => agent.close());
    const res = await request(`${origin.url}/loop-undici`, { dispatcher: agent, headers: { via: '1.1 egressd' } });
    await res.body.text();
    expect(res.statusCode).toBe(508);
    expect(String(res.headers['x-egressd-error'])).toMatch(/^LOOP_DETECTED/);
  });
});
