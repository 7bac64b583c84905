import { connect, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startAcProxy, type AcProxy } from './helpers/ac-proxy.js';
import { headersOf, openTunnel, sleep, startTcpServer, type TcpServer } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { statusOf } from './helpers/raw.js';

/**
 * Resource exhaustion through connections (issue 10): many slowloris clients, many idle
 * connections against the connection limits, many half-open tunnels. Each is bounded in
 * count and time, and checked through the proxy's own counters (admin /api/status
 * `active`): everything is released afterwards. Single-connection versions live in
 * errors-requests.test.ts (one slowloris), errors-limits.test.ts (limits) and
 * connect-tunnel.test.ts (half-close relayed, one idle tunnel).
 */

interface Active {
  connections: number;
  requests: number;
  tunnels: number;
}

async function active(px: AcProxy): Promise<Active> {
  const r = await fetch(`http://127.0.0.1:${px.adminPort}/api/status`);
  return ((await r.json()) as { active: Active }).active;
}

/** Poll the proxy's counters until `pred` holds (or fail with the last value). */
async function waitActive(px: AcProxy, pred: (a: Active) => boolean, timeoutMs = 5000): Promise<Active> {
  const end = Date.now() + timeoutMs;
  let last = await active(px);
  while (!pred(last)) {
    if (Date.now() > end) throw new Error(`proxy counters never matched: ${JSON.stringify(last)}`);
    await sleep(50);
    last = await active(px);
  }
  return last;
}

/** A raw client socket whose received bytes and close time are recorded. */
interface Client {
  socket: Socket;
  data: () => string;
  closedAt: number;
  closed: Promise<void>;
}

function client(port: number, opts: { localAddress?: string; allowHalfOpen?: boolean } = {}): Promise<Client> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress: opts.localAddress, allowHalfOpen: opts.allowHalfOpen ?? false });
    const chunks: Buffer[] = [];
    const c: Client = {
      socket,
      data: () => Buffer.concat(chunks).toString('latin1'),
      closedAt: 0,
      closed: new Promise((r) =>
        socket.once('close', () => {
          c.closedAt = Date.now();
          r();
        }),
      ),
    };
    socket.on('data', (b: Buffer) => chunks.push(b));
    socket.on('error', () => {});
    socket.once('connect', () => resolve(c));
    socket.once('error', reject);
  });
}

let origin: Origin;
const open: Socket[] = [];
beforeAll(async () => {
  origin = await startOrigin((req, res) => res.end(`ok ${req.url}`));
});
afterEach(() => {
  for (const s of open.splice(0)) s.destroy();
});
afterAll(async () => {
  await origin.close();
});

describe('slowloris: 40 clients trickling their request heads', () => {
  let px: AcProxy;
  beforeAll(async () => {
    px = await startAcProxy({ config: { timeouts: { requestHeaders: '1s' }, admin: { listen: { address: '127.0.0.1', port: 0 } } } });
  });
  afterAll(async () => {
    await px.close();
  });

  it('each is cut with 408 at timeouts.requestHeaders, a normal client is served meanwhile, and every socket is released', async () => {
    const N = 40;
    const slow = await Promise.all(Array.from({ length: N }, () => client(px.port)));
    open.push(...slow.map((c) => c.socket));
    const head = Buffer.from(`GET ${origin.url}/slow HTTP/1.1\r\nHost: x\r\nX-Slow: ${'z'.repeat(400)}`);
    const started = Date.now();
    let i = 0;
    const drip = setInterval(() => {
      for (const c of slow) if (!c.socket.destroyed && i < head.length) c.socket.write(head.subarray(i, i + 1));
      i++;
    }, 100);
    try {
      expect((await waitActive(px, (a) => a.connections >= N)).connections).toBe(N);
      // A normal client keeps being served while the trickling connections are open.
      const served: number[] = [];
      while (served.length < 8) {
        const r = await proxyRequest(px.port, `${origin.url}/normal${served.length}`);
        served.push(r.status);
        await sleep(100);
      }
      expect(served.every((s) => s === 200)).toBe(true);
      await Promise.race([Promise.all(slow.map((c) => c.closed)), sleep(5000)]);
    } finally {
      clearInterval(drip);
    }
    for (const c of slow) {
      expect(c.closedAt, 'a trickling client was never cut').toBeGreaterThan(0);
      const after = c.closedAt - started;
      // Node checks the head deadline about once a second (connectionsCheckingInterval).
      expect(after).toBeGreaterThanOrEqual(900);
      expect(after).toBeLessThan(3500);
      expect(statusOf(c.data())).toBe(408);
    }
    expect(px.access.lines.filter((l) => l.error === 'REQUEST_TIMEOUT').length).toBe(N);
    expect(await waitActive(px, (a) => a.connections === 0 && a.requests === 0)).toEqual({ connections: 0, requests: 0, tunnels: 0 });
  });
});

