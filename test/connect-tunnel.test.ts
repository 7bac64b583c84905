import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { openTunnel, readBytes, readToEnd, sleep, startEcho, startTcpServer, type TcpServer } from './helpers/err-net.js';
import { selfSignedCert, type TestCert } from './helpers/err-tls.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type LogLine, type TestProxy } from './helpers/proxy.js';

describe('CONNECT tunnels', () => {
  let tls: TestCert;
  let https: Origin;
  let echo: TcpServer;
  /** Origin that reads until EOF, then answers with what it got and closes. */
  let replyAtEof: TcpServer;
  /** Origin that sends a banner and half-closes at once, then keeps reading. */
  let bannerThenRead: TcpServer;
  const bannerReceived: Promise<Buffer>[] = [];
  /** Origin that answers the first bytes with a TCP reset. */
  let resetter: TcpServer;
  /** Origin of tunnels whose client leaves while the proxy dials. */
  let leftEarly: TcpServer;
  let px: TestProxy;

  beforeAll(async () => {
    tls = selfSignedCert();
    https = await startOrigin(
      (req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`secure ${req.method} ${req.url}`);
      },
      { tls },
    );
    echo = await startEcho();
    replyAtEof = await startTcpServer(
      (s) => {
        const chunks: Buffer[] = [];
        s.on('data', (c: Buffer) => chunks.push(c));
        s.on('end', () => s.end(`got:${Buffer.concat(chunks).toString()}`));
      },
      { allowHalfOpen: true },
    );
    bannerThenRead = await startTcpServer(
      (s) => {
        s.end('banner');
        bannerReceived.push(readToEnd(s).then((r) => r.data));
      },
      { allowHalfOpen: true },
    );
    resetter = await startTcpServer((s) => s.once('data', () => s.resetAndDestroy()));
    leftEarly = await startEcho();
    px = await startTestProxy({ proxy: { connectPorts: [https.port, echo.port, replyAtEof.port, bannerThenRead.port, resetter.port, leftEarly.port] } });
  });
  afterAll(async () => {
    await px.close();
    await Promise.all([https.close(), echo.close(), replyAtEof.close(), bannerThenRead.close(), resetter.close(), leftEarly.close()]);
  });

  it('answers 200 Connection Established and carries TLS to an HTTPS origin (undici ProxyAgent)', async () => {
    const agent = new ProxyAgent({ uri: px.url, requestTls: { ca: tls.cert } });
    try {
      const res = await request(`${https.url}/tls/path?q=1`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('secure GET /tls/path?q=1');
    } finally {
      await agent.close();
    }
    const line = await px.access.waitFor((l) => l.msg === 'tunnel' && l.url === `127.0.0.1:${https.port}`);
    expect(line).toMatchObject({ method: 'CONNECT', status: 200, error: null, upstream: `127.0.0.1:${https.port}` });
  });

  it('carries a TLS handshake and an HTTP exchange over a raw tunnel socket', async () => {
    const t = await openTunnel(px.port, `127.0.0.1:${https.port}`);
    expect(t.head).toMatch(/^HTTP\/1\.1 200 Connection Established\r\n/);
    expect(t.rest.length).toBe(0);
    const secure = tlsConnect({ socket: t.socket, servername: 'localhost', ca: tls.cert });
    await once(secure, 'secureConnect');
    expect(secure.authorized).toBe(true);
    secure.write(`GET /raw HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    const { data } = await readToEnd(secure as unknown as Socket);
    expect(data.toString()).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(data.toString()).toContain('secure GET /raw');
    secure.destroy();
  });

  it('relays bytes both ways to a plain TCP echo server and counts them in the access log', async () => {
    const t = await openTunnel(px.port, `127.0.0.1:${echo.port}`);
    expect(t.status).toBe(200);
    const payload = Buffer.alloc(100_000, 'x');
    payload.write('start', 0);
    payload.write('end', payload.length - 3);
    t.socket.write(payload);
    const got = await readBytes(t.socket, payload.length, t.rest);
    expect(got.equals(payload)).toBe(true);
    t.socket.end();
    const { how } = await readToEnd(t.socket);
    expect(how).toBe('end');
    const line = await px.access.waitFor((l) => l.msg === 'tunnel' && l.url === `127.0.0.1:${echo.port}`);
    expect(line).toMatchObject({ status: 200, bytesIn: payload.length, bytesOut: payload.length, error: null, kind: 'connect' });
  });

  it('delivers bytes sent in the same write as the CONNECT head (the head buffer) to the origin', async () => {
    const early = 'EARLY-BYTES-IN-THE-SAME-PACKET';
    const t = await openTunnel(px.port, `127.0.0.1:${echo.port}`, { extra: early });
    expect(t.status).toBe(200);
    const got = await readBytes(t.socket, early.length, t.rest);
    expect(got.toString()).toBe(early);
    t.socket.write('more');
    const more = await readBytes(t.socket, early.length + 4, got);
    expect(more.toString()).toBe(`${early}more`);
    t.socket.end();
    await readToEnd(t.socket);
    const line = await px.access.waitFor((l) => l.msg === 'tunnel' && l.url === `127.0.0.1:${echo.port}` && l.bytesIn === early.length + 4);
    expect(line.bytesOut).toBe(early.length + 4);
  });

  it('bytes sent while the proxy is still dialing (after the head, before 200) reach the origin', async () => {
    // Slow the dial down (as a slow DNS answer or a far origin would) without touching src/.
    const dialer = px.proxy.runtime.dialer;
    const dial = dialer.dial.bind(dialer);
    dialer.dial = async (...args: Parameters<typeof dial>) => {
      await sleep(300);
      return dial(...args);
    };
    try {
      const s = connect(px.port, '127.0.0.1');
      s.on('error', () => {});
      await once(s, 'connect');
      s.write(`CONNECT 127.0.0.1:${echo.port} HTTP/1.1\r\nHost: x\r\n\r\n`);
      await sleep(100);
      s.write('sent-while-dialing');
      const established = 'HTTP/1.1 200 Connection Established\r\n\r\n';
      const got = await readBytes(s, established.length + 18);
      expect(got.toString()).toBe(`${established}sent-while-dialing`);
      s.destroy();
    } finally {
      dialer.dial = dial;
    }
  });

  it('half-close from the client: the origin sees EOF and can still send its reply', async () => {
    const t = await openTunnel(px.port, `127.0.0.1:${replyAtEof.port}`, { allowHalfOpen: true });
    expect(t.status).toBe(200);
    t.socket.end('question');
    const { data, how } = await readToEnd(t.socket, t.rest);
    expect(data.toString()).toBe('got:question');
    expect(how).toBe('end');
  });

  it('counts each direction separately (8 bytes up, 12 down)', async () => {
    const t = await openTunnel(px.port, `127.0.0.1:${replyAtEof.port}`, { allowHalfOpen: true });
    t.socket.end('8 bytes!');
    const { data } = await readToEnd(t.socket, t.rest);
    expect(data.toString()).toBe('got:8 bytes!');
    const line = await px.access.waitFor((l) => l.msg === 'tunnel' && l.url === `127.0.0.1:${replyAtEof.port}` && l.bytesIn === 8);
    expect(line).toMatchObject({ bytesIn: 8, bytesOut: 12, status: 200 });
  });

  it('half-close from the origin: the client sees EOF and can still send data the origin receives', async () => {
    const t = await openTunnel(px.port, `127.0.0.1:${bannerThenRead.port}`, { allowHalfOpen: true });
    expect(t.status).toBe(200);
    const first = await readToEnd(t.socket, t.rest, 3000);
    expect(first.data.toString()).toBe('banner');
    expect(first.how).toBe('end');
    // The client's write side is still open: what it sends now must reach the origin.
    t.socket.end('late-data-after-origin-eof');
    const received = await Promise.race([bannerReceived.at(-1)!, sleep(3000).then(() => Buffer.from('<timeout>'))]);
    expect(received.toString()).toBe('late-data-after-origin-eof');
    t.socket.destroy();
  });

  it('an origin reset cuts the client side too (no hang) and is logged as UPSTREAM_RESET', async () => {
    const t = await openTunnel(px.port, `127.0.0.1:${resetter.port}`);
    expect(t.status).toBe(200);
    t.socket.write('trigger');
    const { how } = await readToEnd(t.socket, t.rest, 3000);
    expect(how).not.toBe('timeout');
    const line = await px.access.waitFor((l) => l.msg === 'tunnel' && l.url === `127.0.0.1:${resetter.port}`);
    expect(line).toMatchObject({ status: 200, error: 'UPSTREAM_RESET' });
  });

  it('a client that vanishes mid-tunnel closes the upstream connection too', async () => {
    const before = echo.accepted.length;
    const t = await openTunnel(px.port, `127.0.0.1:${echo.port}`);
    t.socket.write('x');
    await readBytes(t.socket, 1, t.rest);
    const upstream = echo.accepted[before]!;
    const upstreamClosed = new Promise<boolean>((r) => {
      upstream.once('close', () => r(true));
      setTimeout(() => r(false), 3000);
    });
    t.socket.resetAndDestroy();
    expect(await upstreamClosed).toBe(true);
    await px.access.waitFor((l) => l.msg === 'tunnel' && l.url === `127.0.0.1:${echo.port}` && l.bytesIn === 1 && l.error !== null);
  });

  it('clients that reset right behind their CONNECT: no upstream connection stays open, and each line says the client left', async () => {
    const n = 20;
    for (let i = 0; i < n; i++) {
      const s = connect(px.port, '127.0.0.1');
      s.on('error', () => undefined);
      await once(s, 'connect');
      // The reset follows the CONNECT at once: it reaches the proxy while it dials or just after the 200.
      s.write(`CONNECT 127.0.0.1:${leftEarly.port} HTTP/1.1\r\nHost: 127.0.0.1:${leftEarly.port}\r\n\r\n`, () => s.resetAndDestroy());
    }
    const mine = (): LogLine[] => px.access.lines.filter((l) => l.msg === 'tunnel' && l.url === `127.0.0.1:${leftEarly.port}`);
    await expect.poll(() => mine().length, { timeout: 5000 }).toBe(n);
    for (const l of mine()) expect(['CLIENT_ABORTED', 'UPSTREAM_RESET']).toContain(l.error);
    // Whatever the proxy had dialled is closed again.
    await expect.poll(() => leftEarly.accepted.filter((a) => !a.destroyed).length, { timeout: 3000 }).toBe(0);
  });
});

describe('CONNECT tunnel idle timeout', () => {
  let echo: TcpServer;
  let px: TestProxy;
  beforeAll(async () => {
    echo = await startEcho();
    px = await startTestProxy({ proxy: { connectPorts: [echo.port] }, timeouts: { tunnelIdle: '300ms' } });
  });
  afterAll(async () => {
    await px.close();
    await echo.close();
  });

  it('closes a tunnel idle for tunnelIdle and logs TUNNEL_IDLE', async () => {
    const t = await openTunnel(px.port, `127.0.0.1:${echo.port}`);
    expect(t.status).toBe(200);
    t.socket.write('ping');
    await readBytes(t.socket, 4, t.rest);
    const idleFrom = Date.now();
    const { how } = await readToEnd(t.socket, Buffer.alloc(0), 3000);
    const waited = Date.now() - idleFrom;
    expect(how).not.toBe('timeout');
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(2000);
    const line = await px.access.waitFor((l) => l.msg === 'tunnel' && l.error === 'TUNNEL_IDLE');
    expect(line).toMatchObject({ url: `127.0.0.1:${echo.port}`, status: 200, bytesIn: 4, bytesOut: 4 });
  });

  it('keeps a tunnel with traffic every 150 ms open past tunnelIdle', async () => {
    const t = await openTunnel(px.port, `127.0.0.1:${echo.port}`);
    let closed = false;
    t.socket.once('close', () => (closed = true));
    let got = t.rest;
    for (let i = 0; i < 7; i++) {
      t.socket.write('.');
      got = await readBytes(t.socket, i + 1, got);
      await sleep(150);
    }
    expect(closed).toBe(false);
    t.socket.destroy();
  });
});
