import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeOriginCa, ORIGIN_NAMES, type KeyCert, type OriginCa } from './helpers/icp-certs.js';
import { getRequest, RawHttp, tlsThroughProxy } from './helpers/icp-client.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { lineAfter, startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import type { Origin } from './helpers/origin.js';

/**
 * What gets decrypted: tls.exclude, intercept: hosts with include, a policy rule's
 * `tls: intercept|tunnel`, and the SNI (peeked before deciding) for a CONNECT to an IP.
 * A tunnelled host shows the client the origin's own certificate (same fingerprint);
 * an intercepted one shows a leaf issued by egressd's CA.
 */

let originCa: OriginCa;
let originCert: KeyCert;
let origin: Origin;
let files: ReturnType<typeof tempFiles>;
let originCaFile: string;

beforeAll(async () => {
  originCa = makeOriginCa();
  originCert = originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] });
  origin = await startHttpsOrigin(originCert, 'A');
  files = tempFiles();
  originCaFile = files.write('origin-ca.pem', originCa.cert);
});

afterAll(async () => {
  await origin?.close();
  files?.remove();
});

interface Seen {
  /** 'origin': the origin's own certificate; 'leaf': one issued by the proxy's CA. */
  who: 'origin' | 'leaf' | 'other';
  cert: X509Certificate;
  /** The CONNECT tunnel's access-log line. */
  line: Record<string, unknown>;
  /** The origin's answer to a GET sent on the same TLS connection. */
  status: number;
  body: string;
}

/**
 * CONNECT `host:port` (host may be an IP), handshake with `sni` trusting both the
 * origin CA and the proxy CA (so the handshake verifies either way), GET / inside,
 * then close and read the tunnel's log line.
 */
async function through(px: IcpProxy, host: string, sni?: string): Promise<Seen> {
  const mark = px.access.lines.length;
  const authority = `${host}:${origin.port}`;
  const t = await tlsThroughProxy(px.port, authority, { servername: sni, ca: [px.caPem, originCa.cert] });
  const raw = new RawHttp(t.tls);
  const res = await raw.request(getRequest(`${sni ?? host}:${origin.port}`, '/choice', { connection: 'close' }));
  t.tls.destroy();
  const line = await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.url === authority);
  const ca = new X509Certificate(px.caPem);
  const who = t.peer.fingerprint256 === originCert.fingerprint256 ? 'origin' : t.peer.checkIssued(ca) && t.peer.verify(ca.publicKey) ? 'leaf' : 'other';
  return { who, cert: t.peer, line, status: res.status, body: res.body.toString() };
}

function config(tls: Record<string, unknown>): Record<string, unknown> {
  return { proxy: { connectPorts: [origin.port] }, tls: { upstreamCaFiles: [originCaFile], ...tls } };
}

describe('intercept: all with tls.exclude', () => {
  let px: IcpProxy;
  beforeAll(async () => {
    px = await startIcpProxy({ config: config({ intercept: 'all', exclude: ['excluded.test'] }) });
  });
  afterAll(async () => {
    await px?.close();
  });

  it('an excluded host is tunnelled untouched: the client sees the origin certificate', async () => {
    const s = await through(px, 'excluded.test', 'excluded.test');
    expect(s.who).toBe('origin');
    expect(s.cert.fingerprint256).toBe(originCert.fingerprint256);
    expect(s.status).toBe(200);
    expect(s.body).toBe(`origin A GET /choice host=excluded.test:${origin.port}`);
    expect(s.line).toMatchObject({ tls: 'tunnel', sni: 'excluded.test', status: 200, error: null });
    // Nothing was decrypted, so there is no request line for it.
    expect(px.access.lines.some((l) => l.kind === 'http' && String(l.url).includes('excluded.test'))).toBe(false);
  });

  it('control: another host on the same proxy is intercepted (leaf from the egressd CA)', async () => {
    const s = await through(px, 'inc.test', 'inc.test');
    expect(s.who).toBe('leaf');
    expect(s.cert.subjectAltName).toBe('DNS:inc.test');
    expect(s.status).toBe(200);
    expect(s.line).toMatchObject({ tls: 'intercepted', sni: 'inc.test' });
    await px.access.waitFor((l) => l.kind === 'http' && l.url === `https://inc.test:${origin.port}/choice` && l.tls === 'intercepted');
  });

  it('a CONNECT to an IP whose SNI names an excluded host is tunnelled (the SNI decides)', async () => {
    const s = await through(px, '127.0.0.1', 'excluded.test');
    expect(s.who).toBe('origin');
    expect(s.line).toMatchObject({ tls: 'tunnel', sni: 'excluded.test' });
  });

  it('a CONNECT to an IP with an SNI that is not excluded gets a leaf for the SNI name', async () => {
    const s = await through(px, '127.0.0.1', 'inc.test');
    expect(s.who).toBe('leaf');
    expect(s.cert.subjectAltName).toBe('DNS:inc.test');
    expect(s.line).toMatchObject({ tls: 'intercepted', sni: 'inc.test' });
  });
});