describe('many idle connections against limits.maxConnectionsPerClient', () => {
  let px: AcProxy;
  beforeAll(async () => {
    px = await startAcProxy({
      config: {
        limits: { maxConnectionsPerClient: 10, maxConnections: 100 },
        timeouts: { requestHeaders: '1s', clientIdle: '1s' },
        admin: { listen: { address: '127.0.0.1', port: 0 } },
      },
    });
  });
  afterAll(async () => {
    await px.close();
  });

  it('the excess over the per-client limit is refused with 503 and a log line; another address still gets in; idle ones are all closed after the timeouts', async () => {
    // 5 connections that did one request and then idle (keep-alive), 10 that never send.
    const kept: Client[] = [];
    for (let k = 0; k < 5; k++) {
      const c = await client(px.port);
      c.socket.write(`GET ${origin.url}/kept${k} HTTP/1.1\r\nHost: x\r\n\r\n`);
      kept.push(c);
    }
    const silent = await Promise.all(Array.from({ length: 10 }, () => client(px.port)));
    open.push(...kept.map((c) => c.socket), ...silent.map((c) => c.socket));
    await waitActive(px, (a) => a.connections === 15);
    const opened = Date.now();
    // 15 from 127.0.0.1 with a limit of 10: the last five were admitted as refused.
    // Their first request reads the reason instead of reaching the origin.
    const refused = silent.slice(5);
    for (const c of refused) c.socket.write(`GET ${origin.url}/excess HTTP/1.1\r\nHost: x\r\n\r\n`);
    await Promise.all(refused.map((c) => c.closed));
    for (const c of refused) {
      expect(statusOf(c.data())).toBe(503);
      expect(headersOf(c.data())['x-egressd-error']).toMatch(/^TOO_MANY_CONNECTIONS: connection limit per client \(10\)/);
    }
    expect(origin.requests.some((q) => q.url === '/excess')).toBe(false);
    expect(px.access.lines.filter((l) => l.error === 'TOO_MANY_CONNECTIONS').length).toBe(5);
    // Another client address is not affected by 127.0.0.1's connections.
    const other = await proxyRequest(px.port, `${origin.url}/other`, { localAddress: '127.0.0.2' });
    expect(other.status).toBe(200);
    // The rest idle out: keep-alive ones after clientIdle, silent ones after requestHeaders.
    const idle = [...kept, ...silent.slice(0, 5)];
    await Promise.race([Promise.all(idle.map((c) => c.closed)), sleep(5000)]);
    for (const c of idle) {
      expect(c.closedAt, 'an idle connection was never closed').toBeGreaterThan(0);
      expect(c.closedAt - opened).toBeLessThan(3500);
    }
    for (const c of kept) expect(statusOf(c.data())).toBe(200);
    expect(await waitActive(px, (a) => a.connections === 0)).toEqual({ connections: 0, requests: 0, tunnels: 0 });
    // And 127.0.0.1 is admitted again.
    expect((await proxyRequest(px.port, `${origin.url}/again`)).status).toBe(200);
  });
});

