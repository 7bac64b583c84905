import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, openTunnel, readToEnd, startTcpServer, type TcpServer } from './helpers/err-net.js';
import { captureClientHello } from './tls/helpers.js';
import { makeOriginCa, ORIGIN_NAMES } from './helpers/icp-certs.js';
import { getRequest, RawHttp, tlsThroughProxy } from './helpers/icp-client.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { lineAfter, startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import { startOrigin, type Origin } from './helpers/origin.js';

/**
 * What happens inside an intercepted tunnel: keep-alive (several requests on one TLS
 * connection), WebSocket upgrades, a Host that does not match the SNI, and bytes that
 * are not TLS at all (plain HTTP, a server-speaks-first protocol), which fall back to a
 * blind tunnel.
 */

let origin: Origin & { upgrades: import('node:http').IncomingMessage[] };
let kaOrigin: Origin;
let plain: Origin;
let banner: TcpServer;
let files: ReturnType<typeof tempFiles>;
let px: IcpProxy;

beforeAll(async () => {
  const originCa = makeOriginCa();
  const cert = originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] });
  origin = await startHttpsOrigin(cert, 'A');
  kaOrigin = await startHttpsOrigin(cert, 'KA');
  plain = await startOrigin((req, res) => res.end(`plain origin ${req.method} ${req.url} host=${req.headers.host}`));
  // Speaks first, like SSH or SMTP: a client behind CONNECT sends nothing until it reads this.
  banner = await startTcpServer((s) => {
    s.write('SSH-2.0-egressd-test\r\n');
    s.on('data', (d: Buffer) => s.write(`echo:${d.toString('latin1')}`));
  });
  files = tempFiles();
  const originCaFile = files.write('origin-ca.pem', originCa.cert);
  px = await startIcpProxy({
    config: {
      proxy: { connectPorts: [origin.port, kaOrigin.port, plain.port, banner.port] },
      tls: { upstreamCaFiles: [originCaFile], helloTimeout: '300ms' },
    },
  });
});

afterAll(async () => {
  await px?.close();
  await origin?.close();
  await kaOrigin?.close();
  await plain?.close();
  await banner?.close();
  files?.remove();
});

describe('keep-alive inside the decrypted tunnel', () => {
  it('two requests on one TLS connection: two decrypted log lines, one tunnel line, and the origin sees one reused connection', async () => {
    const mark = px.access.lines.length;
    const host = `localhost:${kaOrigin.port}`;
    const t = await tlsThroughProxy(px.port, host, { servername: 'localhost', ca: px.caPem });
    const raw = new RawHttp(t.tls);
    const a = await raw.request(getRequest(host, '/one'));
    const b = await raw.request(getRequest(host, '/two'));
    expect(a.status).toBe(200);
    expect(a.body.toString()).toBe(`origin KA GET /one host=${host}`);
    expect(b.status).toBe(200);
    expect(b.body.toString()).toBe(`origin KA GET /two host=${host}`);
    expect(a.headers.connection).not.toBe('close');
    expect(t.tls.destroyed).toBe(false);
    t.tls.destroy();

    expect(kaOrigin.requests.map((r) => r.url)).toEqual(['/one', '/two']);
    expect(kaOrigin.connections).toBe(1);
    expect(kaOrigin.requests[1]!.socket).toBe(kaOrigin.requests[0]!.socket);

    const tunnel = await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.url === host);
    expect(tunnel).toMatchObject({ tls: 'intercepted', sni: 'localhost', status: 200 });
    const requests = px.access.lines.slice(mark).filter((l) => l.kind === 'http' && String(l.url).startsWith(`https://${host}/`));
    expect(requests.map((l) => [l.url, l.status, l.tls])).toEqual([
      [`https://${host}/one`, 200, 'intercepted'],
      [`https://${host}/two`, 200, 'intercepted'],
    ]);
    expect(px.access.lines.slice(mark).filter((l) => l.kind === 'connect' && l.url === host)).toHaveLength(1);
  });
});

describe('WebSocket upgrade inside the decrypted tunnel', () => {
  it('the 101 is relayed and bytes then flow both ways to the HTTPS origin', async () => {
    const mark = px.access.lines.length;
    const host = `localhost:${origin.port}`;
    const t = await tlsThroughProxy(px.port, host, { servername: 'localhost', ca: px.caPem });
    const raw = new RawHttp(t.tls);
    const res = await raw.request(
      getRequest(host, '/ws', { upgrade: 'websocket', connection: 'Upgrade', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13' }),
    );
    expect(res.status).toBe(101);
    expect(res.headers.upgrade).toBe('websocket');
    t.tls.write('hello websocket');
    expect((await raw.bytes('HELLO WEBSOCKET'.length)).toString()).toBe('HELLO WEBSOCKET');
    expect(origin.upgrades.at(-1)?.url).toBe('/ws');
    expect(origin.upgrades.at(-1)?.headers.host).toBe(host);
    t.tls.destroy();
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'upgrade');
    expect(line).toMatchObject({ url: `https://${host}/ws`, status: 101, tls: 'intercepted' });
  });
});

describe('Host header inside the tunnel', () => {
  it('a Host naming the tunnel host is served; a Host naming another site gets 400 and never reaches an origin', async () => {
    const mark = px.access.lines.length;
    const host = `localhost:${origin.port}`;
    const t = await tlsThroughProxy(px.port, host, { servername: 'localhost', ca: px.caPem });
    const raw = new RawHttp(t.tls);
    const ok = await raw.request(getRequest(host, '/same-host'));
    expect(ok.status).toBe(200);
    const before = origin.requests.length;
    const bad = await raw.request(getRequest(`other.test:${origin.port}`, '/fronted'));
    t.tls.destroy();
    expect(bad.status).toBe(400);
    expect(bad.headers['x-egressd-error']).toMatch(/^BAD_TARGET: /);
    expect(origin.requests.length).toBe(before);
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'http' && l.status === 400);
    expect(line).toMatchObject({ error: 'BAD_TARGET', tls: 'intercepted' });
  });
});

