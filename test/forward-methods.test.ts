import { Agent as HttpAgent, request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { echoHandler, viaProxy, type Echo } from './helpers/fwd-echo.js';
import { RawConn } from './helpers/fwd-raw-http.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * Forwarding semantics of absolute-URI requests (issue 2, "HTTP forwarding"): methods,
 * body framings both ways, trailers, bodiless responses, HTTP/1.0, pipelining,
 * keep-alive, upstream pooling and Expect: 100-continue.
 */
let origin: Origin;
let px: TestProxy;
let agent: ProxyAgent;
const raws: RawConn[] = [];

beforeAll(async () => {
  origin = await startOrigin(echoHandler);
  px = await startTestProxy();
  agent = new ProxyAgent({ uri: px.url, proxyTunnel: false });
});
afterEach(() => {
  for (const r of raws.splice(0)) r.close();
});
afterAll(async () => {
  await agent.close();
  await px.close();
  await origin.close();
});

async function raw(): Promise<RawConn> {
  const c = await RawConn.open(px.port);
  raws.push(c);
  return c;
}

function absolute(path: string): string {
  return `${origin.url}${path}`;
}

describe('methods', () => {
  const withBody = ['POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND'];
  const methods = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'PROPFIND', 'MKCOL', 'REPORT'];

  it.each(methods)('%s is relayed with undici ProxyAgent (proxyTunnel: false)', async (method) => {
    const body = withBody.includes(method) ? `payload for ${method}` : undefined;
    const res = await request(absolute(`/m/${method}?q=1`), { dispatcher: agent, method: method as 'GET', body });
    const echo = (await res.body.json()) as Echo;
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-echo-method']).toBe(method);
    expect(echo.method).toBe(method);
    expect(echo.url).toBe(`/m/${method}?q=1`);
    expect(echo.body).toBe(body ?? '');
  });

  it.each(methods)('%s is relayed with node:http (absolute-URI path)', async (method) => {
    const body = withBody.includes(method) ? `node payload ${method}` : undefined;
    const r = await viaProxy(px.port, absolute(`/n/${method}`), { method, body });
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(r.status).toBe(200);
    expect(echo.method).toBe(method);
    expect(echo.url).toBe(`/n/${method}`);
    expect(echo.body).toBe(body ?? '');
  });

  it('HEAD gets the headers of the GET and no body (undici)', async () => {
    const res = await request(absolute('/cl?n=4321'), { dispatcher: agent, method: 'HEAD' });
    const body = await res.body.text();
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-length']).toBe('4321');
    expect(body).toBe('');
    expect(origin.requests.at(-1)?.method).toBe('HEAD');
  });

  it('curl -X PROPFIND with a body through -x', async () => {
    const { execFile } = await import('node:child_process');
    const out = await new Promise<string>((resolve, reject) =>
      execFile('curl', ['-sS', '-x', px.url, '-X', 'PROPFIND', '-H', 'Depth: 1', '--data-binary', '<propfind/>', absolute('/dav/')], (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    const echo = JSON.parse(out) as Echo;
    expect(echo).toMatchObject({ method: 'PROPFIND', url: '/dav/', body: '<propfind/>' });
    expect(echo.headers.depth).toBe('1');
  });
});

describe('request bodies', () => {
  const big = Buffer.alloc(300_000, 'xyz').toString('latin1');

  it('Content-Length body arrives intact with its Content-Length (node:http)', async () => {
    const r = await viaProxy(px.port, absolute('/upload'), { method: 'POST', body: big });
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(echo.body.length).toBe(big.length);
    expect(echo.body).toBe(big);
    expect(echo.headers['content-length']).toBe(String(big.length));
    expect(echo.headers['transfer-encoding']).toBeUndefined();
  });

  it('chunked body arrives intact (node:http, no Content-Length)', async () => {
    const r = await viaProxy(px.port, absolute('/upload'), { method: 'PUT', body: big, chunked: true });
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(echo.body).toBe(big);
    // Re-framed by the proxy: exactly one Transfer-Encoding, no invented Content-Length.
    const te = echo.rawHeaders.filter((_, i) => i % 2 === 0 && echo.rawHeaders[i]!.toLowerCase() === 'transfer-encoding');
    expect(te.length).toBeLessThanOrEqual(1);
    expect(echo.headers['content-length'] ?? String(big.length)).toBe(String(big.length));
  });

  it('streamed body from undici (Readable, chunked) arrives intact', async () => {
    const parts = ['one,', 'two,', 'three'];
    const res = await request(absolute('/upload'), { dispatcher: agent, method: 'POST', body: Readable.from(parts.map((p) => Buffer.from(p))) });
    const echo = (await res.body.json()) as Echo;
    expect(echo.body).toBe('one,two,three');
  });

  it('empty POST with Content-Length: 0 is relayed', async () => {
    const r = await viaProxy(px.port, absolute('/upload'), { method: 'POST', body: '' });
    const echo = JSON.parse(r.body.toString()) as Echo;
    expect(r.status).toBe(200);
    expect(echo.body).toBe('');
    expect(echo.method).toBe('POST');
  });
});

describe('response bodies', () => {
  it('Content-Length response keeps its length (raw socket)', async () => {
    const c = await raw();
    c.write(`GET ${absolute('/cl?n=70000')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const [r] = await c.responses(1, ['GET']);
    expect(r!.status).toBe(200);
    expect(r!.headers['content-length']).toBe('70000');
    expect(r!.headers['transfer-encoding']).toBeUndefined();
    expect(r!.body.toString()).toBe('a'.repeat(70000));
  });

  it('chunked response arrives chunked and intact (raw socket)', async () => {
    const c = await raw();
    c.write(`GET ${absolute('/chunked?n=50001')} HTTP/1.1\r\nHost: x\r\n\r\n`);
    const [r] = await c.responses(1, ['GET']);
    expect(r!.status).toBe(200);
    expect(r!.headers['transfer-encoding']).toBe('chunked');
    expect(r!.headers['content-length']).toBeUndefined();
    expect(r!.body.toString()).toBe('b'.repeat(50001));
  });

  it('chunked response through undici', async () => {
    const res = await request(absolute('/chunked?n=12345'), { dispatcher: agent });
    expect(await res.body.text()).toBe('b'.repeat(12345));
  });
});

describe('trailers', () => {
  it('a trailer sent by the origin reaches an undici client', async () => {
    const res = await request(absolute('/trailer'), { dispatcher: agent });
    expect(await res.body.text()).toBe('hello trailers');
    expect(res.trailers['x-checksum']).toBe('abc123');
  });

  it('a trailer sent by the origin reaches a node:http client', async () => {
    const r = await viaProxy(px.port, absolute('/trailer'), { headers: { te: 'trailers' } });
    expect(r.body.toString()).toBe('hello trailers');
    expect(r.trailers['x-checksum']).toBe('abc123');
  });

  it('the trailer is on the wire after the last chunk (raw socket)', async () => {
    const c = await raw();
    c.write(`GET ${absolute('/trailer')} HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n`);
    const [r] = await c.responses(1, ['GET']);
    expect(r!.headers['transfer-encoding']).toBe('chunked');
    expect(r!.body.toString()).toBe('hello trailers');
    expect(r!.trailers).toEqual({ 'x-checksum': 'abc123' });
  });
});

describe('responses without a body', () => {
  it('HEAD, 204 and 304 carry no body: the next pipelined response parses (raw socket)', async () => {
    const c = await raw();
    const reqs: [string, string][] = [
      ['HEAD', '/cl?n=999'],
      ['HEAD', '/chunked?n=999'],
      ['GET', '/status/204'],
      ['GET', '/status/304'],
      ['GET', '/cl?n=5'],
    ];
    c.write(reqs.map(([m, p]) => `${m} ${absolute(p)} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    const rs = await c.responses(reqs.length, reqs.map(([m]) => m));
    expect(rs.map((r) => r.status)).toEqual([200, 200, 204, 304, 200]);
    // The HEAD says how long the GET body would be, and nothing follows it.
    expect(rs[0]!.headers['content-length']).toBe('999');
    expect(rs[2]!.headers['x-status-route']).toBe('204');
    expect(rs[2]!.headers['transfer-encoding']).toBeUndefined();
    expect(rs[3]!.headers.etag).toBe('"v1"');
    expect(rs[3]!.headers['transfer-encoding']).toBeUndefined();
    expect(rs[4]!.body.toString()).toBe('aaaaa');
    // Nothing left over: no stray body bytes (e.g. a "0\r\n\r\n" chunk after a 204).
    await new Promise((r) => setTimeout(r, 100));
    const all = c.received.toString('latin1');
    expect(all.endsWith('aaaaa')).toBe(true);
  });

  it('204 and 304 through undici have empty bodies', async () => {
    for (const s of [204, 304]) {
      const res = await request(absolute(`/status/${s}`), { dispatcher: agent });
      expect(res.statusCode).toBe(s);
      expect(await res.body.text()).toBe('');
    }
  });
});

describe('HTTP/1.0 clients', () => {
  it('gets a complete Content-Length response, then the connection closes', async () => {
    const c = await raw();
    c.write(`GET ${absolute('/cl?n=3000')} HTTP/1.0\r\n\r\n`);
    await c.until(() => c.closed, 5000, 'close after an HTTP/1.0 response');
    const [r] = (await c.responses(1, ['GET']));
    expect(r!.status).toBe(200);
    expect(['1.0', '1.1']).toContain(r!.version);
    expect(r!.body.toString()).toBe('a'.repeat(3000));
  });

  it('never gets chunked coding: a chunked origin response is delimited by close', async () => {
    const c = await raw();
    c.write(`GET ${absolute('/chunked?n=4000')} HTTP/1.0\r\n\r\n`);
    await c.until(() => c.closed, 5000, 'close after an HTTP/1.0 response');
    const [r] = await c.responses(1, ['GET']);
    expect(r!.status).toBe(200);
    expect(r!.headers['transfer-encoding']).toBeUndefined();
    expect(r!.body.toString()).toBe('b'.repeat(4000));
  });

  it('the origin sees HTTP/1.1 (the proxy speaks its own version upstream) and a proper Host', async () => {
    const c = await raw();
    c.write(`GET ${absolute('/v10')} HTTP/1.0\r\n\r\n`);
    await c.until(() => c.closed, 5000, 'close');
    const [r] = await c.responses(1, ['GET']);
    const echo = JSON.parse(r!.body.toString()) as Echo;
    expect(echo.httpVersion).toBe('1.1');
    expect(echo.headers.host).toBe(`127.0.0.1:${origin.port}`);
  });
});

describe('pipelining and keep-alive', () => {
  it('three pipelined GETs in one write are answered in order, even when the first is slowest', async () => {
    const c = await raw();
    const paths = ['/delay?ms=200&id=first', '/delay?ms=0&id=second', '/delay?ms=50&id=third'];
    c.write(paths.map((p) => `GET ${absolute(p)} HTTP/1.1\r\nHost: x\r\n\r\n`).join(''));
    const rs = await c.responses(3, ['GET', 'GET', 'GET']);
    expect(rs.map((r) => r.body.toString())).toEqual(['first', 'second', 'third']);
    expect(c.closed).toBe(false);
  });

  it('pipelined POST with a body followed by a GET', async () => {
    const c = await raw();
    c.write(
      `POST ${absolute('/p1')} HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello` +
        `GET ${absolute('/p2')} HTTP/1.1\r\nHost: x\r\n\r\n`,
    );
    const rs = await c.responses(2, ['POST', 'GET']);
    const e1 = JSON.parse(rs[0]!.body.toString()) as Echo;
    const e2 = JSON.parse(rs[1]!.body.toString()) as Echo;
    expect([e1.method, e1.url, e1.body]).toEqual(['POST', '/p1', 'hello']);
    expect([e2.method, e2.url]).toEqual(['GET', '/p2']);
  });

  it('many requests on one client connection (node:http keep-alive agent): one client socket', async () => {
    const ka = new HttpAgent({ keepAlive: true, maxSockets: 1 });
    const sockets = new Set<Socket>();
    try {
      for (let i = 0; i < 10; i++) {
        const r = await new Promise<IncomingMessage>((resolve, reject) => {
          const req: ClientRequest = httpRequest({ host: '127.0.0.1', port: px.port, path: absolute(`/ka/${i}`), agent: ka });
          req.on('socket', (s: Socket) => sockets.add(s));
          req.on('response', resolve);
          req.on('error', reject);
          req.end();
        });
        const chunks: Buffer[] = [];
        for await (const ch of r) chunks.push(ch as Buffer);
        expect((JSON.parse(Buffer.concat(chunks).toString()) as Echo).url).toBe(`/ka/${i}`);
      }
      expect(sockets.size).toBe(1);
    } finally {
      ka.destroy();
    }
  });

  it('curl reuses one proxy connection for several URLs (num_connects 1, 0, 0)', async () => {
    const { execFile } = await import('node:child_process');
    const urls = [absolute('/c/1'), absolute('/c/2'), absolute('/c/3')];
    const out = await new Promise<string>((resolve, reject) =>
      execFile('curl', ['-sS', '-x', px.url, ...urls.flatMap((u) => ['-o', '/dev/null', '-w', '%{http_code} %{num_connects}\\n', u])], (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    expect(out.trim().split('\n')).toEqual(['200 1', '200 0', '200 0']);
  });
});

describe('upstream pooling', () => {
  it('N sequential requests from one client use one origin connection', async () => {
    const o = await startOrigin(echoHandler);
    try {
      for (let i = 0; i < 8; i++) {
        const res = await request(`${o.url}/pool/${i}`, { dispatcher: agent });
        await res.body.text();
      }
      expect(o.requests.length).toBe(8);
      expect(o.connections).toBe(1);
    } finally {
      await o.close();
    }
  });

  it('requests on separate client connections also share the pooled origin connection', async () => {
    const o = await startOrigin(echoHandler);
    try {
      for (let i = 0; i < 6; i++) {
        const r = await viaProxy(px.port, `${o.url}/pool2/${i}`); // agent: false → a new client connection each
        expect(r.status).toBe(200);
      }
      expect(o.requests.length).toBe(6);
      expect(o.connections).toBe(1);
    } finally {
      await o.close();
    }
  });
});

describe('Expect: 100-continue', () => {
  it('the client gets 100 Continue before sending the body, then the origin response', async () => {
    const payload = 'body sent only after 100';
    const events: string[] = [];
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest({
        host: '127.0.0.1',
        port: px.port,
        method: 'POST',
        path: absolute('/expect'),
        agent: false,
        headers: { expect: '100-continue', 'content-length': Buffer.byteLength(payload), 'content-type': 'text/plain' },
      });
      const timer = setTimeout(() => {
        req.destroy();
        reject(new Error(`no 100 Continue within 3 s (events: ${events.join(',')})`));
      }, 3000);
      req.on('continue', () => {
        events.push('continue');
        clearTimeout(timer);
        req.end(payload);
      });
      req.on('response', (r) => {
        events.push(`response ${r.statusCode}`);
        clearTimeout(timer);
        const chunks: Buffer[] = [];
        r.on('data', (c: Buffer) => chunks.push(c));
        r.on('end', () => resolve({ status: r.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      });
      req.on('error', reject);
      req.flushHeaders();
    });
    expect(events).toEqual(['continue', 'response 200']);
    expect(res.status).toBe(200);
    const echo = JSON.parse(res.body) as Echo;
    expect(echo.body).toBe(payload);
    expect(echo.method).toBe('POST');
  });

  it('curl with Expect: 100-continue on a large upload sees 100 Continue, then the origin response', async () => {
    const { execFile } = await import('node:child_process');
    const body = 'u'.repeat(2 * 1024 * 1024);
    // A long expect100-timeout: if the proxy never sent 100, curl would stall, and -v shows whether it came.
    const { stdout, stderr } = await new Promise<{ stdout: string; stderr: string }>((resolve, reject) => {
      const child = execFile(
        'curl',
        ['-sS', '-v', '-x', px.url, '-H', 'Expect: 100-continue', '--expect100-timeout', '10', '--data-binary', '@-', '-w', '\n%{http_code}', absolute('/curl-expect')],
        { maxBuffer: 16 * 1024 * 1024 },
        (err, out, errOut) => (err ? reject(err) : resolve({ stdout: out, stderr: errOut })),
      );
      child.stdin!.end(body);
    });
    expect(stderr).toMatch(/^< HTTP\/1\.1 100 Continue/m);
    const [json, code] = [stdout.slice(0, stdout.lastIndexOf('\n')), stdout.slice(stdout.lastIndexOf('\n') + 1)];
    expect(code).toBe('200');
    expect((JSON.parse(json) as Echo).body.length).toBe(body.length);
  });
});
