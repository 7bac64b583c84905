import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeOriginCa, ORIGIN_NAMES, type KeyCert } from './helpers/icp-certs.js';
import { tlsThroughProxy } from './helpers/icp-client.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import type { Origin } from './helpers/origin.js';

/**
 * The leaf egressd presents inside an intercepted tunnel, fetched with a TLS handshake
 * through a raw CONNECT: its names, its chain to the CA (node:crypto and `openssl
 * verify`), and its reuse, with the CA, after a restart on the same ca.dir.
 */

let originCert: KeyCert;
let origin: Origin;
let files: ReturnType<typeof tempFiles>;
let originCaFile: string;

function opensslVerify(args: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: execFileSync('openssl', ['verify', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }) };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** Handshake through the proxy and return the presented leaf (then close). */
async function leafOf(px: IcpProxy, authority: string, servername?: string): Promise<X509Certificate> {
  const t = await tlsThroughProxy(px.port, authority, { servername, ca: px.caPem });
  t.tls.destroy();
  return t.peer;
}

beforeAll(async () => {
  const originCa = makeOriginCa();
  originCert = originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] });
  origin = await startHttpsOrigin(originCert, 'A');
  files = tempFiles();
  originCaFile = files.write('origin-ca.pem', originCa.cert);
});

afterAll(async () => {
  await origin?.close();
  files?.remove();
});

describe('the leaf certificate', () => {
  let px: IcpProxy;
  let ca: X509Certificate;
  let caFile: string;
  beforeAll(async () => {
    px = await startIcpProxy({ config: { proxy: { connectPorts: [origin.port] }, tls: { upstreamCaFiles: [originCaFile] } } });
    caFile = join(px.caDir, 'ca.pem');
    ca = new X509Certificate(readFileSync(caFile));
  });
  afterAll(async () => {
    await px?.close();
  });

  it('for a name: DNS SAN of the SNI, issued and signed by the CA (X509Certificate)', async () => {
    const leaf = await leafOf(px, `localhost:${origin.port}`, 'localhost');
    expect(leaf.subjectAltName).toBe('DNS:localhost');
    expect(leaf.fingerprint256).not.toBe(originCert.fingerprint256);
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    expect(leaf.issuer).toBe(ca.subject);
    expect(leaf.ca).toBe(false);
    expect(leaf.checkHost('localhost')).toBe('localhost');
    expect(leaf.keyUsage).toContain('1.3.6.1.5.5.7.3.1'); // extKeyUsage serverAuth
    const days = (Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)) / 86_400_000;
    expect(days).toBeLessThanOrEqual(397);
    expect(Date.parse(leaf.validFrom)).toBeLessThan(Date.now());
  });

  it('for a name: openssl verify -CAfile ca.pem accepts it for that host, and another CA does not', async () => {
    const leaf = await leafOf(px, `inc.test:${origin.port}`, 'inc.test');
    expect(leaf.subjectAltName).toBe('DNS:inc.test');
    const leafFile = files.write('leaf-inc.pem', leaf.toString());
    const ok = opensslVerify(['-CAfile', caFile, '-purpose', 'sslserver', '-verify_hostname', 'inc.test', leafFile]);
    expect(ok.out).toContain(': OK');
    expect(ok.ok).toBe(true);
    expect(opensslVerify(['-CAfile', caFile, '-verify_hostname', 'other.test', leafFile]).ok).toBe(false);
    expect(opensslVerify(['-CAfile', originCaFile, leafFile]).ok).toBe(false);
  });

  it('for https://127.0.0.1 (no SNI): an IP SAN, verified by openssl -verify_ip', async () => {
    const leaf = await leafOf(px, `127.0.0.1:${origin.port}`);
    expect(leaf.subjectAltName).toBe('IP Address:127.0.0.1');
    expect(leaf.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(leaf.checkIssued(ca)).toBe(true);
    expect(leaf.verify(ca.publicKey)).toBe(true);
    const leafFile = files.write('leaf-ip.pem', leaf.toString());
    const r = opensslVerify(['-CAfile', caFile, '-purpose', 'sslserver', '-verify_ip', '127.0.0.1', leafFile]);
    expect(r.out).toContain(': OK');
  });

  it('each host gets its own leaf (different serials), the same host the same one', async () => {
    const a1 = await leafOf(px, `localhost:${origin.port}`, 'localhost');
    const a2 = await leafOf(px, `localhost:${origin.port}`, 'localhost');
    const b = await leafOf(px, `other.test:${origin.port}`, 'other.test');
    expect(a2.serialNumber).toBe(a1.serialNumber);
    expect(b.serialNumber).not.toBe(a1.serialNumber);
    expect(b.subjectAltName).toBe('DNS:other.test');
  });
});

describe('restart on the same ca.dir', () => {
  it('reuses the CA (same fingerprint) and the cached leaf (same serial); a fresh ca.dir does not', async () => {
    const caDir = join(files.dir, 'restart-ca');
    const config = { proxy: { connectPorts: [origin.port] }, tls: { upstreamCaFiles: [originCaFile] } };

    const first = await startIcpProxy({ caDir, config });
    let leaf1: X509Certificate;
    let caFp1: string;
    try {
      await first.server.waitFor((l) => /created a new interception CA/.test(l.msg));
      caFp1 = new X509Certificate(first.caPem).fingerprint256;
      leaf1 = await leafOf(first, `localhost:${origin.port}`, 'localhost');
    } finally {
      await first.close();
    }
    expect(existsSync(join(caDir, 'ca.pem'))).toBe(true);
    expect(existsSync(join(caDir, 'ca-key.pem'))).toBe(true);

    const second = await startIcpProxy({ caDir, config });
    try {
      const loaded = await second.server.waitFor((l) => /interception CA (loaded|created)/.test(l.msg) || /created a new interception CA/.test(l.msg));
      expect(loaded.msg).toBe('interception CA loaded');
      const served = await (await fetch(`${second.url}/egressd-ca.crt`)).text();
      expect(new X509Certificate(served).fingerprint256).toBe(caFp1);
      const leaf2 = await leafOf(second, `localhost:${origin.port}`, 'localhost');
      expect(leaf2.serialNumber).toBe(leaf1.serialNumber);
      expect(leaf2.fingerprint256).toBe(leaf1.fingerprint256);
    } finally {
      await second.close();
    }

    // Control: another ca.dir means another CA and another leaf.
    const fresh = await startIcpProxy({ config });
    try {
      expect(new X509Certificate(fresh.caPem).fingerprint256).not.toBe(caFp1);
      const leaf3 = await leafOf(fresh, `localhost:${origin.port}`, 'localhost');
      expect(leaf3.serialNumber).not.toBe(leaf1.serialNumber);
    } finally {
      await fresh.close();
    }
  });
});
