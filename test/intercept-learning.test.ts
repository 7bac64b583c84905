import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from './helpers/err-net.js';
import { makeOriginCa, ORIGIN_NAMES, type KeyCert, type OriginCa } from './helpers/icp-certs.js';
import { curlViaProxy, tlsThroughProxy } from './helpers/icp-client.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { lineAfter, startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import type { Origin } from './helpers/origin.js';

/**
 * Learned pinning: clients that reject egressd's certificate for a host (pinned apps)
 * make egressd tunnel that host untouched after `learnAfterRejects` rejections, for
 * `learnFor`; the server log says so. The rejecting client here is curl trusting only
 * the origin's CA: OpenSSL sends a fatal unknown_ca alert, as pinned apps do.
 */

/** Hosts for the "every rejection counts" test, one rejection each. */
const MANY = Array.from({ length: 8 }, (_, i) => `pin${i}.test`);

let originCa: OriginCa;
let originCert: KeyCert;
let origin: Origin;
let files: ReturnType<typeof tempFiles>;
let originCaFile: string;

beforeAll(async () => {
  originCa = makeOriginCa();
  originCert = originCa.issue({ commonName: 'localhost', dns: [...ORIGIN_NAMES, ...MANY], ips: ['127.0.0.1'] });
  origin = await startHttpsOrigin(originCert, 'A');
  files = tempFiles();
  originCaFile = files.write('origin-ca.pem', originCa.cert);
});

afterAll(async () => {
  await origin?.close();
  files?.remove();
});

const HOSTS = Object.fromEntries(MANY.map((h) => [h, '127.0.0.1']));

function config(learn: Record<string, unknown>): Record<string, unknown> {
  return { proxy: { connectPorts: [origin.port] }, tls: { upstreamCaFiles: [originCaFile], ...learn } };
}

/** A client that pins the origin: trusts only the origin CA. Returns curl's exit code. */
async function pinnedClient(px: IcpProxy, host: string): Promise<number> {
  const r = await curlViaProxy(px.url, `https://${host}:${origin.port}/pinned`, { cacert: originCaFile });
  return r.exit;
}

/** What a client trusting both CAs is shown for `host`: the origin's certificate or a leaf. */
async function shown(px: IcpProxy, host: string): Promise<'origin' | 'leaf'> {
  const t = await tlsThroughProxy(px.port, `${host}:${origin.port}`, { servername: host, ca: [originCa.cert, px.caPem] });
  t.tls.destroy();
  return t.peer.fingerprint256 === originCert.fingerprint256 ? 'origin' : 'leaf';
}

async function rejection(px: IcpProxy, host: string): Promise<Record<string, unknown>> {
  const mark = px.access.lines.length;
  expect(await pinnedClient(px, host)).toBe(60);
  // The curl client sends an alert; earlier probes (shown()) may log their own connect
  // line late, so pick curl's by its alert.
  return lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.url === `${host}:${origin.port}` && /ALERT/.test(String(l.reason)));
}

describe('learnAfterRejects: 2', () => {
  let px: IcpProxy;
  beforeAll(async () => {
    px = await startIcpProxy({ config: config({ learnAfterRejects: 2, learnFor: '1h' }) });
  });
  afterAll(async () => {
    await px?.close();
  });

  it('two rejecting clients, then a third client sees the origin certificate; the logs say so', async () => {
    const first = await rejection(px, 'pinned.test');
    expect(first).toMatchObject({ error: 'TLS_CLIENT_REJECTED', sni: 'pinned.test' });
    expect(String(first.reason)).not.toContain('tunnelled untouched');
    // One rejection is not enough: still intercepted.
    expect(await shown(px, 'pinned.test')).toBe('leaf');

    const second = await rejection(px, 'pinned.test');
    expect(second).toMatchObject({ error: 'TLS_CLIENT_REJECTED' });
    expect(String(second.reason)).toContain('pinned.test');
    expect(String(second.reason)).toContain('tunnelled untouched');
    const warn = await px.server.waitFor((l) => l.host === 'pinned.test' && /rejecting/.test(l.msg));
    expect(warn.level).toBe(40);
    expect(warn.msg).toContain('pinned.test');
    expect(warn.msg).toMatch(/untouched/);

    const mark = px.access.lines.length;
    expect(await shown(px, 'pinned.test')).toBe('origin');
    const tunnel = await lineAfter(px.access, mark, (l) => l.kind === 'connect' && l.url === `pinned.test:${origin.port}`);
    expect(tunnel).toMatchObject({ tls: 'tunnel', sni: 'pinned.test', error: null });
    // The pinned client itself now works.
    const r = await curlViaProxy(px.url, `https://pinned.test:${origin.port}/now-ok`, { cacert: originCaFile });
    expect(r.exit).toBe(0);
    expect(r.body).toBe(`origin A GET /now-ok host=pinned.test:${origin.port}`);
  });

  it('learning is per host: another host is still intercepted', async () => {
    expect(await shown(px, 'other.test')).toBe('leaf');
  });
});

describe('learnAfterRejects: 1', () => {
  // curl (OpenSSL) sends a fatal unknown_ca alert and closes at once: the alert and the
  // FIN often arrive together. Every such rejection must be recognised as one and
  // counted, whichever of the two the proxy reads first.
  it('every alert-sending rejection counts: 8 hosts rejected once each are all learned', async () => {
    const px = await startIcpProxy({ hosts: HOSTS, config: config({ learnAfterRejects: 1, learnFor: '1h' }) });
    try {
      for (const host of MANY) await rejection(px, host);
      const outcome: Record<string, string> = {};
      for (const host of MANY) outcome[host] = await shown(px, host);
      expect(outcome).toEqual(Object.fromEntries(MANY.map((h) => [h, 'origin'])));
    } finally {
      await px.close();
    }
  });
});

describe('learnFor and learnAfterRejects: 0', () => {
  it('after learnFor the host is intercepted again', async () => {
    const px = await startIcpProxy({ config: config({ learnAfterRejects: 2, learnFor: '400ms' }) });
    try {
      await rejection(px, 'pinned.test');
      await rejection(px, 'pinned.test');
      expect(await shown(px, 'pinned.test')).toBe('origin');
      await sleep(500);
      expect(await shown(px, 'pinned.test')).toBe('leaf');
    } finally {
      await px.close();
    }
  });

  it('with learnAfterRejects: 0 rejections are logged but nothing is learned', async () => {
    const px = await startIcpProxy({ config: config({ learnAfterRejects: 0 }) });
    try {
      for (let i = 0; i < 3; i++) {
        const line = await rejection(px, 'pinned.test');
        expect(line.error).toBe('TLS_CLIENT_REJECTED');
      }
      expect(await shown(px, 'pinned.test')).toBe('leaf');
      expect(px.server.lines.some((l) => /rejecting/.test(l.msg))).toBe(false);
    } finally {
      await px.close();
    }
  });
});
