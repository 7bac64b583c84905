import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getRequest, RawHttp } from './helpers/icp-client.js';
import { makeOriginCa, ORIGIN_NAMES } from './helpers/icp-certs.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { lineAfter, startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import type { LogLine } from './helpers/proxy.js';
import { v1, v2 } from './helpers/proxy-header.js';

/**
 * Listeners behind an L4 balancer (proxyProtocol, proxyFrom): the test plays the
 * balancer on 127.0.0.1 and sends real PROXY headers (v1 and v2) before real HTTP,
 * CONNECT, TLS and transparent traffic. The address in the header must be what every
 * consumer sees — the access log's client, auth.sources, policy `sources`,
 * clients.allow, per-client connection limits, quotas, X-Forwarded-For — on keep-alive
 * requests too; bad headers, peers outside proxyFrom and slow headers are closed with
 * one server-log line carrying a stable code.
 */

const POLICY = `version: 1
rules:
  - id: lab-blocked
    sources: [192.0.2.66/32]
    action: deny
    reason: Not from the quarantined desk
  - id: metered
    hosts: [other.test]
    action: allow
    quota: tiny
  - id: default
    action: allow
`;

const echo = (name: string) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse): void => {
  const body = `${name} ${req.url} xff=${req.headers['x-forwarded-for'] ?? '-'}`;
  res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
};

let origin: Origin;
let https: Origin;
let px: IcpProxy;
let files: ReturnType<typeof tempFiles>;
/** Forward listener (any version) and transparent listener (v2 only), both trusting 127.0.0.1 only. */
let fwd: number;
let tp: number;

beforeAll(async () => {
  const originCa = makeOriginCa();
  origin = await startOrigin(echo('plain'));
  https = await startHttpsOrigin(originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] }), 'tls', echo('tls'));
  files = tempFiles();
  px = await startIcpProxy({
    policy: POLICY,
    config: {
      listeners: [
        { address: '127.0.0.1', port: 0, proxyProtocol: 'any', proxyFrom: ['127.0.0.1/32'] },
        { address: '127.0.0.1', port: 0, mode: 'transparent', httpPort: origin.port, tlsPort: https.port, proxyProtocol: 'v2', proxyFrom: ['127.0.0.1'] },
      ],
      // The balancer (127.0.0.1) is allowed; 198.51.100.0/24 behind it is not.
      clients: { allow: ['127.0.0.0/8', '192.0.2.0/24', '2001:db8::/32'] },
      auth: { sources: [{ cidr: '192.0.2.10/32', user: 'alice', groups: ['lab'] }] },
      proxy: { xForwardedFor: 'append', connectPorts: [origin.port, https.port] },
      timeouts: { requestHeaders: '1s' },
      limits: { maxConnectionsPerClient: 2 },
      tls: { intercept: 'hosts', include: ['icp.test'], upstreamCaFiles: [files.write('origin-ca.pem', originCa.cert)] },
      quota: { profiles: { tiny: { rate: '1/m', burst: 1 } } },
    },
  });
  [fwd, tp] = px.ports as [number, number];
});

afterAll(async () => {
  await px?.close();
  await origin?.close();
  await https?.close();
  files?.remove();
});

/** A connection from `localAddress` (the balancer) that sends `header` first, in one write or byte by byte. */
async function balancer(port: number, header: Buffer, opts: { localAddress?: string; split?: boolean; then?: string } = {}): Promise<RawHttp & { socket: Socket }> {
  const socket = connect({ port, host: '127.0.0.1', localAddress: opts.localAddress ?? '127.0.0.1', noDelay: true });
  socket.on('error', () => {});
  await once(socket, 'connect');
  const rest = Buffer.from(opts.then ?? '', 'latin1');
  if (opts.split) {
    // One TCP segment per byte (noDelay, and a pause between writes).
    for (const byte of header) {
      socket.write(Buffer.from([byte]));
      await new Promise((r) => setTimeout(r, 2));
    }
    if (rest.length) socket.write(rest);
  } else socket.write(Buffer.concat([header, rest]));
  return new RawHttp(socket);
}

