import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeOriginCa, makeSelfSigned, ORIGIN_NAMES } from './helpers/icp-certs.js';
import { curlViaProxy } from './helpers/icp-client.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { requestLine, startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import type { Origin } from './helpers/origin.js';

/**
 * egressd is the TLS client of intercepted origins: it verifies their certificates
 * (system roots + tls.upstreamCaFiles, host name checked). A bad certificate gives the
 * client, who trusts egressd's CA, a 502 page over the decrypted connection that names
 * the problem, and UPSTREAM_CERT_INVALID in the log. tls.insecureHosts exempts a host.
 */

const DAY = 86_400_000;
const origins: Record<string, Origin> = {};
let files: ReturnType<typeof tempFiles>;
let px: IcpProxy;
let agent: ProxyAgent;

beforeAll(async () => {
  const trusted = makeOriginCa('trusted origin CA');
  const untrusted = makeOriginCa('unknown origin CA');
  const all = { dns: ORIGIN_NAMES, ips: ['127.0.0.1'] };
  origins.good = await startHttpsOrigin(trusted.issue({ commonName: 'localhost', ...all }), 'good');
  origins.selfSigned = await startHttpsOrigin(makeSelfSigned({ commonName: 'localhost', ...all }), 'self-signed');
  origins.expired = await startHttpsOrigin(
    trusted.issue({ commonName: 'localhost', ...all, notBefore: new Date(Date.now() - 30 * DAY), notAfter: new Date(Date.now() - DAY) }),
    'expired',
  );
  origins.wrongHost = await startHttpsOrigin(trusted.issue({ commonName: 'elsewhere.example', dns: ['elsewhere.example'] }), 'wrong-host');
  origins.unknownIssuer = await startHttpsOrigin(untrusted.issue({ commonName: 'localhost', ...all }), 'unknown-issuer');
  files = tempFiles();
  const caFile = files.write('trusted-origin-ca.pem', trusted.cert);
  px = await startIcpProxy({
    config: {
      proxy: { connectPorts: Object.values(origins).map((o) => o.port) },
      tls: { upstreamCaFiles: [caFile], insecureHosts: ['other.test'] },
    },
  });
  agent = new ProxyAgent({ uri: px.url, requestTls: { ca: px.caPem } });
});

afterAll(async () => {
  await agent?.close();
  await px?.close();
  for (const o of Object.values(origins)) await o.close();
  files?.remove();
});

async function get(host: string, o: Origin, path: string, accept?: string) {
  const res = await request(`https://${host}:${o.port}${path}`, { dispatcher: agent, headers: accept ? { accept } : {} });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

describe('origin certificate verification inside an intercepted tunnel', () => {
  it('control: an origin whose certificate chains to upstreamCaFiles is reached', async () => {
    const r = await get('localhost', origins.good!, '/ok');
    expect(r.status).toBe(200);
    expect(r.body).toBe(`origin good GET /ok host=localhost:${origins.good!.port}`);
  });

  const cases: [key: string, errno: string, words: RegExp][] = [
    ['selfSigned', 'DEPTH_ZERO_SELF_SIGNED_CERT', /self-signed/],
    ['expired', 'CERT_HAS_EXPIRED', /expired/],
    ['wrongHost', 'ERR_TLS_CERT_ALTNAME_INVALID', /another host name/],
    ['unknownIssuer', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', /unknown authority/],
  ];
  for (const [key, errno, words] of cases) {
    it(`${key}: the client gets a 502 page naming the problem (${errno}) and the log has UPSTREAM_CERT_INVALID`, async () => {
      const o = origins[key]!;
      const before = o.requests.length;
      const r = await get('localhost', o, `/${key}`, 'text/html,application/xhtml+xml');
      expect(r.status).toBe(502);
      expect(r.headers['content-type']).toMatch(/^text\/html/);
      expect(String(r.headers['x-egressd-error'])).toMatch(/^UPSTREAM_CERT_INVALID: /);
      expect(r.body).toMatch(words);
      expect(r.body).toContain(errno);
      expect(r.body).toContain('UPSTREAM_CERT_INVALID');
      expect(o.requests.length).toBe(before);
      const line = await requestLine(px, `https://localhost:${o.port}/${key}`);
      expect(line).toMatchObject({ status: 502, error: 'UPSTREAM_CERT_INVALID', tls: 'intercepted' });
      expect(String(line.reason)).toMatch(words);
    });
  }

  it('curl trusting the egressd CA sees the 502 text naming the problem (the tunnel itself is fine)', async () => {
    const o = origins.expired!;
    const r = await curlViaProxy(px.url, `https://localhost:${o.port}/curl`, { cacert: join(px.caDir, 'ca.pem') });
    expect(r.exit).toBe(0);
    expect(r.status).toBe(502);
    expect(r.body).toMatch(/expired.*UPSTREAM_CERT_INVALID/);
  });
});

describe('tls.insecureHosts', () => {
  it('a listed host is reached despite a self-signed certificate; the same origin by another name is still refused', async () => {
    const o = origins.selfSigned!;
    const ok = await get('other.test', o, '/insecure');
    expect(ok.status).toBe(200);
    expect(ok.body).toBe(`origin self-signed GET /insecure host=other.test:${o.port}`);
    const line = await requestLine(px, `https://other.test:${o.port}/insecure`);
    expect(line).toMatchObject({ status: 200, error: null, tls: 'intercepted' });
    const refused = await get('inc.test', o, '/insecure');
    expect(refused.status).toBe(502);
    expect(String(refused.headers['x-egressd-error'])).toMatch(/^UPSTREAM_CERT_INVALID: /);
  });

  it('a listed host is exempt from the host name check too', async () => {
    const o = origins.wrongHost!;
    const r = await get('other.test', o, '/wrong-name-ok');
    expect(r.status).toBe(200);
  });
});