describe('many half-open CONNECT tunnels', () => {
  let px: AcProxy;
  let silentOrigin: TcpServer;
  let closingOrigin: TcpServer;
  beforeAll(async () => {
    // Never ends its side (and keeps reading): a client FIN leaves the tunnel half-open.
    silentOrigin = await startTcpServer((s) => s.resume(), { allowHalfOpen: true });
    // Ends its side at once and then never closes: the client side is left half-open.
    closingOrigin = await startTcpServer((s) => {
      s.resume();
      s.end('bye');
    }, { allowHalfOpen: true });
    px = await startAcProxy({
      config: {
        proxy: { connectPorts: [silentOrigin.port, closingOrigin.port] },
        timeouts: { tunnelIdle: '500ms' },
        admin: { listen: { address: '127.0.0.1', port: 0 } },
      },
    });
  });
  afterAll(async () => {
    await px.close();
    await silentOrigin.close();
    await closingOrigin.close();
  });

  it('20 client-half-closed and 20 origin-half-closed tunnels are reclaimed by tunnelIdle; counters return to 0', async () => {
    const N = 20;
    const clientClosed = await Promise.all(Array.from({ length: N }, () => openTunnel(px.port, `127.0.0.1:${silentOrigin.port}`, { allowHalfOpen: true })));
    const originClosed = await Promise.all(Array.from({ length: N }, () => openTunnel(px.port, `127.0.0.1:${closingOrigin.port}`, { allowHalfOpen: true })));
    const all = [...clientClosed, ...originClosed];
    open.push(...all.map((t) => t.socket));
    for (const t of all) expect(t.status).toBe(200);
    // A client-half-closed tunnel ends in a close; an origin-half-closed one has seen the
    // FIN relayed already, and a half-open client socket (allowHalfOpen) only learns that
    // the proxy let go when it writes again.
    const closed = clientClosed.map((t) => new Promise<number>((r) => t.socket.once('close', () => r(Date.now()))));
    for (const t of all) {
      t.socket.on('error', () => {});
      t.socket.resume();
    }
    for (const t of clientClosed) t.socket.end('last words');
    expect((await waitActive(px, (a) => a.tunnels === 2 * N)).tunnels).toBe(2 * N);
    const start = Date.now();
    const times = await Promise.race([Promise.all(closed), sleep(5000).then(() => null)]);
    expect(times, 'some client-half-closed tunnels were never reclaimed').not.toBeNull();
    for (const t of times!) expect(t - start).toBeLessThan(2500);
    expect(await waitActive(px, (a) => a.tunnels === 0 && a.connections === 0, 2500)).toEqual({ connections: 0, requests: 0, tunnels: 0 });
    const reset = originClosed.map((t) => new Promise<void>((r) => t.socket.once('close', () => r())));
    // The first write draws a reset, the next one fails on it.
    for (const t of originClosed) t.socket.write('anyone there?');
    await sleep(100);
    for (const t of originClosed) if (!t.socket.destroyed) t.socket.write('hello?');
    await Promise.race([Promise.all(reset), sleep(3000)]);
    expect(originClosed.filter((t) => !t.socket.closed).length, 'the proxy still held origin-half-closed tunnels').toBe(0);
    // The origins saw the proxy's side end too (they are half-open by choice).
    await sleep(100);
    for (const o of [silentOrigin, closingOrigin]) {
      expect(o.accepted.length).toBe(N);
      expect(o.accepted.filter((s) => !s.readableEnded && !s.closed).length).toBe(0);
    }
    expect(await waitActive(px, (a) => a.tunnels === 0 && a.connections === 0)).toEqual({ connections: 0, requests: 0, tunnels: 0 });
    const lines = px.access.lines.filter((l) => l.kind === 'connect');
    expect(lines.length).toBe(2 * N);
    expect(lines.every((l) => l.error === 'TUNNEL_IDLE')).toBe(true);
  });
});
