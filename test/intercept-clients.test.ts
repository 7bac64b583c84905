import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeOriginCa, ORIGIN_NAMES, type OriginCa } from './helpers/icp-certs.js';
import { curlViaProxy, tlsThroughProxy } from './helpers/icp-client.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { connectLine, lineAfter, requestLine, startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import type { Origin } from './helpers/origin.js';

/**
 * Real clients (curl, undici ProxyAgent) that trust egressd's CA reach an intercepted
 * HTTPS origin; clients that do not trust it fail the handshake and egressd logs the
 * rejection; devices can download the CA from the proxy itself.
 */

let originCa: OriginCa;
let origin: Origin;
let px: IcpProxy;
let files: ReturnType<typeof tempFiles>;
let caFile: string;
let originCaFile: string;

beforeAll(async () => {
  originCa = makeOriginCa();
  origin = await startHttpsOrigin(originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] }), 'A');
  files = tempFiles();
  originCaFile = files.write('origin-ca.pem', originCa.cert);
  px = await startIcpProxy({ config: { proxy: { connectPorts: [origin.port] }, tls: { upstreamCaFiles: [originCaFile] } } });
  caFile = join(px.caDir, 'ca.pem');
});

afterAll(async () => {
  await px?.close();
  await origin?.close();
  files?.remove();
});

describe('clients that trust the egressd CA', () => {
  it('curl --cacert ca.pem -x proxy https://localhost:PORT/ gets the origin page, and the log shows the decrypted request and the tunnel', async () => {
    const r = await curlViaProxy(px.url, `https://localhost:${origin.port}/hello?x=1`, { cacert: caFile });
    expect(r.stderr).toBe('');
    expect(r.exit).toBe(0);
    expect(r.status).toBe(200);
    expect(r.body).toBe(`origin A GET /hello?x=1 host=localhost:${origin.port}`);
    const req = await requestLine(px, `https://localhost:${origin.port}/hello?x=1`);
    expect(req).toMatchObject({ method: 'GET', status: 200, tls: 'intercepted', error: null, msg: 'request' });
    expect(req.upstream).toBe(`127.0.0.1:${origin.port}`);
    const tunnel = await connectLine(px, `localhost:${origin.port}`);
    expect(tunnel).toMatchObject({ method: 'CONNECT', status: 200, tls: 'intercepted', sni: 'localhost', error: null, msg: 'tunnel' });
  });

  it('the decrypted request\'s log line carries the tunnel\'s SNI, like its CONNECT line', async () => {
    const r = await curlViaProxy(px.url, `https://localhost:${origin.port}/sni`, { cacert: caFile });
    expect(r.status).toBe(200);
    const req = await requestLine(px, `https://localhost:${origin.port}/sni`);
    expect(req.tls).toBe('intercepted');
    expect(req.sni).toBe('localhost');
  });

  it('curl to https://127.0.0.1:PORT/ (no SNI) verifies the leaf by its IP SAN', async () => {
    const r = await curlViaProxy(px.url, `https://127.0.0.1:${origin.port}/ip`, { cacert: caFile });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(200);
    expect(r.body).toBe(`origin A GET /ip host=127.0.0.1:${origin.port}`);
    const req = await requestLine(px, `https://127.0.0.1:${origin.port}/ip`);
    expect(req).toMatchObject({ status: 200, tls: 'intercepted' });
    const tunnel = await connectLine(px, `127.0.0.1:${origin.port}`);
    expect(tunnel).toMatchObject({ tls: 'intercepted', sni: null, status: 200 });
  });

  it('undici ProxyAgent with requestTls.ca gets the origin page through the decrypted tunnel', async () => {
    const agent = new ProxyAgent({ uri: px.url, requestTls: { ca: px.caPem } });
    try {
      const res = await request(`https://localhost:${origin.port}/undici`, { dispatcher: agent, headers: { 'x-test': 'undici' } });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe(`origin A GET /undici host=localhost:${origin.port}`);
      const seen = origin.requests.find((q) => q.url === '/undici');
      expect(seen?.headers['x-test']).toBe('undici');
      const line = await requestLine(px, `https://localhost:${origin.port}/undici`);
      expect(line).toMatchObject({ status: 200, tls: 'intercepted', error: null });
    } finally {
      await agent.close();
    }
    // The tunnel's line is written when the agent closes it.
    await connectLine(px, `localhost:${origin.port}`, (l) => l.tls === 'intercepted' && l.status === 200);
  });
});

