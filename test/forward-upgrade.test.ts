import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RawConn } from './helpers/fwd-raw-http.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * Upgrade (WebSocket-style) over plain HTTP through the forward proxy, and origin-form
 * requests to the proxy itself (issue 2).
 */
let px: TestProxy;
let upgrading: Origin; // handles 'upgrade': 101, greets, then echoes upper-cased
let refusing: Origin; // no 'upgrade' listener: node hands the request to the handler, 403
const upgradeSeen: IncomingMessage[] = [];
const raws: RawConn[] = [];

beforeAll(async () => {
  px = await startTestProxy({ timeouts: { tunnelIdle: '5s' } });
  upgrading = await startOrigin((_req, res) => {
    res.writeHead(200, { 'content-length': 2 });
    res.end('no');
  });
  upgrading.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgradeSeen.push(req);
    socket.on('error', () => {});
    if (req.url === '/ws-raw-refuse') {
      socket.end('HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nContent-Length: 12\r\nConnection: close\r\n\r\nno upgrades\n');
      return;
    }
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: ${req.headers.upgrade}\r\nConnection: Upgrade\r\nX-Origin-Upgrade: yes\r\n\r\n`);
    socket.write('hello from origin\n');
    if (head.length) socket.write(`head:${head.toString().toUpperCase()}`);
    socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
    socket.on('end', () => socket.end());
  });
  refusing = await startOrigin((req, res) => {
    res.writeHead(403, { 'content-type': 'text/plain', 'content-length': 20, 'x-upgrade-asked': String(req.headers.upgrade) });
    res.end('upgrade not allowed\n');
  });
});
afterEach(() => {
  for (const r of raws.splice(0)) r.close();
});
afterAll(async () => {
  await px.close();
  await upgrading.close();
  await refusing.close();
});

async function raw(port = px.port): Promise<RawConn> {
  const c = await RawConn.open(port);
  raws.push(c);
  return c;
}

function upgradeRequest(url: string, extra = ''): string {
  return `GET ${url} HTTP/1.1\r\nHost: ignored.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${extra}\r\n`;
}

describe('Upgrade over plain HTTP', () => {
  it('101 is relayed, then bytes flow both ways; the log has one upgrade line when it ends', async () => {
    const c = await raw();
    c.write(upgradeRequest(`${upgrading.url}/ws`));
    const [r] = await c.responses(1, ['GET']);
    expect(r!.status).toBe(101);
    expect(r!.headers.upgrade).toBe('websocket');
    expect(r!.headers.connection?.toLowerCase()).toBe('upgrade');
    expect(r!.headers['x-origin-upgrade']).toBe('yes');
    const headEnd = c.received.indexOf('\r\n\r\n') + 4;
    c.consume(headEnd);
    await c.until(() => c.received.toString().includes('hello from origin\n'), 3000, 'origin greeting');
    c.consume(c.received.length);
    c.write('ping 1');
    await c.until(() => c.received.toString() === 'PING 1', 3000, 'echo 1');
    c.consume(c.received.length);
    c.write('second message');
    await c.until(() => c.received.toString() === 'SECOND MESSAGE', 3000, 'echo 2');

    // The origin saw the handshake with the target Host and the Upgrade fields.
    const seen = upgradeSeen.at(-1)!;
    expect(seen.url).toBe('/ws');
    expect(seen.headers.host).toBe(`127.0.0.1:${upgrading.port}`);
    expect(seen.headers.upgrade).toBe('websocket');
    expect(seen.headers['sec-websocket-key']).toBe('dGhlIHNhbXBsZSBub25jZQ==');

    c.socket.end();
    await c.until(() => c.closed, 3000, 'close');
    const line = await px.access.waitFor((l) => l.url === `${upgrading.url}/ws`);
    expect(line).toMatchObject({ kind: 'upgrade', status: 101, error: null });
    expect(line.bytesIn).toBeGreaterThanOrEqual('ping 1second message'.length);
    expect(line.bytesOut).toBeGreaterThanOrEqual('hello from origin\nPING 1SECOND MESSAGE'.length);
  });

  it('bytes sent right behind the upgrade request (same write) reach the origin', async () => {
    const c = await raw();
    c.write(upgradeRequest(`${upgrading.url}/ws-head`) + 'early');
    const [r] = await c.responses(1, ['GET']);
    expect(r!.status).toBe(101);
    await c.until(() => c.received.toString().includes('EARLY'), 3000, 'early bytes echoed');
  });

  it('an origin that refuses with a normal 403 response: the client gets that 403 and its body', async () => {
    const c = await raw();
    c.write(upgradeRequest(`${refusing.url}/ws`));
    const [r] = await c.responses(1, ['GET']);
    expect(r!.status).toBe(403);
    expect(r!.body.toString()).toBe('upgrade not allowed\n');
    expect(r!.headers['x-upgrade-asked']).toBe('websocket');
  });

  it('after relaying a refused upgrade the proxy closes the connection it announced as closing, and logs the exchange', async () => {
    const c = await raw();
    c.write(upgradeRequest(`${refusing.url}/ws-refused-log`));
    const [r] = await c.responses(1, ['GET']);
    expect(r!.status).toBe(403);
    expect(r!.headers.connection).toBe('close');
    await c.until(() => c.closed, 2000, 'the proxy to close the client connection after "Connection: close"');
    const line = await px.access.waitFor((l) => l.url === `${refusing.url}/ws-refused-log`, 2000);
    expect(line).toMatchObject({ kind: 'upgrade', status: 403 });
  });

  it('an upgrade request the proxy itself refuses (loop) gets 508, then the connection closes and is logged', async () => {
    const c = await raw();
    c.write(upgradeRequest(`${upgrading.url}/ws-loop`, 'Via: 1.1 egressd\r\n'));
    const [r] = await c.responses(1, ['GET']);
    expect(r!.status).toBe(508);
    expect(r!.headers['x-egressd-error']).toMatch(/^LOOP_DETECTED: /);
    expect(upgradeSeen.some((q) => q.url === '/ws-loop')).toBe(false);
    await c.until(() => c.closed, 2000, 'the proxy to close the client connection after the 508');
    const line = await px.access.waitFor((l) => l.url === `${upgrading.url}/ws-loop`, 2000);
    expect(line).toMatchObject({ kind: 'upgrade', status: 508, error: 'LOOP_DETECTED' });
  });

  it('an origin whose upgrade handler answers 403 and closes: the client gets that 403', async () => {
    const c = await raw();
    c.write(upgradeRequest(`${upgrading.url}/ws-raw-refuse`));
    const [r] = await c.responses(1, ['GET']);
    expect(r!.status).toBe(403);
    expect(r!.body.toString()).toBe('no upgrades\n');
  });

  it('an Upgrade header on a request that is not upgrading (no Connection: upgrade) is dropped', async () => {
    const c = await raw();
    c.write(`GET ${upgrading.url}/plain HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n`);
    const [r] = await c.responses(1, ['GET']);
    expect(r!.status).toBe(200);
    expect(r!.body.toString()).toBe('no');
    const seen = upgrading.requests.at(-1)!;
    expect(seen.url).toBe('/plain');
    expect(seen.headers.upgrade).toBeUndefined();
  });
});

describe('origin-form requests (someone browsing to the proxy)', () => {
  it('GET / gets the help page, nothing is forwarded', async () => {
    const before = upgrading.requests.length + refusing.requests.length;
    const c = await raw();
    // Host names a real origin: a naive proxy would forward there.
    c.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${upgrading.port}\r\nAccept: text/html\r\n\r\n`);
    const [r] = await c.responses(1, ['GET']);
    expect(r!.status).toBe(200);
    expect(r!.headers['content-type']).toMatch(/^text\/html/);
    expect(r!.body.toString()).toContain('This is egressd, an HTTP proxy');
    expect(r!.body.toString()).not.toBe('no');
    expect(upgrading.requests.length + refusing.requests.length).toBe(before);
    const line = await px.access.waitFor((l) => l.kind === 'local' && l.url === '/');
    expect(line).toMatchObject({ status: 200, upstream: null });
  });

  it('any origin-form path, and HEAD, are answered locally without a body for HEAD', async () => {
    const c = await raw();
    c.write(`GET /some/page?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\nHEAD / HTTP/1.1\r\nHost: localhost\r\n\r\n`);
    const rs = await c.responses(2, ['GET', 'HEAD']);
    expect(rs[0]!.status).toBe(200);
    expect(rs[0]!.body.toString()).toContain('an HTTP proxy');
    expect(rs[1]!.status).toBe(200);
    expect(rs[1]!.body.length).toBe(0);
  });

  it('curl browsing straight to the proxy gets the help page', async () => {
    const { execFile } = await import('node:child_process');
    const out = await new Promise<string>((resolve, reject) =>
      execFile('curl', ['-sS', '--noproxy', '*', '-w', '\n%{http_code}', `${px.url}/`], (err, stdout) => (err ? reject(err) : resolve(stdout))),
    );
    expect(out.endsWith('\n200')).toBe(true);
    expect(out).toContain(`HTTP_PROXY=http://127.0.0.1:${px.port}`);
  });
});
