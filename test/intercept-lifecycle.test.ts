import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from './helpers/err-net.js';
import { makeOriginCa, ORIGIN_NAMES, type KeyCert, type OriginCa } from './helpers/icp-certs.js';
import { getRequest, RawHttp, tlsThroughProxy } from './helpers/icp-client.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import type { Origin } from './helpers/origin.js';

/**
 * Interception across a config reload (exclude list, turning interception on) and a
 * shutdown (in-flight decrypted requests drain; idle decrypted keep-alive connections
 * are closed at once, as plain keep-alive connections are).
 */

let originCa: OriginCa;
let originCert: KeyCert;
let origin: Origin;
let files: ReturnType<typeof tempFiles>;
let originCaFile: string;
let px: IcpProxy | undefined;

beforeAll(async () => {
  originCa = makeOriginCa();
  originCert = originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] });
  origin = await startHttpsOrigin(originCert, 'A', (req, res) => {
    const body = `origin ${req.url}`;
    const send = (): void => {
      res.writeHead(200, { 'content-length': Buffer.byteLength(body) });
      res.end(body);
    };
    if (req.url === '/slow') setTimeout(send, 400);
    else send();
  });
  files = tempFiles();
  originCaFile = files.write('origin-ca.pem', originCa.cert);
});

afterEach(async () => {
  await px?.close();
  px = undefined;
});

afterAll(async () => {
  await origin?.close();
  files?.remove();
});

function config(tls: Record<string, unknown> = {}): Record<string, unknown> {
  return { proxy: { connectPorts: [origin.port] }, tls: { upstreamCaFiles: [originCaFile], ...tls } };
}

async function shown(p: IcpProxy, host: string): Promise<'origin' | 'leaf'> {
  const ca = [originCa.cert, ...(p.caPem ? [p.caPem] : [])];
  const t = await tlsThroughProxy(p.port, `${host}:${origin.port}`, { servername: host, ca });
  t.tls.destroy();
  return t.peer.fingerprint256 === originCert.fingerprint256 ? 'origin' : 'leaf';
}

describe('reload', () => {
  it('a host added to tls.exclude is tunnelled after the reload', async () => {
    px = await startIcpProxy({ config: config({ intercept: 'all' }) });
    expect(await shown(px, 'excluded.test')).toBe('leaf');
    const r = await px.reconfigure(config({ intercept: 'all', exclude: ['excluded.test'] }));
    expect(r).toMatchObject({ ok: true });
    expect(await shown(px, 'excluded.test')).toBe('origin');
    expect(await shown(px, 'inc.test')).toBe('leaf');
  });

  it('turning interception on by reload creates the CA and intercepts from then on', async () => {
    px = await startIcpProxy({ config: config({ intercept: 'off' }) });
    expect(existsSync(join(px.caDir, 'ca.pem'))).toBe(false);
    expect(await shown(px, 'inc.test')).toBe('origin');
    const r = await px.reconfigure(config({ intercept: 'all' }));
    expect(r).toMatchObject({ ok: true });
    await px.server.waitFor((l) => /created a new interception CA/.test(l.msg));
    expect(await shown(px, 'inc.test')).toBe('leaf');
    // The download endpoint serves the CA created by the reload.
    const served = await (await fetch(`${px.url}/egressd-ca.crt`)).text();
    expect(new X509Certificate(served).fingerprint256).toBe(new X509Certificate(px.caPem).fingerprint256);
  });
});

describe('request head timeout inside the decrypted tunnel', () => {
  it('a client trickling its request head inside the tunnel gets 408 REQUEST_TIMEOUT after timeouts.requestHeaders, as on the listener', async () => {
    px = await startIcpProxy({ config: { ...config({ intercept: 'all' }), timeouts: { requestHeaders: '1s' } } });
    const host = `localhost:${origin.port}`;
    const t = await tlsThroughProxy(px.port, host, { servername: 'localhost', ca: px.caPem });
    const head = Buffer.from(`GET /slow-head HTTP/1.1\r\nHost: ${host}\r\nX-Slow: ${'z'.repeat(200)}`);
    const chunks: Buffer[] = [];
    t.tls.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise<number>((resolve) => t.tls.once('close', () => resolve(Date.now())));
    const started = Date.now();
    let i = 0;
    const timer = setInterval(() => {
      if (t.tls.destroyed || i >= head.length) return;
      t.tls.write(head.subarray(i, i + 1));
      i++;
    }, 200);
    const closedAt = await Promise.race([closed, sleep(5000).then(() => 0)]);
    clearInterval(timer);
    t.tls.destroy();
    expect(closedAt, 'the proxy never cut the trickling client').toBeGreaterThan(0);
    expect(closedAt - started).toBeLessThan(4000);
    expect(Buffer.concat(chunks).toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
  });
});

describe('shutdown', () => {
  it('a decrypted request in flight finishes during the grace period', async () => {
    px = await startIcpProxy({ config: config({ intercept: 'all' }) });
    const host = `localhost:${origin.port}`;
    const t = await tlsThroughProxy(px.port, host, { servername: 'localhost', ca: px.caPem });
    const raw = new RawHttp(t.tls);
    const pending = raw.request(getRequest(host, '/slow'));
    const before = origin.requests.length;
    while (!origin.requests.slice(Math.max(0, before - 1)).some((r) => r.url === '/slow')) await sleep(10);
    const closing = px.proxy.close(2000);
    const res = await pending;
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('origin /slow');
    await closing;
    const line = px.access.lines.find((l) => l.kind === 'http' && l.url === `https://${host}/slow`);
    expect(line).toMatchObject({ status: 200, error: null });
    t.tls.destroy();
    await px.close().catch(() => {});
    px = undefined;
  });

  it('an idle keep-alive connection inside an intercepted tunnel is closed at once, not after the whole grace', async () => {
    px = await startIcpProxy({ config: config({ intercept: 'all' }) });
    const host = `localhost:${origin.port}`;
    const t = await tlsThroughProxy(px.port, host, { servername: 'localhost', ca: px.caPem });
    const raw = new RawHttp(t.tls);
    expect((await raw.request(getRequest(host, '/idle'))).status).toBe(200);
    const clientClosed = new Promise<number>((resolve) => t.tls.once('close', () => resolve(Date.now())));
    const started = Date.now();
    await px.proxy.close(3000);
    const elapsed = Date.now() - started;
    const closedAfter = (await clientClosed) - started;
    // Plain keep-alive connections are closed at once (lifecycle-drain.test.ts); the
    // decrypted one is just as idle: the inner HTTP server knows no request is running.
    expect(elapsed).toBeLessThan(1000);
    expect(closedAfter).toBeLessThan(1000);
    px = undefined;
  });
});
