import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { configSchema } from '../src/config/schema.js';
import { openTunnel } from './helpers/err-net.js';
import { startFakeDns, type FakeDns } from './helpers/fake-dns.js';
import { getThrough } from './helpers/faults.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * DNS faults (issue 10): the proxy's name server never answers, or answers SERVFAIL.
 * The name server is a real UDP socket on 127.0.0.1 set with egress.dns.servers. An
 * unresolvable name (NXDOMAIN from the system resolver) is in test/errors-upstream.test.ts.
 */

const TIMEOUT = 300;
const TRIES = 2;
const BUDGET = TIMEOUT * TRIES;

let dns: FakeDns;
let origin: Origin;
let px: TestProxy;
let n = 0;

beforeAll(async () => {
  dns = await startFakeDns((name) => {
    if (name.endsWith('.hang.test')) return 'silent';
    if (name === 'servfail.test') return 'servfail';
    if (name === 'good.test') return { answer: '127.0.0.1' };
    return 'servfail';
  });
  origin = await startOrigin((req, res) => res.end(`origin: ${req.headers.host}`));
  px = await startTestProxy({ egress: { dns: { servers: [dns.server], timeout: `${TIMEOUT}ms`, tries: TRIES } } });
  // Warm up (first-request module loading), so the timings below measure DNS only.
  await getThrough(px.port, `http://good.test:${origin.port}/warm-up`);
});
afterAll(async () => {
  await px?.close();
  await origin?.close();
  await dns?.close();
});

describe('a name server that never answers', () => {
  it(`→ 504 DNS_TIMEOUT within dns.timeout × tries (${BUDGET} ms), one-line reason, an error log line`, async () => {
    const host = `a${++n}.hang.test`;
    const url = `http://${host}:${origin.port}/`;
    const out = await getThrough(px.port, url);
    expect(out.status).toBe(504);
    expect(String(out.headers['x-egressd-error'])).toMatch(/^DNS_TIMEOUT: /);
    expect(out.body.toString().trimEnd().split('\n')).toHaveLength(1);
    expect(out.endAt).toBeGreaterThanOrEqual(BUDGET - 50);
    expect(out.endAt, `took ${out.endAt} ms`).toBeLessThan(BUDGET + 250);
    // It was asked (the timeout is the server's silence, not a config problem).
    expect(dns.queries).toContain(host);
    const line = await px.access.waitFor((l) => l.url === url);
    expect(line).toMatchObject({ status: 504, error: 'DNS_TIMEOUT' });
    expect(line.level).toBe(50);
  });

  it('the proxy keeps serving other hosts while a lookup hangs', async () => {
    const hanging = getThrough(px.port, `http://b${++n}.hang.test:${origin.port}/`);
    await new Promise((r) => setTimeout(r, 50));
    const t0 = Date.now();
    const other = await getThrough(px.port, `http://good.test:${origin.port}/meanwhile`);
    const otherMs = Date.now() - t0;
    expect(other.status).toBe(200);
    expect(other.body.toString()).toBe(`origin: good.test:${origin.port}`);
    // Answered while the other lookup still waits for its budget to run out.
    expect(otherMs).toBeLessThan(BUDGET - 100);
    expect((await hanging).status).toBe(504);
  });

  it('CONNECT to a name that does not resolve in time → 504 DNS_TIMEOUT on the tunnel, logged', async () => {
    const host = `c${++n}.hang.test`;
    const t0 = Date.now();
    const t = await openTunnel(px.port, `${host}:443`);
    t.socket.destroy();
    expect(t.status).toBe(504);
    expect(Date.now() - t0).toBeLessThan(BUDGET + 700);
    const line = await px.access.waitFor((l) => l.url === `${host}:443`);
    expect(line).toMatchObject({ kind: 'connect', status: 504, error: 'DNS_TIMEOUT' });
  });
});

describe('a name server that answers SERVFAIL', () => {
  it('→ 502 DNS_FAILED, promptly, with a log line', async () => {
    const url = `http://servfail.test:${origin.port}/`;
    const out = await getThrough(px.port, url);
    expect(out.status).toBe(502);
    expect(String(out.headers['x-egressd-error'])).toMatch(/^DNS_FAILED: .*ESERVFAIL/);
    expect(out.endAt).toBeLessThan(BUDGET);
    const line = await px.access.waitFor((l) => l.url === url);
    expect(line).toMatchObject({ status: 502, error: 'DNS_FAILED' });
  });
});

describe('egress.dns.servers validation', () => {
  const cases: [string, boolean][] = [
    ['127.0.0.1', true],
    ['127.0.0.1:5353', true],
    ['::1', true],
    ['[::1]:5353', true],
    ['[2001:db8::53]', true],
    ['dns.example.com', false],
    ['127.0.0.1:0', false],
    ['127.0.0.1:70000', false],
    ['[::1', false],
    ['300.1.1.1', false],
    ['', false],
  ];
  for (const [server, ok] of cases) {
    it(`${JSON.stringify(server)} is ${ok ? 'accepted' : 'rejected'}`, () => {
      const r = configSchema.safeParse({ egress: { dns: { servers: [server] } } });
      expect(r.success).toBe(ok);
      if (!ok) expect(r.error!.issues[0]!.path).toEqual(['egress', 'dns', 'servers', 0]);
    });
  }
});
