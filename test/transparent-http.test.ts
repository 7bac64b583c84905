import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl } from './helpers/err-net.js';
import { getRequest } from './helpers/icp-client.js';
import { lineAfter, startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';
import { httpTo, sendUntilClosed } from './helpers/tp-client.js';

/**
 * Plain HTTP to a transparent listener, as a client whose port-80 traffic the firewall
 * redirected sends it: origin-form requests with a Host header, straight to the port.
 * The target is rebuilt from Host (port: the Host's, else httpPort) and runs the normal
 * exchange pipeline — identity by source address, policy, log with mode: transparent.
 * The reserved onboarding name is answered by egressd itself, on both listener kinds.
 */

const POLICY = `version: 1
rules:
  - id: no-evil
    hosts: [excluded.test]
    action: deny
    reason: Not from the lab network
  - id: default
    action: allow
`;

const echo = (name: string) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
  const body = `${name} ${req.method} ${req.url} host=${req.headers.host}`;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

let origin: Origin;
let other: Origin;
let px: IcpProxy;
/** Transparent and forward listener ports. */
let tp: number;
let fwd: number;

beforeAll(async () => {
  origin = await startOrigin(echo('A'));
  origin.server.on('upgrade', (_req: import('node:http').IncomingMessage, socket: import('node:stream').Duplex) => {
    socket.on('error', () => {});
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.on('data', (d: Buffer) => socket.write(d.toString('latin1').toUpperCase()));
    socket.on('end', () => socket.end());
  });
  other = await startOrigin(echo('B'));
  px = await startIcpProxy({
    policy: POLICY,
    config: {
      listeners: [
        // httpPort stands for 80: the origin listens on an ephemeral port.
        { address: '127.0.0.1', port: 0, mode: 'transparent', httpPort: origin.port },
        { address: '127.0.0.1', port: 0 },
      ],
      tls: { intercept: 'hosts', include: ['icp.test'] },
      pac: { enabled: true, proxy: 'proxy.lab.example:3128' },
      auth: { sources: [{ cidr: '127.0.0.1/32', user: 'lab-printer', groups: ['lab'] }] },
    },
  });
  [tp, fwd] = px.ports as [number, number];
});

afterAll(async () => {
  await px?.close();
  await origin?.close();
  await other?.close();
});

describe('transparent HTTP: origin form rebuilt from Host', () => {
  it('Host without a port goes to httpPort; the origin sees the path and Host; logged with mode transparent and the source identity', async () => {
    const mark = px.access.lines.length;
    const c = await httpTo(tp);
    const res = await c.request(getRequest('plain.test', '/a/b?c=1'));
    c.socket.destroy();
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(`A GET /a/b?c=1 host=plain.test:${origin.port}`);
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'http' && l.url === `http://plain.test:${origin.port}/a/b?c=1`);
    expect(line).toMatchObject({ mode: 'transparent', status: 200, user: 'lab-printer', groups: ['lab'], tls: 'plain', error: null });
    expect(line.upstream).toBe(`127.0.0.1:${origin.port}`);
  });

  it('a port in Host wins over httpPort, and keep-alive requests to different hosts each go to their own', async () => {
    const c = await httpTo(tp);
    const a = await c.request(getRequest(`tun.test:${other.port}`, '/one'));
    const b = await c.request(getRequest('other.test', '/two'));
    c.socket.destroy();
    expect(a.body.toString()).toBe(`B GET /one host=tun.test:${other.port}`);
    expect(b.body.toString()).toBe(`A GET /two host=other.test:${origin.port}`);
  });

  it('an Upgrade (WebSocket) in origin form is rebuilt from Host and spliced, logged as a transparent upgrade', async () => {
    const mark = px.access.lines.length;
    const c = await httpTo(tp);
    const res = await c.request(getRequest('plain.test', '/ws', { upgrade: 'websocket', connection: 'Upgrade' }));
    expect(res.status).toBe(101);
    c.socket.write('ping');
    expect((await c.bytes(4)).toString()).toBe('PING');
    c.socket.destroy();
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'upgrade');
    expect(line).toMatchObject({ mode: 'transparent', status: 101, url: `http://plain.test:${origin.port}/ws` });
  });

  it('a Proxy-Authorization header is not checked (nobody can be challenged); the address is the identity', async () => {
    const mark = px.access.lines.length;
    const c = await httpTo(tp);
    const res = await c.request(getRequest('plain.test', '/creds', { 'proxy-authorization': 'Basic bm90OmNoZWNrZWQ=' }));
    c.socket.destroy();
    expect(res.status).toBe(200);
    const line = await lineAfter(px.access, mark, (l) => l.url === `http://plain.test:${origin.port}/creds`);
    expect(line.user).toBe('lab-printer');
    // The origin must not receive the proxy credential either (hop-by-hop for proxies).
    expect(origin.requests.at(-1)!.headers['proxy-authorization']).toBeUndefined();
  });

  for (const version of ['1.0', '1.1']) {
    it(`HTTP/${version} without Host: 400 TRANSPARENT_NO_HOST and a log line; nothing is forwarded`, async () => {
      const before = origin.requests.length;
      const mark = px.access.lines.length;
      const c = await httpTo(tp);
      const res = await c.request(`GET /nohost HTTP/${version}\r\n\r\n`);
      c.socket.destroy();
      expect(res.status).toBe(400);
      expect(res.headers['x-egressd-error']).toMatch(/^TRANSPARENT_NO_HOST:/);
      const line = await lineAfter(px.access, mark, (l) => l.error === 'TRANSPARENT_NO_HOST');
      expect(line).toMatchObject({ mode: 'transparent', status: 400, url: '/nohost' });
      expect(origin.requests.length).toBe(before);
    });
  }

  it('a host the policy denies gets the block page with the rule', async () => {
    const mark = px.access.lines.length;
    const c = await httpTo(tp);
    const res = await c.request(getRequest('excluded.test', '/'));
    c.socket.destroy();
    expect(res.status).toBe(403);
    expect(res.headers['x-egressd-rule']).toBe('no-evil');
    const line = await lineAfter(px.access, mark, (l) => l.error === 'POLICY_DENIED');
    expect(line).toMatchObject({ mode: 'transparent', url: `http://excluded.test:${origin.port}/`, user: 'lab-printer' });
  });

  it('curl, redirected to the transparent port (--connect-to), gets the origin\'s answer', async () => {
    const r = await curl(['--noproxy', '*', '--connect-to', `plain.test:80:127.0.0.1:${tp}`, 'http://plain.test/curl']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`A GET /curl host=plain.test:${origin.port}`);
  });

  it('bytes that are not HTTP (lower-case "method", binary) are closed unanswered with a log line', async () => {
    for (const junk of ['hello world\r\n', Buffer.from([0x00, 0xff, 0x13, 0x37, 0x20])]) {
      const mark = px.access.lines.length;
      const got = await sendUntilClosed(tp, junk);
      expect(got.length).toBe(0);
      const line = await lineAfter(px.access, mark, (l) => l.error === 'TRANSPARENT_UNKNOWN_PROTOCOL');
      expect(line).toMatchObject({ mode: 'transparent', status: 0, client: '127.0.0.1' });
    }
  });

  it('CONNECT on a transparent listener is refused (400), not tunnelled', async () => {
    const before = origin.connections;
    const c = await httpTo(tp);
    const res = await c.request(`CONNECT plain.test:${origin.port} HTTP/1.1\r\nHost: plain.test:${origin.port}\r\n\r\n`, 'CONNECT');
    c.socket.destroy();
    expect(res.status).toBe(400);
    expect(origin.connections).toBe(before);
  });
});

