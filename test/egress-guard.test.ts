import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig } from '../src/config/load.js';
import { ProxyServer } from '../src/server/proxy-server.js';
import { curl, headersOf, openTunnel, readToEnd, startEcho, type TcpServer } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { baseConfig, LogSink, merge, startTestProxy, type TestProxy } from './helpers/proxy.js';
import { rawExchange, statusOf } from './helpers/raw.js';

/** GET an absolute URI through the proxy with node:http; resolves status, headers, body. */
function viaProxy(proxyPort: number, url: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: proxyPort, method: 'GET', path: url, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

describe('egress guard with no egress.allowPrivate', () => {
  let origin: Origin;
  let echo: TcpServer;
  let px: TestProxy;
  beforeAll(async () => {
    origin = await startOrigin((_req, res) => res.end('should never be reached'));
    echo = await startEcho();
    px = await startTestProxy({ egress: { allowPrivate: [] }, proxy: { connectPorts: [443, 80, origin.port, echo.port] } });
  });
  afterAll(async () => {
    await px.close();
    await origin.close();
    await echo.close();
  });

  const destinations = (): string[] => [
    `http://127.0.0.1:${origin.port}/`,
    `http://127.1.2.3:${origin.port}/`,
    'http://10.1.2.3/',
    'http://192.168.0.1/',
    'http://172.16.5.5/',
    'http://100.64.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://0.0.0.0/',
    'http://224.0.0.1/',
    `http://[::1]:${origin.port}/`,
    `http://[::ffff:127.0.0.1]:${origin.port}/`,
    'http://[::ffff:a9fe:a9fe]/', // 169.254.169.254 as hex IPv4-mapped
    'http://[fd00:ec2::254]/',
    'http://[fe80::1]/',
  ];

  it('refuses HTTP requests to loopback, private, link-local, CGNAT, multicast and metadata addresses with 403 DESTINATION_FORBIDDEN', async () => {
    for (const url of destinations()) {
      const r = await viaProxy(px.port, url);
      expect(r.status, url).toBe(403);
      expect(String(r.headers['x-egressd-error']), url).toMatch(/^DESTINATION_FORBIDDEN: /);
      expect(r.body, url).toContain('DESTINATION_FORBIDDEN');
      const line = await px.access.waitFor((l) => l.url === url);
      expect(line, url).toMatchObject({ status: 403, error: 'DESTINATION_FORBIDDEN' });
    }
    expect(origin.requests).toHaveLength(0);
    expect(origin.connections).toBe(0);
  });

  it('refuses CONNECT to the same addresses with 403 DESTINATION_FORBIDDEN', async () => {
    const targets = [
      `127.0.0.1:${echo.port}`,
      `[::1]:${echo.port}`,
      `[::ffff:127.0.0.1]:${echo.port}`,
      '10.0.0.1:443',
      '169.254.169.254:80',
      '192.168.1.1:443',
    ];
    for (const target of targets) {
      const t = await openTunnel(px.port, target);
      expect(t.status, target).toBe(403);
      expect(headersOf(t.head)['x-egressd-error'], target).toMatch(/^DESTINATION_FORBIDDEN: /);
      t.socket.destroy();
    }
    expect(echo.accepted).toHaveLength(0);
  });

  it('curl through the proxy to a loopback origin gets 403 (HTTP and CONNECT)', async () => {
    const plain = await curl(['-x', px.url, '-o', '/dev/null', '-w', '%{http_code}', `http://127.0.0.1:${origin.port}/`]);
    expect(plain.stdout).toBe('403');
    const tunnel = await curl(['-p', '-x', px.url, '-o', '/dev/null', '-w', '%{http_connect}', `http://127.0.0.1:${origin.port}/`]);
    expect(tunnel.stdout).toBe('403');
    expect(origin.connections).toBe(0);
  });
});

describe('egress guard with egress.allowPrivate [127.0.0.1/32]', () => {
  let origin: Origin;
  let echo: TcpServer;
  let px: TestProxy;
  beforeAll(async () => {
    origin = await startOrigin((req, res) => res.end(`hello ${req.url}`));
    echo = await startEcho();
    px = await startTestProxy({ egress: { allowPrivate: ['127.0.0.1/32'] }, proxy: { connectPorts: [echo.port] } });
  });
  afterAll(async () => {
    await px.close();
    await origin.close();
    await echo.close();
  });

  it('lets HTTP requests to 127.0.0.1 through', async () => {
    const r = await viaProxy(px.port, `http://127.0.0.1:${origin.port}/open`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('hello /open');
  });

  it('lets IPv4-mapped [::ffff:127.0.0.1] through as 127.0.0.1', async () => {
    const r = await viaProxy(px.port, `http://[::ffff:127.0.0.1]:${origin.port}/mapped`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('hello /mapped');
  });

  it('lets CONNECT to 127.0.0.1 through', async () => {
    const t = await openTunnel(px.port, `127.0.0.1:${echo.port}`);
    expect(t.status).toBe(200);
    t.socket.end('tunnelled');
    const { data } = await readToEnd(t.socket, t.rest);
    expect(data.toString()).toBe('tunnelled');
  });

  it('still refuses the rest of 127.0.0.0/8 and other private ranges', async () => {
    const r = await viaProxy(px.port, `http://127.0.0.2:${origin.port}/`);
    expect(r.status).toBe(403);
    const m = await viaProxy(px.port, 'http://169.254.169.254/');
    expect(m.status).toBe(403);
    expect(String(m.headers['x-egressd-error'])).toMatch(/^DESTINATION_FORBIDDEN: /);
  });
});

describe('egress guard with egress.allowPrivate [::1/128]', () => {
  let origin6: Origin;
  let px: TestProxy;
  beforeAll(async () => {
    origin6 = await startOrigin((req, res) => res.end(`v6 ${req.headers.host}`), { host: '::1' });
    px = await startTestProxy({ egress: { allowPrivate: ['::1/128'] } });
  });
  afterAll(async () => {
    await px.close();
    await origin6.close();
  });

  it('lets an IPv6 loopback destination through, with Host in brackets', async () => {
    const r = await viaProxy(px.port, `http://[::1]:${origin6.port}/`);
    expect(r.status).toBe(200);
    expect(r.body).toBe(`v6 [::1]:${origin6.port}`);
  });

  it('does not open IPv4 loopback by allowing ::1', async () => {
    const r = await viaProxy(px.port, `http://127.0.0.1:${origin6.port}/`);
    expect(r.status).toBe(403);
  });
});

describe('host names that resolve to private addresses (hosts file)', () => {
  let origin: Origin;
  let dir: string;
  let proxies: ProxyServer[] = [];
  beforeAll(async () => {
    origin = await startOrigin((req, res) => res.end(`named ${req.headers.host}`));
    dir = mkdtempSync(join(tmpdir(), 'egressd-egress-'));
    writeFileSync(join(dir, 'hosts'), '127.0.0.1 localhost internal.example.test\n10.9.8.7 intranet.example.test\n');
  });
  afterEach(async () => {
    for (const p of proxies) await p.close(0);
    proxies = [];
  });
  afterAll(async () => {
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  });

  async function start(allowPrivate: string[]): Promise<{ port: number; access: LogSink }> {
    const file = join(dir, `egressd-${allowPrivate.length}.yaml`);
    writeFileSync(file, stringify(merge(baseConfig(), { egress: { allowPrivate } })));
    const access = new LogSink();
    const proxy = new ProxyServer(loadConfig(file), { hostsFile: join(dir, 'hosts'), accessLog: access, serverLog: new LogSink() });
    proxies.push(proxy);
    const [bound] = await proxy.listen();
    return { port: bound!.port, access };
  }

  it('refuses localhost and a name pinned to 127.0.0.1 with 403 DESTINATION_FORBIDDEN', async () => {
    const { port, access } = await start([]);
    for (const host of ['localhost', 'internal.example.test', 'INTERNAL.example.test.', 'intranet.example.test']) {
      const url = `http://${host}:${origin.port}/`;
      const r = await viaProxy(port, url);
      expect(r.status, host).toBe(403);
      expect(String(r.headers['x-egressd-error']), host).toMatch(/^DESTINATION_FORBIDDEN: /);
    }
    const line = await access.waitFor((l) => String(l.url).includes('internal.example.test'));
    expect(line).toMatchObject({ status: 403, error: 'DESTINATION_FORBIDDEN' });
    expect(origin.requests).toHaveLength(0);
  });

  it('lets the same name through when 127.0.0.1/32 is allowed (so the hosts file was used)', async () => {
    const { port } = await start(['127.0.0.1/32']);
    const r = await viaProxy(port, `http://internal.example.test:${origin.port}/`);
    expect(r.status).toBe(200);
    expect(r.body).toBe(`named internal.example.test:${origin.port}`);
  });
});

describe('the proxy itself as a destination', () => {
  let px: TestProxy;
  let wild: TestProxy;
  beforeAll(async () => {
    px = await startTestProxy();
    wild = await startTestProxy({ listeners: [{ address: '0.0.0.0', port: 0 }], clients: { allow: ['127.0.0.0/8'] } });
  });
  afterAll(async () => {
    await px.close();
    await wild.close();
  });

  it('refuses an HTTP request to its own listening address with 508 LOOP_DETECTED', async () => {
    const url = `http://127.0.0.1:${px.port}/`;
    const r = await viaProxy(px.port, url);
    expect(r.status).toBe(508);
    expect(String(r.headers['x-egressd-error'])).toMatch(/^LOOP_DETECTED: /);
    const line = await px.access.waitFor((l) => l.url === url);
    expect(line).toMatchObject({ status: 508, error: 'LOOP_DETECTED' });
  });

  it('refuses CONNECT to its own listening address with 508 LOOP_DETECTED', async () => {
    px.writeConfig(merge(baseConfig(), { proxy: { connectPorts: [px.port] } }));
    expect(await px.proxy.reload()).toMatchObject({ ok: true });
    const t = await openTunnel(px.port, `127.0.0.1:${px.port}`);
    expect(t.status).toBe(508);
    expect(headersOf(t.head)['x-egressd-error']).toMatch(/^LOOP_DETECTED: /);
    t.socket.destroy();
  });

  it('detects the loop through a wildcard (0.0.0.0) listener reached via 127.0.0.1', async () => {
    const r = await rawExchange(wild.port, `GET http://127.0.0.1:${wild.port}/ HTTP/1.1\r\nHost: 127.0.0.1:${wild.port}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(r.text)).toBe(508);
    expect(headersOf(r.text)['x-egressd-error']).toMatch(/^LOOP_DETECTED: /);
  });
});