describe('clients that do not trust the egressd CA', () => {
  it('curl trusting only the origin CA fails the handshake; the log shows TLS_CLIENT_REJECTED with the host', async () => {
    const before = origin.requests.length;
    const r = await curlViaProxy(px.url, `https://other.test:${origin.port}/reject`, { cacert: originCaFile });
    // 60: peer certificate cannot be authenticated with known CA certificates.
    expect(r.exit).toBe(60);
    expect(r.stderr).toMatch(/certificate/i);
    const line = await connectLine(px, `other.test:${origin.port}`);
    expect(line).toMatchObject({ method: 'CONNECT', error: 'TLS_CLIENT_REJECTED', sni: 'other.test' });
    expect(String(line.reason)).toContain('other.test');
    expect(line.level).toBe(40);
    expect(origin.requests.length).toBe(before);
  });

  it('undici without the CA refuses the leaf (the origin is never asked)', async () => {
    const before = origin.requests.length;
    const agent = new ProxyAgent({ uri: px.url, requestTls: { ca: originCa.cert } });
    try {
      const err = await request(`https://localhost:${origin.port}/nope`, { dispatcher: agent }).then(
        () => null,
        (e: unknown) => e as Error & { code?: string; cause?: { code?: string } },
      );
      expect(err).not.toBeNull();
      expect(err!.code ?? err!.cause?.code).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_GET_ISSUER_CERT_LOCALLY/);
    } finally {
      await agent.close();
    }
    expect(origin.requests.length).toBe(before);
  });
});

describe('clients that reject the leaf after the handshake, without a TLS alert', () => {
  // node:tls (and GnuTLS-based libcurl, i.e. Debian's git) complete the handshake and
  // check the certificate afterwards; on failure they just close, sending no alert and
  // no request. The proxy still sees the tell-tale: a decrypted tunnel closed before a
  // single request. The issue asks for rejections to be a distinct outcome with the host.
  it('a Node client that does not trust the CA is logged as TLS_CLIENT_REJECTED with the host', async () => {
    const mark = px.access.lines.length;
    const err = await tlsThroughProxy(px.port, `icp.test:${origin.port}`, { servername: 'icp.test', ca: originCa.cert }).then(
      () => null,
      (e: NodeJS.ErrnoException) => e,
    );
    expect(err?.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.url === `icp.test:${origin.port}`);
    expect(line.error).toBe('TLS_CLIENT_REJECTED');
    expect(String(line.reason)).toContain('icp.test');
  });
});

describe('the CA served to devices', () => {
  it('GET /egressd-ca.crt returns the PEM that equals ca.pem', async () => {
    const res = await fetch(`${px.url}/egressd-ca.crt`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/x-x509-ca-cert');
    const pem = await res.text();
    expect(pem).toBe(readFileSync(caFile, 'utf8'));
    expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
    expect(pem).not.toMatch(/PRIVATE KEY/);
  });

  it('GET /egressd-ca.der parses as the same certificate', async () => {
    const res = await fetch(`${px.url}/egressd-ca.der`);
    expect(res.status).toBe(200);
    const der = Buffer.from(await res.arrayBuffer());
    const fromDer = new X509Certificate(der);
    const fromPem = new X509Certificate(readFileSync(caFile));
    expect(fromDer.fingerprint256).toBe(fromPem.fingerprint256);
    expect(fromDer.raw.equals(fromPem.raw)).toBe(true);
    expect(fromDer.ca).toBe(true);
  });

  it('the onboarding page on / shows the CA fingerprint and links the downloads', async () => {
    const res = await fetch(`${px.url}/`);
    expect(res.status).toBe(200);
    const html = await res.text();
    const fp = new X509Certificate(readFileSync(caFile)).fingerprint256;
    expect(html).toContain(fp);
    expect(html).toContain('href="/egressd-ca.crt"');
    expect(html).toContain('href="/egressd-ca.der"');
  });

  it('with serveCa: false neither the CA nor its fingerprint is served', async () => {
    const other = await startIcpProxy({ config: { tls: { serveCa: false } } });
    try {
      const fp = new X509Certificate(other.caPem).fingerprint256;
      const crt = await (await fetch(`${other.url}/egressd-ca.crt`)).text();
      expect(crt).not.toContain('BEGIN CERTIFICATE');
      expect((await fetch(`${other.url}/egressd-ca.der`)).status).toBe(404);
      expect((await fetch(`${other.url}/egressd-ca.crt`)).status).toBe(404);
      const page = await (await fetch(`${other.url}/`)).text();
      expect(page).not.toContain(fp);
    } finally {
      await other.close();
    }
  });
});
