import { readFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { Agent, request as httpRequest } from 'node:http';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { F } from '../src/log/fields.js';
import { closedPort, openTunnel, readToEnd } from './helpers/err-net.js';
import { makeOriginCa, ORIGIN_NAMES } from './helpers/icp-certs.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { connectLine, startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import type { LogLine } from './helpers/proxy.js';

/**
 * Whole access-log lines, every field, for the cases an auditor reads: allowed (a new
 * upstream connection, then a reused one), denied, tunnelled, intercepted, cached and
 * failed; the timing parts; chosen header fields with redaction; and every field a
 * line carries is documented in docs/access-log.md.
 */

const POLICY = `version: 1
rules:
  - id: no-blocked
    hosts: [blocked.test]
    action: deny
    reason: Not from here
  - id: default
    action: allow
`;

let plain: Origin;
let tlsOrigin: Origin;
let files: ReturnType<typeof tempFiles>;
let px: IcpProxy;
/** A port allowed for CONNECT, held by a listener until the test that needs it refused closes it. */
let refusing: number;
let holder: Server;
const num = expect.any(Number);
const str = expect.any(String);
const allow = { action: 'allow', rule: 'default', reason: 'allowed by rule "default"', mode: 'enforce' };

beforeAll(async () => {
  files = tempFiles();
  plain = await startOrigin((req, res) => {
    const cacheable = req.url?.startsWith('/cached');
    res.writeHead(200, cacheable ? { 'content-type': 'text/plain', 'cache-control': 'max-age=60' } : { 'content-type': 'text/plain', 'set-cookie': 'sid=s3cr3t' });
    res.end('hello');
  });
  const originCa = makeOriginCa('log-lines origin CA');
  tlsOrigin = await startHttpsOrigin(originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] }), 'S');
  holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  refusing = (holder.address() as AddressInfo).port;
  px = await startIcpProxy({
    policy: POLICY,
    hosts: { 'blocked.test': '127.0.0.1' },
    config: {
      proxy: { connectPorts: [tlsOrigin.port, plain.port, refusing] },
      // Intercept one name only: tun.test is tunnelled untouched.
      tls: { intercept: 'hosts', include: ['icp.test'], upstreamCaFiles: [files.write('origin-ca.pem', originCa.cert)] },
      cache: { enabled: true },
      log: { headers: { request: ['user-agent', 'cookie', 'proxy-authorization'], response: ['content-type', 'set-cookie'] } },
    },
  });
});

afterAll(async () => {
  await px?.close();
  await plain?.close();
  await tlsOrigin?.close();
  files?.remove();
});