describe('onboarding at the reserved host name', () => {
  it('through the transparent listener: the page with the CA fingerprint and the PAC URL, and the DER file', async () => {
    const ca = new X509Certificate(px.caPem);
    const before = origin.requests.length;
    const mark = px.access.lines.length;
    const c = await httpTo(tp);
    const page = await c.request(getRequest('egressd.local', '/', { accept: 'text/html' }));
    const der = await c.request(getRequest('egressd.local', '/egressd-ca.der'));
    c.socket.destroy();
    expect(page.status).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const html = page.body.toString();
    expect(html).toContain('Install the inspection certificate');
    expect(html).toContain(ca.fingerprint256);
    expect(html).toContain('http://proxy.lab.example:3128/proxy.pac');
    expect(der.status).toBe(200);
    expect(der.body.equals(ca.raw)).toBe(true);
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'local');
    expect(line).toMatchObject({ mode: 'transparent', status: 200 });
    expect(origin.requests.length).toBe(before);
  });

  it('through the forward listener (absolute URI http://egressd.local/): the same page', async () => {
    const mark = px.access.lines.length;
    const c = await httpTo(fwd);
    const page = await c.request('GET http://egressd.local/ HTTP/1.1\r\nHost: egressd.local\r\n\r\n');
    const pem = await c.request('GET http://egressd.local/egressd-ca.crt HTTP/1.1\r\nHost: egressd.local\r\n\r\n');
    c.socket.destroy();
    expect(page.status).toBe(200);
    expect(page.body.toString()).toContain('Install the inspection certificate');
    expect(pem.status).toBe(200);
    expect(new X509Certificate(pem.body).fingerprint256).toBe(new X509Certificate(px.caPem).fingerprint256);
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'local');
    expect(line).toMatchObject({ mode: 'forward', status: 200 });
  });
});