describe('intercept: hosts with include', () => {
  let px: IcpProxy;
  beforeAll(async () => {
    px = await startIcpProxy({ config: config({ intercept: 'hosts', include: ['inc.test', 'excluded.test'], exclude: ['excluded.test'] }) });
  });
  afterAll(async () => {
    await px?.close();
  });

  it('an included host is intercepted', async () => {
    const s = await through(px, 'inc.test', 'inc.test');
    expect(s.who).toBe('leaf');
    expect(s.line).toMatchObject({ tls: 'intercepted', sni: 'inc.test' });
  });

  it('a host that is not included is tunnelled untouched (origin certificate)', async () => {
    const s = await through(px, 'other.test', 'other.test');
    expect(s.who).toBe('origin');
    expect(s.cert.fingerprint256).toBe(originCert.fingerprint256);
    expect(s.status).toBe(200);
    expect(s.line).toMatchObject({ tls: 'tunnel', sni: 'other.test' });
  });

  it('exclude wins over include', async () => {
    const s = await through(px, 'excluded.test', 'excluded.test');
    expect(s.who).toBe('origin');
    expect(s.line).toMatchObject({ tls: 'tunnel' });
  });

  it('a CONNECT to an IP with an included SNI is intercepted; without SNI it is tunnelled', async () => {
    const named = await through(px, '127.0.0.1', 'inc.test');
    expect(named.who).toBe('leaf');
    expect(named.cert.subjectAltName).toBe('DNS:inc.test');
    const bare = await through(px, '127.0.0.1');
    expect(bare.who).toBe('origin');
    expect(bare.line).toMatchObject({ tls: 'tunnel', sni: null });
  });
});

const POLICY = `version: 1
rules:
  - id: no-secrets
    hosts: [icp.test]
    paths: ["/secret/**"]
    action: deny
    reason: No secrets
  - id: keep-tunnel
    hosts: [tun.test]
    action: tunnel
  - id: inspect
    hosts: [icp.test, excluded.test]
    action: allow
    tls: intercept
  - id: default
    action: allow
`;

describe('policy rules choose per host', () => {
  it('intercept: all, but a rule with action: tunnel keeps its host untouched', async () => {
    const px = await startIcpProxy({ policy: POLICY, config: config({ intercept: 'all' }) });
    try {
      const tun = await through(px, 'tun.test', 'tun.test');
      expect(tun.who).toBe('origin');
      expect(tun.line).toMatchObject({ tls: 'tunnel' });
      expect((tun.line.decision as Record<string, unknown>).rule).toBe('keep-tunnel');
      const other = await through(px, 'other.test', 'other.test');
      expect(other.who).toBe('leaf');
      expect(other.line).toMatchObject({ tls: 'intercepted' });
    } finally {
      await px.close();
    }
  });

  it('intercept: off, but a rule with tls: intercept decrypts its host (the CA is created for it)', async () => {
    const px = await startIcpProxy({ policy: POLICY, config: config({ intercept: 'off', exclude: ['excluded.test'] }) });
    try {
      expect(px.caPem).toMatch(/BEGIN CERTIFICATE/);
      const icp = await through(px, 'icp.test', 'icp.test');
      expect(icp.who).toBe('leaf');
      expect(icp.cert.subjectAltName).toBe('DNS:icp.test');
      expect(icp.status).toBe(200);
      expect(icp.line).toMatchObject({ tls: 'intercepted', sni: 'icp.test' });
      const inner = await px.access.waitFor((l) => l.kind === 'http' && l.url === `https://icp.test:${origin.port}/choice`);
      expect(inner).toMatchObject({ tls: 'intercepted', status: 200 });
      const other = await through(px, 'other.test', 'other.test');
      expect(other.who).toBe('origin');
      // Decrypted requests come back through the policy with their path.
      const t = await tlsThroughProxy(px.port, `icp.test:${origin.port}`, { servername: 'icp.test', ca: px.caPem });
      const raw = new RawHttp(t.tls);
      const denied = await raw.request(getRequest(`icp.test:${origin.port}`, '/secret/x'));
      const allowed = await raw.request(getRequest(`icp.test:${origin.port}`, '/public'));
      t.tls.destroy();
      expect(denied.status).toBe(403);
      expect(denied.headers['x-egressd-rule']).toBe('no-secrets');
      expect(allowed.status).toBe(200);
      const deniedLine = await px.access.waitFor((l) => l.kind === 'http' && l.url === `https://icp.test:${origin.port}/secret/x`);
      expect(deniedLine).toMatchObject({ status: 403, error: 'POLICY_DENIED', tls: 'intercepted' });
      expect(origin.requests.some((r) => r.url === '/secret/x')).toBe(false);
      // The config's exclude list wins over a policy rule that says intercept.
      const excluded = await through(px, 'excluded.test', 'excluded.test');
      expect(excluded.who).toBe('origin');
      expect(excluded.line).toMatchObject({ tls: 'tunnel' });
    } finally {
      await px.close();
    }
  });
});