/** GET `url` through the proxy in absolute form with node:http; resolves with the status once the body is read. */
function get(url: string, headers: Record<string, string> = {}, agent?: Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: px.port, path: url, headers: { 'user-agent': 'log-lines/1', ...headers }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

const lineFor = (url: string, kind = 'http'): Promise<LogLine> => px.access.waitFor((l) => l.url === url && l.kind === kind);

/** The fields of an ordinary line; each case overrides what differs. */
function line(over: Record<string, unknown>): Record<string, unknown> {
  return {
    level: 30, time: str, msg: 'request', id: str, kind: 'http', mode: 'forward', client: '127.0.0.1', user: null,
    method: 'GET', status: 200, bytesIn: 0, bytesOut: 5, durationMs: num, timing: null, upstream: `127.0.0.1:${plain.port}`,
    error: null, reason: null, tls: 'plain', sni: null, decision: allow, cache: 'miss', quota: null,
    requestHeaders: { 'user-agent': 'log-lines/1' },
    responseHeaders: { 'content-type': 'text/plain', 'set-cookie': '***' },
    ...over,
  };
}

describe('whole lines', () => {
  it('allowed: a new upstream connection has dns, connect and ttfb; the next request on it only ttfb', async () => {
    const first = `http://localhost:${plain.port}/new`;
    expect(await get(first)).toBe(200);
    const a = await lineFor(first);
    expect(a).toEqual(line({ url: first, timing: { dnsMs: num, connectMs: num, ttfbMs: num } }));
    const t = a.timing as Record<string, number>;
    expect(t.dnsMs + t.connectMs + t.ttfbMs).toBeLessThanOrEqual(a.durationMs as number);
    const second = `http://localhost:${plain.port}/reused`;
    expect(await get(second)).toBe(200);
    expect(await lineFor(second)).toEqual(line({ url: second, timing: { ttfbMs: num } }));
  });

  it('an IP literal needs no DNS: timing has connect and ttfb only', async () => {
    const url = `http://127.0.0.1:${plain.port}/literal`;
    expect(await get(url)).toBe(200);
    expect(await lineFor(url)).toEqual(line({ url, timing: { connectMs: num, ttfbMs: num } }));
  });

  it('denied: the decision, no upstream, no timing, no response headers', async () => {
    const url = `http://blocked.test:${plain.port}/x`;
    expect(await get(url)).toBe(403);
    expect(await lineFor(url)).toEqual(
      line({
        url, level: 40, status: 403, bytesOut: 0, upstream: null, cache: null, responseHeaders: undefined,
        error: 'POLICY_DENIED', reason: 'Not from here', decision: { action: 'deny', rule: 'no-blocked', reason: 'Not from here', mode: 'enforce' },
      }),
    );
  });

  it('cached: a hit has no upstream and no timing', async () => {
    const url = `http://localhost:${plain.port}/cached`;
    expect(await get(url)).toBe(200);
    expect((await lineFor(url)).responseHeaders).toEqual({ 'content-type': 'text/plain' });
    const mark = px.access.lines.length;
    expect(await get(url)).toBe(200);
    const hit = await px.access.waitFor((l) => l.url === url && px.access.lines.indexOf(l) >= mark);
    // A hit answers with the stored head: the response fields are the stored ones.
    expect(hit).toEqual(line({ url, cache: 'hit', upstream: null, timing: null, responseHeaders: undefined }));
  });

  it('failed: connection refused is an error line that says how long the connect attempt took (and no cache miss: no response came)', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/`;
    expect(await get(url)).toBe(502);
    expect(await lineFor(url)).toEqual(
      line({ url, level: 50, status: 502, bytesOut: 0, upstream: null, cache: null, responseHeaders: undefined, timing: { connectMs: num }, error: 'UPSTREAM_REFUSED', reason: 'connection refused by the destination (ECONNREFUSED)' }),
    );
  });

  it('failed by name: the lookup and the refused connect both have their time', async () => {
    const url = `http://localhost:${await closedPort()}/`;
    expect(await get(url)).toBe(502);
    expect(await lineFor(url)).toEqual(
      line({ url, level: 50, status: 502, bytesOut: 0, upstream: null, cache: null, responseHeaders: undefined, timing: { dnsMs: num, connectMs: num }, error: 'UPSTREAM_REFUSED', reason: 'connection refused by the destination (ECONNREFUSED)' }),
    );
  });

  it('failed tunnel: a refused CONNECT says how long the lookup and the connect attempt took', async () => {
    await new Promise((r) => holder.close(r));
    const authority = `tun.test:${refusing}`;
    // With interception on, the 200 comes first (the first bytes decide); plain bytes are then tunnelled, and the dial fails.
    const t = await openTunnel(px.port, authority, { extra: `GET / HTTP/1.1\r\nHost: x\r\n\r\n` });
    await readToEnd(t.socket, t.rest);
    expect(await connectLine(px, authority)).toEqual(
      line({
        url: authority, kind: 'connect', msg: 'tunnel', method: 'CONNECT', tls: 'tunnel', sni: null, cache: null, level: 50, status: 200, bytesOut: 0, upstream: null,
        timing: { dnsMs: num, connectMs: num }, error: 'UPSTREAM_REFUSED', reason: 'connection refused by the destination (ECONNREFUSED)', requestHeaders: undefined, responseHeaders: undefined,
      }),
    );
  });

  it('tunnel: a passed-through CONNECT has dns and connect, and its request headers', async () => {
    const authority = `tun.test:${plain.port}`;
    const t = await openTunnel(px.port, authority, { extra: `GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n` });
    expect(t.status).toBe(200);
    await readToEnd(t.socket, t.rest);
    const l = await connectLine(px, authority);
    expect(l).toEqual(
      line({
        url: authority, kind: 'connect', msg: 'tunnel', method: 'CONNECT', tls: 'tunnel', sni: null, cache: null, bytesIn: num, bytesOut: num,
        timing: { dnsMs: num, connectMs: num }, requestHeaders: undefined, responseHeaders: undefined,
      }),
    );
    expect(l.bytesIn as number).toBeGreaterThan(0);
    expect(l.bytesOut as number).toBeGreaterThan(0);
  });

  it('intercepted: the decrypted request has upstream tls; the tunnel line has the client handshake', async () => {
    const agent = new ProxyAgent({ uri: px.url, requestTls: { ca: px.caPem }, headers: { 'user-agent': 'log-lines/1' } });
    try {
      const url = `https://icp.test:${tlsOrigin.port}/inside`;
      const res = await request(url, { dispatcher: agent, headers: { 'user-agent': 'log-lines/1', cookie: 'a=b' } });
      expect(res.statusCode).toBe(200);
      await res.body.text();
      const inner = await lineFor(url);
      expect(inner).toEqual(
        line({
          url, tls: 'intercepted', sni: 'icp.test', upstream: `127.0.0.1:${tlsOrigin.port}`, bytesOut: num, cache: 'miss',
          timing: { dnsMs: num, connectMs: num, tlsMs: num, ttfbMs: num },
          requestHeaders: { 'user-agent': 'log-lines/1', cookie: '***' }, responseHeaders: { 'content-type': 'text/plain' },
        }),
      );
    } finally {
      await agent.close();
    }
    const tunnel = await connectLine(px, `icp.test:${tlsOrigin.port}`);
    expect(tunnel).toEqual(
      line({
        url: `icp.test:${tlsOrigin.port}`, kind: 'connect', msg: 'tunnel', method: 'CONNECT', tls: 'intercepted', sni: 'icp.test', upstream: null, cache: null,
        bytesIn: num, bytesOut: num, timing: { tlsMs: num }, requestHeaders: { 'user-agent': 'log-lines/1' }, responseHeaders: undefined,
      }),
    );
  });
});

