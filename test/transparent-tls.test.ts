import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl } from './helpers/err-net.js';
import { makeOriginCa, ORIGIN_NAMES, type KeyCert, type OriginCa } from './helpers/icp-certs.js';
import { getRequest, RawHttp } from './helpers/icp-client.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { lineAfter, startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import type { Origin } from './helpers/origin.js';
import { sendUntilClosed, tlsTo } from './helpers/tp-client.js';

/**
 * TLS to a transparent listener, as a client whose port-443 traffic the firewall
 * redirected sends it: a ClientHello straight to the port, no CONNECT. The SNI is the
 * destination (port = tlsPort); the policy decides on it; the client gets no 200. A
 * tunnelled name shows the client the origin's own certificate, an intercepted one a
 * leaf from egressd's CA; no SNI, a denied name or bytes that are not TLS close the
 * connection with a log line. The client's identity comes from its address.
 */

const POLICY = `version: 1
rules:
  - id: no-pinned
    hosts: [pinned.test]
    action: deny
    reason: Not from the lab network
  - id: staff-only
    hosts: [other.test]
    groups: [staff]
    action: allow
  - id: other-others
    hosts: [other.test]
    action: deny
  - id: default
    action: allow
`;

let originCa: OriginCa;
let originCert: KeyCert;
let origin: Origin;
let files: ReturnType<typeof tempFiles>;
let px: IcpProxy;
/** The transparent listener's port. */
let tp: number;

beforeAll(async () => {
  originCa = makeOriginCa();
  originCert = originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] });
  origin = await startHttpsOrigin(originCert, 'A');
  files = tempFiles();
  const originCaFile = files.write('origin-ca.pem', originCa.cert);
  px = await startIcpProxy({
    policy: POLICY,
    config: {
      // The redirected port is the origin's (443 in production): the SNI carries no port.
      listeners: [{ address: '127.0.0.1', port: 0, mode: 'transparent', tlsPort: origin.port }],
      tls: { intercept: 'hosts', include: ['icp.test', 'other.test'], upstreamCaFiles: [originCaFile] },
      auth: { sources: [{ cidr: '127.0.0.1/32', user: 'lab-printer', groups: ['lab'] }] },
      admin: { listen: { address: '127.0.0.1', port: 0 } },
    },
  });
  tp = px.port;
});

afterAll(async () => {
  await px?.close();
  await origin?.close();
  files?.remove();
});

function issuedByProxy(cert: X509Certificate): boolean {
  const ca = new X509Certificate(px.caPem);
  return cert.checkIssued(ca) && cert.verify(ca.publicKey);
}

/** Tunnels the proxy reports open (/api/status, the same count as egressd_active_tunnels). */
async function openTunnels(): Promise<number> {
  const r = await fetch(`http://127.0.0.1:${px.proxy.admin.address!.port}/api/status`);
  return ((await r.json()) as { active: { tunnels: number } }).active.tunnels;
}

async function until(pred: () => Promise<boolean>, ms = 3000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await pred()) return true;
    await new Promise((r) => setTimeout(r, 25));
  }
  return pred();
}

