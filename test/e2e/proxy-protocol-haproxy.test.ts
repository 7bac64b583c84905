import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { proxyRequest } from '../helpers/pol-client.js';
import { QuotaDir, type QuotaProxy } from '../helpers/quota-proxy.js';
import { freePort, RedisServer } from './redis-server.js';

/**
 * Scale-out behind a real L4 balancer: Debian's HAProxy (TCP mode, round robin, HTTP
 * health checks that send the header too) in front of two egressd instances — one fed
 * `send-proxy` (v1), the other `send-proxy-v2` with CRC32C and unique-id TLVs — that
 * share their quota counters through a redis-server started here. Clients connect to
 * HAProxy from 127.0.0.2 and 127.0.0.3; every TCP connection egressd sees comes from
 * HAProxy's 127.0.0.1. Both instances must log the real client, and a per-client
 * request quota must run out at the combined count, per real client.
 */

const BURST = 3;
let origin: Origin;
let redis: RedisServer;
let haproxy: ChildProcess | null = null;
let haproxyOut = '';
let frontPort = 0;
let dir: string;
const dirs: QuotaDir[] = [];
const instances: QuotaProxy[] = [];

async function egressd(version: 'v1' | 'v2'): Promise<QuotaProxy> {
  const d = new QuotaDir();
  dirs.push(d);
  const p = await d.start({
    listeners: [{ address: '127.0.0.1', port: 0, proxyProtocol: version, proxyFrom: ['127.0.0.1/32'] }],
    clients: { allow: ['127.0.0.0/8'] },
    proxy: { xForwardedFor: 'append' },
    quota: { store: 'redis', profiles: { perClient: { rate: '1/m', burst: BURST } }, anonymous: 'perClient', redis: { url: redis.url, prefix: 'pp-e2e:' } },
  });
  instances.push(p);
  return p;
}

/** Resolves once HAProxy accepts on its frontend (it binds after parsing the config). */
async function waitListening(port: number, deadline = Date.now() + 15_000): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline || haproxy?.exitCode !== null) throw new Error(`haproxy did not listen on ${port}:\n${haproxyOut}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  redis = await RedisServer.launch();
  origin = await startOrigin((req, res) => {
    const body = `xff=${req.headers['x-forwarded-for'] ?? '-'}`;
    res.writeHead(200, { 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const a = await egressd('v1');
  const b = await egressd('v2');
  dir = mkdtempSync(join(tmpdir(), 'egressd-haproxy-'));
  frontPort = await freePort();
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      '  maxconn 256',
      'defaults',
      '  mode tcp',
      '  timeout connect 2s',
      '  timeout client 10s',
      '  timeout server 10s',
      'frontend egress',
      `  bind 127.0.0.1:${frontPort}`,
      '  unique-id-format %{+X}o%ci:%cp_%fi:%fp_%Ts_%rt',
      '  default_backend egressd',
      'backend egressd',
      '  balance roundrobin',
      // HTTP checks to egressd's own help page: each one a header, then a request.
      '  option httpchk GET /',
      `  server a 127.0.0.1:${a.port} send-proxy check check-send-proxy inter 300ms`,
      `  server b 127.0.0.1:${b.port} send-proxy-v2 proxy-v2-options crc32c,unique-id check check-send-proxy inter 300ms`,
      '',
    ].join('\n'),
  );
  // -db: foreground, no daemon; killed by PID in afterAll.
  const child = spawn('haproxy', ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  haproxy = child;
  child.stdout!.on('data', (c: Buffer) => (haproxyOut += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (haproxyOut += c.toString()));
  await waitListening(frontPort);
});

afterAll(async () => {
  const running = (c: ChildProcess): boolean => c.exitCode === null && c.signalCode === null;
  if (haproxy && running(haproxy)) {
    const gone = once(haproxy, 'exit');
    process.kill(haproxy.pid!, 'SIGTERM');
    await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
    if (running(haproxy)) process.kill(haproxy.pid!, 'SIGKILL');
  }
  for (const p of instances) await p.close();
  await redis?.close();
  await origin?.close();
  for (const d of dirs) d.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const url = (p: string): string => `http://127.0.0.1:${origin.port}${p}`;

describe('HAProxy send-proxy / send-proxy-v2 in front of two egressd', () => {
  it('both instances log the real client; the quota of each client runs out at the combined count', async () => {
    const [a, b] = instances as [QuotaProxy, QuotaProxy];
    const statuses: number[] = [];
    // A new connection per request (agent: false): round robin alternates a, b, a, b, a.
    for (let i = 0; i < BURST + 2; i++) {
      const r = await proxyRequest(frontPort, url(`/c2-${i}`), { localAddress: '127.0.0.2' });
      statuses.push(r.status);
      if (r.status === 200) expect(r.body).toBe('xff=127.0.0.2');
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    // Another client behind the same balancer has its own allowance.
    const other = await proxyRequest(frontPort, url('/c3-0'), { localAddress: '127.0.0.3' });
    expect(other.status).toBe(200);
    expect(other.body).toBe('xff=127.0.0.3');

    for (const [name, p] of [['a (v1)', a], ['b (v2)', b]] as const) {
      const lines = p.access.lines.filter((l) => typeof l.url === 'string' && l.url.startsWith(url('/c')));
      expect(lines.length, `${name} served some of the requests`).toBeGreaterThan(0);
      for (const l of lines) expect(l.client, `${name} ${l.url}`).toBe(String(l.url).includes('/c3-') ? '127.0.0.3' : '127.0.0.2');
    }
    const refused = [...a.access.lines, ...b.access.lines].filter((l) => l.error === 'QUOTA_RATE');
    expect(refused.map((l) => l.client)).toEqual(['127.0.0.2', '127.0.0.2']);
  });

  it("HAProxy's HTTP health checks through the header are answered, and no header was refused on either instance", async () => {
    // A few check intervals (300 ms) have passed by now; wait for one more round to be sure.
    await new Promise((r) => setTimeout(r, 700));
    for (const p of instances) {
      const refusals = p.server.lines.filter((l) => typeof l.code === 'string' && l.code.startsWith('PROXY_PROTOCOL_'));
      expect(refusals).toEqual([]);
      // The HTTP checks (header, then GET / to egressd's help page) were answered.
      expect(p.access.lines.filter((l) => l.kind === 'local' && l.url === '/' && l.status === 200).length).toBeGreaterThan(0);
    }
    expect(haproxyOut).not.toMatch(/Server egressd\/[ab] is DOWN/);
  });
});