describe('a client that leaves during the TLS handshake', () => {
  it('sending a ClientHello then FIN: the proxy closes the tunnel and logs it at once', async () => {
    const hello = await captureClientHello({ servername: 'localhost', ALPNProtocols: ['http/1.1'] });
    // Have the leaf cached, so the handshake starts at once (the common case).
    (await tlsThroughProxy(px.port, `localhost:${origin.port}`, { servername: 'localhost', ca: px.caPem })).tls.destroy();
    const mark = px.access.lines.length;
    const authority = `localhost:${origin.port}`;
    const t = await openTunnel(px.port, authority, { allowHalfOpen: true });
    expect(t.status).toBe(200);
    t.socket.write(hello);
    // The proxy answers with its ServerHello; the client gives up (half-close, as a
    // node:tls client that rejects the certificate does).
    t.socket.end();
    const ended = await readToEnd(t.socket, t.rest, 3000);
    expect(ended.how).not.toBe('timeout');
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.url === authority, 3000);
    expect(line.error).not.toBeNull();
    expect(line).toMatchObject({ tls: 'intercepted', sni: 'localhost' });
  });
});

describe('an origin that cannot be reached', () => {
  it('the client gets a 502 page inside the decrypted connection (200 was already sent to the CONNECT)', async () => {
    const dead = await closedPort();
    const p2 = await startIcpProxy({ config: { proxy: { connectPorts: [dead] } } });
    try {
      const host = `localhost:${dead}`;
      const t = await tlsThroughProxy(p2.port, host, { servername: 'localhost', ca: p2.caPem });
      const raw = new RawHttp(t.tls);
      const res = await raw.request(getRequest(host, '/gone'));
      t.tls.destroy();
      expect(res.status).toBe(502);
      expect(res.headers['x-egressd-error']).toMatch(/^UPSTREAM_REFUSED: /);
      const line = await p2.access.waitFor((l) => l.kind === 'http' && l.url === `https://${host}/gone`);
      expect(line).toMatchObject({ status: 502, error: 'UPSTREAM_REFUSED', tls: 'intercepted' });
    } finally {
      await p2.close();
    }
  });
});

describe('bytes after CONNECT that are not TLS', () => {
  it('plain HTTP inside the tunnel to a plain HTTP origin works as a blind tunnel', async () => {
    const mark = px.access.lines.length;
    const authority = `127.0.0.1:${plain.port}`;
    const t = await openTunnel(px.port, authority);
    expect(t.status).toBe(200);
    const raw = new RawHttp(t.socket, t.rest);
    const res = await raw.request(getRequest(authority, '/inside'));
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(`plain origin GET /inside host=${authority}`);
    // Keep-alive works too: it is the origin's connection, untouched.
    const again = await raw.request(getRequest(authority, '/again'));
    expect(again.body.toString()).toBe(`plain origin GET /again host=${authority}`);
    t.socket.destroy();
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.url === authority);
    expect(line).toMatchObject({ tls: 'tunnel', status: 200, error: null, sni: null });
    expect(Number(line.bytesOut)).toBeGreaterThan(0);
  });

  it('plain HTTP sent in the same packet as the CONNECT is not lost', async () => {
    const authority = `127.0.0.1:${plain.port}`;
    const t = await openTunnel(px.port, authority, { extra: getRequest(authority, '/pipelined') });
    expect(t.status).toBe(200);
    const raw = new RawHttp(t.socket, t.rest);
    const res = await raw.next();
    t.socket.destroy();
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(`plain origin GET /pipelined host=${authority}`);
  });

  it('a server-speaks-first protocol gets its banner after helloTimeout and then works both ways', async () => {
    const authority = `127.0.0.1:${banner.port}`;
    const t = await openTunnel(px.port, authority);
    expect(t.status).toBe(200);
    const sock: Socket = t.socket;
    const raw = new RawHttp(sock, t.rest);
    const greeting = 'SSH-2.0-egressd-test\r\n';
    expect((await raw.bytes(greeting.length, 3000)).toString()).toBe(greeting);
    sock.write('ping');
    expect((await raw.bytes('echo:ping'.length)).toString()).toBe('echo:ping');
    sock.destroy();
  });
});