describe('failed upstream TLS', () => {
  it('an intercepted request whose origin handshake fails says how long the lookup, the connect and the handshake took', async () => {
    const agent = new ProxyAgent({ uri: px.url, requestTls: { ca: px.caPem } });
    try {
      // The plain origin answers the ClientHello with HTTP: the upstream handshake fails.
      const url = `https://icp.test:${plain.port}/not-tls`;
      const res = await request(url, { dispatcher: agent });
      expect(res.statusCode).toBe(502);
      await res.body.text();
      expect(await lineFor(url)).toMatchObject({ url, tls: 'intercepted', status: 502, upstream: null, timing: { dnsMs: num, connectMs: num, tlsMs: num } });
      expect(Object.keys((await lineFor(url)).timing as object)).toEqual(['dnsMs', 'connectMs', 'tlsMs']);
    } finally {
      await agent.close();
    }
  });
});

describe('log.headers', () => {
  it('credentials are logged by scheme only, whatever the config lists', async () => {
    const url = `http://localhost:${plain.port}/creds`;
    await get(url, { 'proxy-authorization': 'Basic YWxpY2U6aHVudGVyMg==', cookie: 'sid=abc' });
    const l = await lineFor(url);
    expect(l.requestHeaders).toEqual({ 'user-agent': 'log-lines/1', cookie: '***', 'proxy-authorization': 'Basic ***' });
    expect(JSON.stringify(px.access.lines)).not.toContain('YWxpY2U6aHVudGVyMg');
  });
});

describe('docs/access-log.md', () => {
  it('documents every field a line carries, in the Fields table', () => {
    const doc = readFileSync(new URL('../docs/access-log.md', import.meta.url), 'utf8');
    const table = doc.slice(doc.indexOf('## Fields'), doc.indexOf('### `cache`'));
    const documented = new Set([...table.matchAll(/^\| `([A-Za-z]+)` \|/gm)].map((m) => m[1]));
    const seen = new Set(px.access.lines.flatMap((l) => Object.keys(l)));
    for (const name of [...seen, ...Object.values(F)]) expect(documented, `field ${name}`).toContain(name);
  });
});