/** Bytes written, then whatever comes back until the proxy closes: a refused connection closes without a byte. */
async function refused(port: number, bytes: Buffer, localAddress = '127.0.0.1'): Promise<{ got: string; ms: number }> {
  const t0 = Date.now();
  const c = await balancer(port, bytes, { localAddress });
  const reply = await c.next('GET', 5000).then(
    (r) => `HTTP ${r.status}`,
    (e: Error) => (/closed before a complete response; got ""/.test(e.message) ? '' : e.message),
  );
  c.socket.destroy();
  return { got: reply, ms: Date.now() - t0 };
}

const plainUrl = (host: string, path: string): string => `http://${host}:${origin.port}${path}`;
const proxyGet = (host: string, path: string): string => `GET ${plainUrl(host, path)} HTTP/1.1\r\nHost: ${host}:${origin.port}\r\n\r\n`;
const serverLine = (code: string, mark: number): Promise<LogLine> => lineAfter(px.server, mark, (l) => l.code === code);

describe('forward HTTP: the client is the one in the header', () => {
  it('v1 TCP4: log client, auth.sources user and X-Forwarded-For; a keep-alive request keeps the address', async () => {
    const mark = px.access.lines.length;
    const c = await balancer(fwd, v1('TCP4', '192.0.2.10', '127.0.0.1', 50001, fwd));
    const r1 = await c.request(proxyGet('plain.test', '/ka1'));
    const r2 = await c.request(proxyGet('plain.test', '/ka2'));
    c.socket.destroy();
    expect(r1.status).toBe(200);
    expect(r1.body.toString()).toBe('plain /ka1 xff=192.0.2.10');
    expect(r2.body.toString()).toBe('plain /ka2 xff=192.0.2.10');
    for (const p of ['/ka1', '/ka2']) {
      const line = await lineAfter(px.access, mark, (l) => l.url === plainUrl('plain.test', p));
      expect(line).toMatchObject({ client: '192.0.2.10', user: 'alice', status: 200 });
    }
  });

  it.each([
    ['v1 TCP6', v1('TCP6', '2001:DB8::0:7', '::1', 50002, 3128), '2001:db8::7'],
    ['v1 UNKNOWN keeps the balancer address', Buffer.from('PROXY UNKNOWN\r\n'), '127.0.0.1'],
    ['v2 TCP4 with TLVs and CRC32C', v2({ src: '192.0.2.11', dst: '10.0.0.1', sport: 50003, dport: 3128, crc: 'good', tlvs: [{ type: 0x02, value: Buffer.from('proxy.corp') }, { type: 0x05, value: Buffer.from('req-1') }] }), '192.0.2.11'],
    ['v2 TCP6', v2({ src: '2001:db8::8', dst: '2001:db8::1', sport: 50004, dport: 3128 }), '2001:db8::8'],
    ['v2 LOCAL (health check) with a TLV keeps the balancer address', v2({ command: 'local', tlvs: [{ type: 0x04, value: Buffer.alloc(2) }] }), '127.0.0.1'],
  ])('%s', async (_name, header, client) => {
    const mark = px.access.lines.length;
    const path = `/h${mark}`;
    const c = await balancer(fwd, header);
    const r = await c.request(proxyGet('plain.test', path));
    c.socket.destroy();
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(`plain ${path} xff=${client}`);
    expect(await lineAfter(px.access, mark, (l) => l.url === plainUrl('plain.test', path))).toMatchObject({ client, status: 200 });
  });

  it('a header split into one TCP segment per byte, the request behind it in the last write', async () => {
    const mark = px.access.lines.length;
    const c = await balancer(fwd, v2({ src: '192.0.2.12', dst: '10.0.0.1', sport: 50005, dport: 3128, crc: 'good' }), { split: true, then: proxyGet('plain.test', '/split') });
    const r = await c.next();
    c.socket.destroy();
    expect(r.body.toString()).toBe('plain /split xff=192.0.2.12');
    expect(await lineAfter(px.access, mark, (l) => l.url === plainUrl('plain.test', '/split'))).toMatchObject({ client: '192.0.2.12' });
  });

  it('policy `sources` judges the header address, not the balancer', async () => {
    const mark = px.access.lines.length;
    const denied = await balancer(fwd, v1('TCP4', '192.0.2.66', '127.0.0.1', 50006, fwd));
    const r = await denied.request(proxyGet('plain.test', '/quarantine'));
    denied.socket.destroy();
    expect(r.status).toBe(403);
    expect(r.headers['x-egressd-rule']).toBe('lab-blocked');
    expect(origin.requests.some((q) => q.url === '/quarantine')).toBe(false);
    expect(await lineAfter(px.access, mark, (l) => l.url === plainUrl('plain.test', '/quarantine'))).toMatchObject({ client: '192.0.2.66', error: 'POLICY_DENIED' });
  });

  it('clients.allow judges the header address: an allowed balancer does not let a disallowed client in', async () => {
    const mark = px.access.lines.length;
    const c = await balancer(fwd, v1('TCP4', '198.51.100.7', '127.0.0.1', 50007, fwd));
    const r = await c.request(proxyGet('plain.test', '/outsider'));
    c.socket.destroy();
    expect(r.status).toBe(403);
    expect(String(r.headers['x-egressd-error'])).toMatch(/^CLIENT_FORBIDDEN: client address 198\.51\.100\.7 /);
    expect(await lineAfter(px.access, mark, (l) => l.error === 'CLIENT_FORBIDDEN')).toMatchObject({ client: '198.51.100.7' });
  });

  it('the per-client connection limit counts header addresses, not the one balancer address', async () => {
    const conns = [];
    for (let i = 0; i < 2; i++) conns.push(await balancer(fwd, v1('TCP4', '192.0.2.30', '127.0.0.1', 50010 + i, fwd)));
    const third = await balancer(fwd, v1('TCP4', '192.0.2.30', '127.0.0.1', 50012, fwd));
    const other = await balancer(fwd, v1('TCP4', '192.0.2.31', '127.0.0.1', 50013, fwd));
    try {
      expect((await conns[0]!.request(proxyGet('plain.test', '/lim1'))).status).toBe(200);
      const r = await third.request(proxyGet('plain.test', '/lim3'));
      expect(r.status).toBe(503);
      expect(String(r.headers['x-egressd-error'])).toMatch(/^TOO_MANY_CONNECTIONS: connection limit per client \(2\) reached for 192\.0\.2\.30/);
      expect((await other.request(proxyGet('plain.test', '/lim4'))).status).toBe(200);
    } finally {
      for (const c of [...conns, third, other]) c.socket.destroy();
    }
  });

  it('quotas count per header address', async () => {
    const get = async (client: string, path: string): Promise<number> => {
      const c = await balancer(fwd, v1('TCP4', client, '127.0.0.1', 50020, fwd));
      const r = await c.request(proxyGet('other.test', path));
      c.socket.destroy();
      return r.status;
    };
    // Burst 1 per minute: the second request of one client is refused, another client has its own bucket.
    expect(await get('192.0.2.40', '/q1')).toBe(200);
    expect(await get('192.0.2.40', '/q2')).toBe(429);
    expect(await get('192.0.2.41', '/q3')).toBe(200);
    const line = await px.access.waitFor((l) => l.url === plainUrl('other.test', '/q2'));
    expect(line).toMatchObject({ client: '192.0.2.40', error: 'QUOTA_RATE' });
  });
});

