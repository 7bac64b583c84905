import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { upstreamRoots, SYSTEM_BUNDLES } from '../src/tls/system-roots.js';
import { openTunnel, readToEnd } from './helpers/err-net.js';
import { makeOriginCa, ORIGIN_NAMES, type OriginCa } from './helpers/icp-certs.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { connectLine, startIcpProxy } from './helpers/icp-proxy.js';
import type { Origin } from './helpers/origin.js';
import { captureClientHello } from './tls/helpers.js';

/**
 * Interception hardening: a client that sends its ClientHello and then stalls is cut
 * after tls.helloTimeout; leaves issued just before shutdown reach the disk cache;
 * tls.upstreamRoots: system trusts the OS bundle (SSL_CERT_FILE here), bundled does not.
 */

let originCa: OriginCa;
let origin: Origin;
let files: ReturnType<typeof tempFiles>;

beforeAll(async () => {
  originCa = makeOriginCa('system-store origin CA');
  origin = await startHttpsOrigin(originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] }), 'S');
  files = tempFiles();
});

afterAll(async () => {
  await origin?.close();
  files?.remove();
});

describe('a client that stalls after its ClientHello', () => {
  it('is closed after tls.helloTimeout and logged as TLS_HANDSHAKE_TIMEOUT', async () => {
    const px = await startIcpProxy({ config: { proxy: { connectPorts: [origin.port] }, tls: { helloTimeout: '400ms' } } });
    try {
      const hello = await captureClientHello({ servername: 'localhost' });
      const t = await openTunnel(px.port, `localhost:${origin.port}`);
      expect(t.status).toBe(200);
      const started = Date.now();
      t.socket.write(hello);
      // The proxy answers with its ServerHello and certificate, then waits for a client
      // that never sends its Finished.
      const { how } = await readToEnd(t.socket, t.rest, 5000);
      expect(how === 'end' || how === 'close' || how === 'error').toBe(true);
      expect(Date.now() - started).toBeGreaterThanOrEqual(350);
      const line = await connectLine(px, `localhost:${origin.port}`);
      expect(line.error).toBe('TLS_HANDSHAKE_TIMEOUT');
      expect(line.reason).toMatch(/did not complete the TLS handshake for localhost within 400 ms/);
    } finally {
      await px.close();
    }
  });
});

describe('leaf cache at shutdown', () => {
  it('a leaf still being issued when close() is called is on disk once close() resolves', async () => {
    const caDir = join(files.dir, 'ca-flush');
    const px = await startIcpProxy({ caDir, config: { proxy: { connectPorts: [origin.port] } } });
    const hello = await captureClientHello({ servername: 'flush.localhost' });
    const t = await openTunnel(px.port, `flush.localhost:${origin.port}`);
    t.socket.on('error', () => undefined);
    // Close as soon as the issuance has begun: it (and its disk write) is still under way.
    t.socket.write(hello);
    const leaves = () => px.proxy['interception']?.interceptor.leaves.stats;
    const deadline = Date.now() + 5000;
    while (!leaves()?.issuing && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    // The file is written after the issuance ends: it cannot be there yet, so only the shutdown flush can put it there.
    expect(leaves()?.issuing).toBe(1);
    expect(existsSync(join(caDir, 'leaves', 'hosts', 'flush.localhost.pem'))).toBe(false);
    await px.close();
    t.socket.destroy();
    const stored = readdirSync(join(caDir, 'leaves', 'hosts'));
    expect(stored).toContain('flush.localhost.pem');
  });
});

describe('tls.upstreamRoots', () => {
  it('system reads SSL_CERT_FILE when set, else the first distribution bundle found', () => {
    const bundle = files.write('bundle.pem', originCa.cert);
    expect(upstreamRoots('system', { SSL_CERT_FILE: bundle })).toEqual({ pems: [originCa.cert], source: bundle });
    const found = upstreamRoots('system', {});
    // This machine (Debian) has /etc/ssl/certs/ca-certificates.crt.
    expect(SYSTEM_BUNDLES).toContain(found.source);
    expect(found.pems[0]).toContain('BEGIN CERTIFICATE');
  });

  it('system falls back to the bundled roots when no bundle is readable; bundled is Node\'s list', () => {
    expect(upstreamRoots('system', { SSL_CERT_FILE: '/nonexistent/bundle.pem' }).source).toBe('bundled');
    const b = upstreamRoots('bundled', { SSL_CERT_FILE: files.write('b2.pem', originCa.cert) });
    expect(b.source).toBe('bundled');
    expect(b.pems.length).toBe(rootCertificates.length);
  });

  it('an origin signed by a CA only in the system bundle is trusted with system, refused with bundled', async () => {
    const saved = process.env.SSL_CERT_FILE;
    process.env.SSL_CERT_FILE = files.write('system.pem', originCa.cert);
    const sys = await startIcpProxy({ config: { proxy: { connectPorts: [origin.port] } } });
    const bun = await startIcpProxy({ config: { proxy: { connectPorts: [origin.port] }, tls: { upstreamRoots: 'bundled' } } });
    try {
      for (const [px, want] of [[sys, 200], [bun, 502]] as const) {
        const agent = new ProxyAgent({ uri: px.url, requestTls: { ca: px.caPem } });
        try {
          const res = await request(`https://localhost:${origin.port}/roots`, { dispatcher: agent });
          await res.body.text();
          expect(res.statusCode).toBe(want);
          if (want === 502) expect(String(res.headers['x-egressd-error'])).toMatch(/^UPSTREAM_CERT_INVALID/);
        } finally {
          await agent.close();
        }
      }
    } finally {
      if (saved === undefined) delete process.env.SSL_CERT_FILE;
      else process.env.SSL_CERT_FILE = saved;
      await sys.close();
      await bun.close();
    }
  });
});
