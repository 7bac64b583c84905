import { connect } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openTunnel, readBytes, readToEnd, sleep, startEcho, type TcpServer } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/** Graceful shutdown in process: ProxyServer.close(graceMs). */
describe('draining on shutdown', () => {
  let echo: TcpServer;
  let origin: Origin;
  let px: TestProxy | undefined;
  beforeEach(async () => {
    echo = await startEcho();
    origin = await startOrigin((_req, res) => res.end('ok'));
    px = await startTestProxy({ proxy: { connectPorts: [echo.port] } });
  });
  afterEach(async () => {
    await px?.close(0).catch(() => {});
    px = undefined;
    await echo.close();
    await origin.close();
  });

  it('a tunnel keeps working during the grace period and close() waits for it to end', async () => {
    const t = await openTunnel(px!.port, `127.0.0.1:${echo.port}`);
    const closing = px!.close(3000);
    let closed = false;
    void closing.then(() => (closed = true));
    await sleep(200);
    expect(closed).toBe(false);
    t.socket.write('still-here');
    const got = await readBytes(t.socket, 10, t.rest);
    expect(got.toString()).toBe('still-here');
    t.socket.end();
    const t0 = Date.now();
    await closing;
    expect(Date.now() - t0).toBeLessThan(1000);
    const line = await px!.access.waitFor((l) => l.msg === 'tunnel');
    expect(line).toMatchObject({ status: 200, bytesIn: 10, bytesOut: 10 });
    px = undefined;
  });

  it('a tunnel still open when the grace expires is cut, and its log line says so', async () => {
    const t = await openTunnel(px!.port, `127.0.0.1:${echo.port}`);
    const t0 = Date.now();
    await px!.close(300);
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(1500);
    const { how } = await readToEnd(t.socket, t.rest, 2000);
    expect(how).not.toBe('timeout');
    const line = await px!.access.waitFor((l) => l.msg === 'tunnel');
    expect(line.status).toBe(200);
    expect(line.error, 'a tunnel cut by shutdown must carry an error in the access log').not.toBeNull();
    px = undefined;
  });

  it('closes idle keep-alive client connections at once and refuses new connections', async () => {
    const s = connect(px!.port, '127.0.0.1');
    s.on('error', () => {});
    await new Promise<void>((r) => s.once('connect', () => r()));
    s.write(`GET ${origin.url}/ka HTTP/1.1\r\nHost: x\r\n\r\n`);
    await readBytes(s, 12);
    const ended = readToEnd(s, Buffer.alloc(0), 2000);
    const closing = px!.close(5000);
    expect((await ended).how).not.toBe('timeout');
    const port = px!.port;
    await closing;
    const refused = await new Promise<string>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.on('connect', () => {
        c.destroy();
        resolve('connected');
      });
      c.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(refused).toBe('ECONNREFUSED');
    px = undefined;
  });
});