/** CONNECT through the balancer: the v1 header and the CONNECT head in one write; resolves after the 200. */
async function connectVia(header: Buffer, authority: string): Promise<{ socket: Socket; status: number }> {
  const socket = connect({ port: fwd, host: '127.0.0.1' });
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(Buffer.concat([header, Buffer.from(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`)]));
  let buf = Buffer.alloc(0);
  while (buf.indexOf('\r\n\r\n') < 0) {
    const [chunk] = (await Promise.race([once(socket, 'data'), new Promise((_, rej) => setTimeout(() => rej(new Error('no CONNECT answer in 5 s')), 5000))])) as [Buffer];
    buf = Buffer.concat([buf, chunk]);
  }
  socket.pause();
  return { socket, status: Number(/^HTTP\/1\.1 (\d{3})/.exec(buf.toString('latin1'))?.[1] ?? 0) };
}

function tlsOver(socket: Socket, servername: string, ca?: string): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({ socket, servername, ca, rejectUnauthorized: ca !== undefined, ALPNProtocols: ['http/1.1'] });
    tls.once('secureConnect', () => resolve(tls));
    tls.once('error', reject);
  });
}

describe('tunnels: CONNECT and intercepted HTTPS', () => {
  it('a CONNECT tunnel is logged with the header address; policy sources and clients.allow judge it', async () => {
    const mark = px.access.lines.length;
    const t = await connectVia(v1('TCP4', '192.0.2.13', '127.0.0.1', 50030, fwd), `127.0.0.1:${origin.port}`);
    expect(t.status).toBe(200);
    const inside = new RawHttp(t.socket);
    const r = await inside.request(getRequest(`127.0.0.1:${origin.port}`, '/in-tunnel'));
    expect(r.body.toString()).toBe('plain /in-tunnel xff=-');
    t.socket.destroy();
    expect(await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.url === `127.0.0.1:${origin.port}`)).toMatchObject({ client: '192.0.2.13', status: 200 });
    const denied = await connectVia(v1('TCP4', '192.0.2.66', '127.0.0.1', 50031, fwd), `127.0.0.1:${origin.port}`);
    denied.socket.destroy();
    expect(denied.status).toBe(403);
    expect(await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.error === 'POLICY_DENIED')).toMatchObject({ client: '192.0.2.66' });
    const outsider = await connectVia(v1('TCP4', '198.51.100.9', '127.0.0.1', 50033, fwd), `127.0.0.1:${origin.port}`);
    outsider.socket.destroy();
    expect(outsider.status).toBe(403);
    expect(await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.error === 'CLIENT_FORBIDDEN')).toMatchObject({ client: '198.51.100.9' });
  });

  it('decrypted requests of an intercepted tunnel carry the header address (log, user, X-Forwarded-For)', async () => {
    const mark = px.access.lines.length;
    const t = await connectVia(v1('TCP4', '192.0.2.10', '127.0.0.1', 50032, fwd), `icp.test:${https.port}`);
    expect(t.status).toBe(200);
    const tls = await tlsOver(t.socket, 'icp.test', px.caPem);
    const inner = new RawHttp(tls as unknown as Socket);
    const r1 = await inner.request(getRequest(`icp.test:${https.port}`, '/secret1'));
    const r2 = await inner.request(getRequest(`icp.test:${https.port}`, '/secret2'));
    tls.destroy();
    expect(r1.body.toString()).toBe('tls /secret1 xff=192.0.2.10');
    expect(r2.body.toString()).toBe('tls /secret2 xff=192.0.2.10');
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'http' && l.url === `https://icp.test:${https.port}/secret2`);
    expect(line).toMatchObject({ client: '192.0.2.10', user: 'alice', tls: 'intercepted' });
  });
});

describe('transparent listener (v2 only)', () => {
  it('plain HTTP: the log line and the origin see the header address', async () => {
    const mark = px.access.lines.length;
    const c = await balancer(tp, v2({ src: '192.0.2.10', dst: '203.0.113.80', sport: 50040, dport: 80 }));
    const r = await c.request(getRequest('plain.test', '/tp'));
    c.socket.destroy();
    expect(r.body.toString()).toBe('plain /tp xff=192.0.2.10');
    const line = await lineAfter(px.access, mark, (l) => l.url === plainUrl('plain.test', '/tp'));
    expect(line).toMatchObject({ client: '192.0.2.10', user: 'alice', mode: 'transparent' });
  });

  it('policy `sources` and clients.allow judge the header address', async () => {
    const mark = px.access.lines.length;
    const denied = await balancer(tp, v2({ src: '192.0.2.66', dst: '203.0.113.80', sport: 50042, dport: 80 }));
    const r1 = await denied.request(getRequest('plain.test', '/tp-quarantine'));
    denied.socket.destroy();
    expect(r1.status).toBe(403);
    expect(r1.headers['x-egressd-rule']).toBe('lab-blocked');
    const outsider = await balancer(tp, v2({ src: '198.51.100.8', dst: '203.0.113.80', sport: 50043, dport: 80 }));
    const r2 = await outsider.request(getRequest('plain.test', '/tp-outsider'));
    outsider.socket.destroy();
    expect(r2.status).toBe(403);
    expect(String(r2.headers['x-egressd-error'])).toMatch(/^CLIENT_FORBIDDEN: client address 198\.51\.100\.8 /);
    expect(origin.requests.some((q) => q.url === '/tp-quarantine' || q.url === '/tp-outsider')).toBe(false);
    expect(await lineAfter(px.access, mark, (l) => l.error === 'POLICY_DENIED' && l.mode === 'transparent')).toMatchObject({ client: '192.0.2.66' });
    expect(await lineAfter(px.access, mark, (l) => l.error === 'CLIENT_FORBIDDEN' && l.mode === 'transparent')).toMatchObject({ client: '198.51.100.8' });
  });

  it('TLS by SNI (tunnelled untouched): logged with the header address', async () => {
    const mark = px.access.lines.length;
    const socket = connect({ port: tp, host: '127.0.0.1' });
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.write(v2({ src: '2001:db8::9', dst: '2001:db8::443', sport: 50041, dport: 443 }));
    const tls = await tlsOver(socket, 'tun.test');
    tls.destroy();
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.sni === 'tun.test');
    expect(line).toMatchObject({ client: '2001:db8::9', mode: 'transparent', tls: 'tunnel' });
  });

  it('a v1 header on the v2-only listener is refused as the wrong version', async () => {
    const mark = px.server.lines.length;
    const r = await refused(tp, Buffer.concat([v1('TCP4', '192.0.2.10', '127.0.0.1', 1, 2), Buffer.from(getRequest('plain.test', '/v1-on-v2'))]));
    expect(r.got).toBe('');
    expect((await serverLine('PROXY_PROTOCOL_INVALID', mark)).reason).toMatch(/v1 header on a listener set to v2/);
    expect(origin.requests.some((q) => q.url === '/v1-on-v2')).toBe(false);
  });
});