describe('transparent HTTP: admission and auth', () => {
  let origin3: Origin;
  let p: TestProxy;
  beforeAll(async () => {
    origin3 = await startOrigin(echo('C'));
    p = await startTestProxy({
      listeners: [{ address: '127.0.0.1', port: 0, mode: 'transparent', httpPort: origin3.port }],
      limits: { maxConnectionsPerClient: 1 },
      // Nobody at 127.0.0.1 is mapped, and every request needs a user.
      auth: { required: true, sources: [{ cidr: '10.255.255.1/32', user: 'elsewhere' }] },
    });
  });
  afterAll(async () => {
    await p?.close();
    await origin3?.close();
  });

  it('the sniffed socket is counted once by the gate: one connection works under a per-client limit of 1, a second is refused', async () => {
    const c = await httpTo(p.port);
    const first = await c.request(getRequest(`127.0.0.1:${origin3.port}`, '/'));
    // Refused for auth, not for the connection limit: the gate counted this socket once.
    expect(first.headers['x-egressd-error']).not.toMatch(/TOO_MANY_CONNECTIONS/);
    const c2 = await httpTo(p.port);
    const second = await c2.request(getRequest(`127.0.0.1:${origin3.port}`, '/'));
    c.socket.destroy();
    c2.socket.destroy();
    expect(second.status).toBe(503);
    expect(second.headers['x-egressd-error']).toMatch(/^TOO_MANY_CONNECTIONS:/);
  });

  it('a rule that needs a user gets 403 AUTH_REQUIRED_TRANSPARENT, never a 407 challenge', async () => {
    // The previous test's sockets must be gone from the gate first.
    await new Promise((r) => setTimeout(r, 100));
    const mark = p.access.lines.length;
    const c = await httpTo(p.port);
    const res = await c.request(getRequest(`127.0.0.1:${origin3.port}`, '/x'));
    c.socket.destroy();
    expect(res.status).toBe(403);
    expect(res.headers['proxy-authenticate']).toBeUndefined();
    expect(res.headers['x-egressd-error']).toMatch(/^AUTH_REQUIRED_TRANSPARENT:/);
    const line = await p.access.waitFor((l) => p.access.lines.indexOf(l) >= mark && l.error === 'AUTH_REQUIRED_TRANSPARENT');
    expect(line).toMatchObject({ mode: 'transparent', user: null });
    expect(origin3.requests.length).toBe(0);
  });
});