describe('transparent TLS by SNI', () => {
  it('a transparent TLS connection counts as an open tunnel while it lasts, as a CONNECT does', async () => {
    expect(await until(async () => (await openTunnels()) === 0)).toBe(true);
    const t = await tlsTo(tp, { servername: 'tun.test', ca: originCa.cert });
    expect(await openTunnels()).toBe(1);
    t.tls.destroy();
    expect(await until(async () => (await openTunnels()) === 0)).toBe(true);
  });


  it('a name that is not intercepted is tunnelled untouched: the client sees the origin certificate and the origin answers', async () => {
    const mark = px.access.lines.length;
    const t = await tlsTo(tp, { servername: 'tun.test', ca: originCa.cert });
    expect(t.peer.fingerprint256).toBe(originCert.fingerprint256);
    const res = await new RawHttp(t.tls).request(getRequest(`tun.test:${origin.port}`, '/pass', { connection: 'close' }));
    t.tls.destroy();
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(`origin A GET /pass host=tun.test:${origin.port}`);
    const line = await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.sni === 'tun.test');
    expect(line).toMatchObject({ mode: 'transparent', tls: 'tunnel', url: `tun.test:${origin.port}`, status: 200, error: null, user: 'lab-printer' });
    expect(line.upstream).toBe(`127.0.0.1:${origin.port}`);
    expect(line.bytesOut as number).toBeGreaterThan(0);
  });

  it('an intercepted name gets a leaf from egressd\'s CA, and the decrypted request runs the pipeline with the full URL', async () => {
    const mark = px.access.lines.length;
    const t = await tlsTo(tp, { servername: 'icp.test', ca: px.caPem });
    expect(t.peer.fingerprint256).not.toBe(originCert.fingerprint256);
    expect(issuedByProxy(t.peer)).toBe(true);
    expect(t.peer.checkHost('icp.test')).toBe('icp.test');
    const res = await new RawHttp(t.tls).request(getRequest(`icp.test:${origin.port}`, '/inside?q=1', { connection: 'close' }));
    t.tls.destroy();
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe(`origin A GET /inside?q=1 host=icp.test:${origin.port}`);
    const req = await lineAfter(px.access, mark, (l) => l.kind === 'http' && l.url === `https://icp.test:${origin.port}/inside?q=1`);
    expect(req).toMatchObject({ mode: 'transparent', tls: 'intercepted', sni: 'icp.test', status: 200, user: 'lab-printer' });
    const tunnel = await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.sni === 'icp.test');
    expect(tunnel).toMatchObject({ mode: 'transparent', tls: 'intercepted', url: `icp.test:${origin.port}` });
  });

  it('curl, redirected to the transparent port (--connect-to), completes an intercepted HTTPS request trusting egressd\'s CA', async () => {
    const caFile = files.write('proxy-ca.pem', px.caPem);
    const mark = px.access.lines.length;
    const r = await curl(['--noproxy', '*', '-sS', '--cacert', caFile, '--connect-to', `icp.test:${origin.port}:127.0.0.1:${tp}`, `https://icp.test:${origin.port}/curl`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`origin A GET /curl host=icp.test:${origin.port}`);
    await lineAfter(px.access, mark, (l) => l.kind === 'http' && l.mode === 'transparent' && l.url === `https://icp.test:${origin.port}/curl`);
  });

  it('a ClientHello without SNI is closed without forwarding anything, and logged TRANSPARENT_NO_SNI', async () => {
    const before = origin.connections;
    const mark = px.access.lines.length;
    await expect(tlsTo(tp, {})).rejects.toThrow();
    const line = await lineAfter(px.access, mark, (l) => l.error === 'TRANSPARENT_NO_SNI');
    expect(line).toMatchObject({ kind: 'connect', mode: 'transparent', status: 0, client: '127.0.0.1' });
    expect(line.reason).toMatch(/no server name/);
    expect(origin.connections).toBe(before);
  });

  it('a name the policy denies is closed (no TLS answer is possible) with the rule in the log line', async () => {
    const before = origin.connections;
    const mark = px.access.lines.length;
    await expect(tlsTo(tp, { servername: 'pinned.test' })).rejects.toThrow();
    const line = await lineAfter(px.access, mark, (l) => l.sni === 'pinned.test');
    expect(line).toMatchObject({ kind: 'connect', mode: 'transparent', error: 'POLICY_DENIED', status: 0, url: `pinned.test:${origin.port}` });
    expect((line.decision as { rule: string }).rule).toBe('no-pinned');
    expect(line.level).toBe(40);
    expect(origin.connections).toBe(before);
  });

  it('the source identity decides group rules: lab-printer is not in staff, so other.test is denied', async () => {
    const mark = px.access.lines.length;
    await expect(tlsTo(tp, { servername: 'other.test' })).rejects.toThrow();
    const line = await lineAfter(px.access, mark, (l) => l.sni === 'other.test');
    expect(line).toMatchObject({ error: 'POLICY_DENIED', user: 'lab-printer', groups: ['lab'] });
    expect((line.decision as { rule: string }).rule).toBe('other-others');
  });

  it('bytes that are neither TLS nor HTTP are closed unanswered and logged', async () => {
    const mark = px.access.lines.length;
    const got = await sendUntilClosed(tp, 'SSH-2.0-OpenSSH_9.2\r\n');
    expect(got.length).toBe(0);
    const line = await lineAfter(px.access, mark, (l) => l.error === 'TRANSPARENT_UNKNOWN_PROTOCOL');
    expect(line).toMatchObject({ mode: 'transparent', status: 0 });
    expect(line.reason).toMatch(/neither HTTP nor TLS/);
  });

  it('a handshake record that is not a ClientHello is closed and logged', async () => {
    const mark = px.access.lines.length;
    // A TLS handshake record header (type 22, TLS 1.0) whose body is a ServerHello (type 2).
    const bogus = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00]);
    await sendUntilClosed(tp, bogus);
    const line = await lineAfter(px.access, mark, (l) => l.error === 'TRANSPARENT_UNKNOWN_PROTOCOL');
    expect(line.reason).toMatch(/not a TLS ClientHello/);
  });
});