describe('refusals: closed before any request, one server-log line with a stable code', () => {
  it('garbage instead of a header', async () => {
    const mark = px.server.lines.length;
    const r = await refused(fwd, Buffer.from(proxyGet('plain.test', '/no-header')));
    expect(r.got).toBe('');
    const line = await serverLine('PROXY_PROTOCOL_INVALID', mark);
    expect(line).toMatchObject({ level: 40, peer: expect.stringMatching(/^127\.0\.0\.1:\d+$/), listener: `127.0.0.1:${fwd}` });
    expect(line.reason).toMatch(/not a PROXY protocol header \(first bytes "GET http/);
    expect(origin.requests.some((q) => q.url === '/no-header')).toBe(false);
  });

  it('a v1 line longer than 107 bytes', async () => {
    const mark = px.server.lines.length;
    const r = await refused(fwd, Buffer.from(`PROXY UNKNOWN ${'f'.repeat(120)}\r\n`));
    expect(r.got).toBe('');
    expect((await serverLine('PROXY_PROTOCOL_INVALID', mark)).reason).toMatch(/no CRLF within 107 bytes/);
  });

  it('a v2 header with a bad CRC32C', async () => {
    const mark = px.server.lines.length;
    expect((await refused(fwd, v2({ src: '192.0.2.10', dst: '10.0.0.1', sport: 1, dport: 2, crc: 'bad' }))).got).toBe('');
    expect((await serverLine('PROXY_PROTOCOL_INVALID', mark)).reason).toMatch(/CRC32C mismatch/);
  });

  it('a peer outside proxyFrom, even with a valid header', async () => {
    const mark = px.server.lines.length;
    const r = await refused(fwd, Buffer.concat([v1('TCP4', '192.0.2.10', '127.0.0.1', 1, 2), Buffer.from(proxyGet('plain.test', '/spoof'))]), '127.0.0.2');
    expect(r.got).toBe('');
    const line = await serverLine('PROXY_PROTOCOL_FORBIDDEN', mark);
    expect(line.peer).toMatch(/^127\.0\.0\.2:\d+$/);
    expect(origin.requests.some((q) => q.url === '/spoof')).toBe(false);
  });

  it('a header that does not complete within timeouts.requestHeaders', async () => {
    const mark = px.server.lines.length;
    const r = await refused(fwd, Buffer.from('PROXY TCP4 192.0.2.10 '));
    expect(r.got).toBe('');
    // Closed by the 1 s bound, not by the client's 5 s wait.
    expect(r.ms).toBeGreaterThanOrEqual(900);
    expect(r.ms).toBeLessThan(4000);
    const line = await serverLine('PROXY_PROTOCOL_TIMEOUT', mark);
    expect(line.reason).toMatch(/no complete PROXY protocol header within 1000 ms \(22 bytes received\)/);
  });

  it('a malformed request behind a good header: 400, logged with the header address', async () => {
    const mark = px.access.lines.length;
    const c = await balancer(fwd, v1('TCP4', '192.0.2.15', '127.0.0.1', 50051, fwd));
    const r = await c.request('GET http://plain.test/ HTTP/1.1\r\nHost: plain.test\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n');
    c.socket.destroy();
    expect(r.status).toBe(400);
    expect(await lineAfter(px.access, mark, (l) => l.error === 'BAD_REQUEST')).toMatchObject({ client: '192.0.2.15' });
  });

  it('keeps serving after all of that', async () => {
    const c = await balancer(fwd, v1('TCP4', '192.0.2.14', '127.0.0.1', 50050, fwd));
    const r = await c.request(proxyGet('plain.test', '/still-up'));
    c.socket.destroy();
    expect(r.status).toBe(200);
  });
});

describe('connections still sending their header count against limits.maxConnections', () => {
  let small: IcpProxy;
  beforeAll(async () => {
    small = await startIcpProxy({
      config: {
        listeners: [{ address: '127.0.0.1', port: 0, proxyProtocol: 'v1', proxyFrom: ['127.0.0.1/32'] }],
        clients: { allow: ['127.0.0.0/8', '192.0.2.0/24'] },
        timeouts: { requestHeaders: '3s' },
        limits: { maxConnections: 2 },
      },
    });
  });
  afterAll(() => small?.close());

  it('two silent connections fill the limit: a third is closed at once, with one log line, and the port serves again once they are gone', async () => {
    const port = small.ports[0]!;
    const silent = [await balancer(port, Buffer.alloc(0)), await balancer(port, Buffer.alloc(0))];
    // Both are being read (the acceptor has them) before the third arrives.
    await new Promise((r) => setTimeout(r, 100));
    const mark = small.server.lines.length;
    const r = await refused(port, v1('TCP4', '192.0.2.20', '127.0.0.1', 1, port));
    expect(r.got).toBe('');
    // At once: not after the 3 s header timeout.
    expect(r.ms).toBeLessThan(1500);
    const line = await lineAfter(small.server, mark, (l) => l.code === 'TOO_MANY_CONNECTIONS');
    expect(line.reason).toMatch(/proxy connection limit \(2\) reached, 2 of them still sending their PROXY protocol header/);
    for (const s of silent) s.socket.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const c = await balancer(port, v1('TCP4', '192.0.2.21', '127.0.0.1', 2, port));
    const ok = await c.request(proxyGet('plain.test', '/after-limit'));
    c.socket.destroy();
    expect(ok.status).toBe(200);
  });
});
