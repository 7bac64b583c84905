import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { startOrigin, readBody, type Origin } from './helpers/origin.js';
import { startParent, type TestParent } from './helpers/parent-proxy.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * egressd in front of parent proxies: absolute-form HTTP and CONNECT chaining, credentials
 * for the parent, balancing, passive and active health, retries and fallback to direct.
 * The parents are small node proxies (helpers/parent-proxy.ts) and, in one case, egressd.
 */

let origin: Origin;
let parents: TestParent[] = [];
let px: TestProxy | undefined;

beforeAll(async () => {
  origin = await startOrigin(async (req, res) => {
    const body = await readBody(req);
    const text = `origin ${req.method} ${req.url} parent=${req.headers['x-parent'] ?? '-'} body=${body.length}`;
    res.writeHead(200, { 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
});

afterEach(async () => {
  await px?.close();
  px = undefined;
  for (const p of parents) await p.close();
  parents = [];
});

afterAll(async () => {
  await origin?.close();
});

async function withParents(n: number, group: Record<string, unknown>, extra: Record<string, unknown> = {}): Promise<TestProxy> {
  parents = await Promise.all(Array.from({ length: n }, (_, i) => startParent(`p${i}`)));
  const list = parents.map((p, i) => ({ url: p.url, name: `p${i}`, ...((group.weights as number[] | undefined) ? { weight: (group.weights as number[])[i] } : {}) }));
  const { weights: _w, ...rest } = group;
  px = await startTestProxy({
    proxy: { connectPorts: [origin.port] },
    upstream: { default: 'corp', groups: { corp: { health: { check: 'none' }, ...rest, parents: list } } },
    ...extra,
  });
  return px;
}

async function get(p: TestProxy, path: string, init: { method?: string; body?: string; headers?: Record<string, string>; token?: string } = {}) {
  const agent = new ProxyAgent({ uri: p.url, proxyTunnel: false, ...(init.token ? { token: init.token } : {}) });
  try {
    const res = await request(`${origin.url}${path}`, { dispatcher: agent, method: (init.method ?? 'GET') as 'GET', body: init.body, headers: init.headers });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  } finally {
    await agent.close();
  }
}

describe('through one parent', () => {
  it('plain HTTP goes to the parent in absolute form with the parent\'s credentials, never the client\'s', async () => {
    parents = [await startParent('p0')];
    parents[0]!.requireAuth = `Basic ${Buffer.from('svc:s3cret').toString('base64')}`;
    px = await startTestProxy({
      upstream: { default: 'corp', groups: { corp: { health: { check: 'none' }, parents: [`http://svc:s3cret@127.0.0.1:${parents[0]!.port}`] } } },
    });
    const r = await get(px, '/abs', { token: 'Basic Y2xpZW50OnNlY3JldA==' });
    expect(r.status).toBe(200);
    expect(r.body).toBe('origin GET /abs parent=p0 body=0');
    const seen = parents[0]!.seen.at(-1)!;
    expect(seen.url).toBe(`${origin.url}/abs`);
    expect(seen.proxyAuthorization).toBe(parents[0]!.requireAuth);
    expect(seen.via).toMatch(/1\.1 egressd/);
    const line = await px.access.waitFor((l) => l.url === `${origin.url}/abs`);
    expect(line.upstream).toBe(`parent:127.0.0.1:${parents[0]!.port}`);
  });

  it('CONNECT is chained through the parent; the tunnel line names it', async () => {
    const p = await withParents(1, {});
    const agent = new ProxyAgent({ uri: p.url });
    try {
      const res = await request(`${origin.url}/tunnelled`, { dispatcher: agent });
      expect(await res.body.text()).toBe('origin GET /tunnelled parent=- body=0');
    } finally {
      await agent.close();
    }
    expect(parents[0]!.seen.map((s) => `${s.method} ${s.url}`)).toContain(`CONNECT 127.0.0.1:${origin.port}`);
    const line = await p.access.waitFor((l) => l.kind === 'connect');
    expect(line.upstream).toBe('parent:p0');
    expect(line.status).toBe(200);
  });

  it('a parent that refuses the CONNECT (403) gives the client 502 PARENT_REFUSED with its answer, and is not ejected for it', async () => {
    const p = await withParents(1, {});
    parents[0]!.mode = 'deny-connect';
    const agent = new ProxyAgent({ uri: p.url });
    try {
      await expect(request(`${origin.url}/x`, { dispatcher: agent })).rejects.toThrow(/502/);
    } finally {
      await agent.close();
    }
    const line = await p.access.waitFor((l) => l.kind === 'connect');
    expect(line.error).toBe('PARENT_REFUSED');
    expect(line.reason).toMatch(/answered 403/);
    expect(p.proxy.runtime.upstream.status()[0]!.parents[0]!.state).toBe('up');
  });
});

describe('balancing', () => {
  it('weights 3:1 (weighted-round-robin) give 75% ± 5% of 2,000 requests', async () => {
    const p = await withParents(2, { strategy: 'weighted-round-robin', weights: [3, 1] });
    const agent = new ProxyAgent({ uri: p.url, proxyTunnel: false, connections: 16 });
    try {
      const counts: Record<string, number> = {};
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < 2000) {
            next++;
            const res = await request(`${origin.url}/w`, { dispatcher: agent });
            const via = String(res.headers['x-parent']);
            counts[via] = (counts[via] ?? 0) + 1;
            await res.body.text();
          }
        }),
      );
      const total = (counts.p0 ?? 0) + (counts.p1 ?? 0);
      expect(total).toBeGreaterThanOrEqual(2000);
      expect(counts.p0! / total).toBeGreaterThan(0.7);
      expect(counts.p0! / total).toBeLessThan(0.8);
    } finally {
      await agent.close();
    }
  });

  it('hash-host sends every request for one host to the same parent', async () => {
    const p = await withParents(3, { strategy: 'hash-host' });
    for (let i = 0; i < 12; i++) expect((await get(p, `/h${i}`)).status).toBe(200);
    const used = parents.filter((x) => x.seen.length > 0);
    expect(used).toHaveLength(1);
    expect(used[0]!.seen).toHaveLength(12);
  });
});

describe('failover and health', () => {
  it('a parent that refuses connections is skipped: every request succeeds, and it is ejected after 3 failures', async () => {
    const p = await withParents(2, { strategy: 'round-robin' });
    await parents[0]!.stop();
    for (let i = 0; i < 10; i++) {
      const r = await get(p, `/f${i}`);
      expect(r.status).toBe(200);
      expect(r.body).toContain('parent=p1');
    }
    const s = p.proxy.runtime.upstream.status()[0]!.parents;
    expect(s[0]).toMatchObject({ name: 'p0', state: 'ejected', failures: 3 });
    expect(s[1]!.state).toBe('up');
  });

  it('an idempotent request whose parent resets after it was sent is retried on the next parent; a POST with a body is not', async () => {
    const p = await withParents(2, { strategy: 'round-robin' });
    parents[0]!.mode = 'reset';
    const r = await get(p, '/idem');
    expect(r.status).toBe(200);
    expect(r.body).toContain('parent=p1');
    // Round robin now starts at p1: make p1 the one that resets for the POST.
    parents[0]!.mode = 'ok';
    parents[1]!.mode = 'reset';
    const post = await get(p, '/post', { method: 'POST', body: 'payload' });
    expect(post.status).toBe(502);
    expect(parents[0]!.seen.filter((s) => s.method === 'POST')).toHaveLength(0);
  });

  it('a parent that hangs after taking the request times out (upstreamHeaders) and the GET is retried on the next', async () => {
    const p = await withParents(2, { strategy: 'round-robin' }, { timeouts: { upstreamHeaders: '300ms' } });
    parents[0]!.mode = 'hang';
    const started = Date.now();
    const r = await get(p, '/hang');
    expect(r.status).toBe(200);
    expect(r.body).toContain('parent=p1');
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(p.proxy.runtime.upstream.status()[0]!.parents[0]!.failures).toBe(1);
  });

  it('a parent that closes mid-body: the client sees the transfer cut (the answer had started: no retry), the log says so', async () => {
    const big = await startOrigin((_q, res) => {
      res.writeHead(200, { 'content-length': 200_000 });
      res.end(Buffer.alloc(200_000, 'x'));
    });
    try {
      const p = await withParents(1, {});
      parents[0]!.mode = 'cut-body';
      const agent = new ProxyAgent({ uri: p.url, proxyTunnel: false });
      try {
        const res = await request(`${big.url}/big`, { dispatcher: agent });
        expect(res.statusCode).toBe(200);
        await expect(res.body.arrayBuffer()).rejects.toThrow();
      } finally {
        await agent.close();
      }
      const line = await p.access.waitFor((l) => l.url === `${big.url}/big`);
      expect(line.error).toMatch(/^UPSTREAM_/);
      expect(line.upstream).toBe('parent:p0');
    } finally {
      await big.close();
    }
  });

  it('5xx answers from a parent reach the client and eject the parent after 3; later requests go to the other', async () => {
    const p = await withParents(2, { strategy: 'round-robin' });
    parents[0]!.mode = '503';
    const statuses: number[] = [];
    for (let i = 0; i < 8; i++) statuses.push((await get(p, `/s${i}`)).status);
    expect(statuses.filter((s) => s === 503)).toHaveLength(3);
    expect(statuses.slice(-2)).toEqual([200, 200]);
    expect(p.proxy.runtime.upstream.status()[0]!.parents[0]!.state).toBe('ejected');
  });

  it("an origin's own 5xx relayed by a parent does not count against the parent", async () => {
    const p = await withParents(1, { eject: { failures: 1 } });
    const bad = await startOrigin((_q, r) => {
      r.writeHead(503, { 'content-length': 0 });
      r.end();
    });
    try {
      const agent = new ProxyAgent({ uri: p.url, proxyTunnel: false });
      for (let i = 0; i < 3; i++) {
        const res = await request(`${bad.url}/o${i}`, { dispatcher: agent });
        await res.body.text();
        expect(res.statusCode).toBe(503);
      }
      await agent.close();
      expect(p.proxy.runtime.upstream.status()[0]!.parents[0]!.state).toBe('up');
    } finally {
      await bad.close();
    }
  });

  it('panic routing: when passive ejection took out every parent, requests still try them (no outage for the backoff)', async () => {
    const p = await withParents(1, { eject: { failures: 1, base: '1m' } });
    parents[0]!.mode = '503';
    expect((await get(p, '/e1')).status).toBe(503);
    expect(p.proxy.runtime.upstream.status()[0]!.parents[0]!.state).toBe('ejected');
    parents[0]!.mode = 'ok';
    const r = await get(p, '/e2');
    expect(r.status).toBe(200);
    expect(r.body).toContain('parent=p0');
  });

  it('when every parent is down by active checks: 503 PARENTS_UNAVAILABLE without fallbackDirect, the origin directly with it', async () => {
    const p = await withParents(1, { health: { check: 'tcp', interval: '50ms', timeout: '200ms', rise: 1, fall: 1 } });
    await parents[0]!.stop();
    await expect.poll(() => p.proxy.runtime.upstream.status()[0]!.parents[0]!.state, { timeout: 3000, interval: 25 }).toBe('down');
    const down = await get(p, '/down');
    expect(down.status).toBe(503);
    expect(String(down.headers['x-egressd-error'])).toMatch(/^PARENTS_UNAVAILABLE/);
    await px!.close();
    px = await startTestProxy({
      upstream: { default: 'corp', groups: { corp: { fallbackDirect: true, health: { check: 'tcp', interval: '50ms', timeout: '200ms', rise: 1, fall: 1 }, parents: [parents[0]!.url] } } },
    });
    await expect.poll(() => px!.proxy.runtime.upstream.status()[0]!.parents[0]!.state, { timeout: 3000, interval: 25 }).toBe('down');
    const direct = await get(px, '/fallback');
    expect(direct.status).toBe(200);
    expect(direct.body).toBe('origin GET /fallback parent=- body=0');
  });

  it('when every attempt fails to connect: 502 with the last error', async () => {
    const p = await withParents(2, { health: { check: 'none' } });
    await parents[0]!.stop();
    await parents[1]!.stop();
    const r = await get(p, '/nobody');
    expect(r.status).toBe(502);
    expect(String(r.headers['x-egressd-error'])).toMatch(/^UPSTREAM_REFUSED/);
  });

  it('active TCP checks take a stopped parent down and bring it back when it listens again', async () => {
    const p = await withParents(2, { strategy: 'round-robin', health: { check: 'tcp', interval: '50ms', timeout: '200ms', rise: 2, fall: 2 } });
    const state = (): string => p.proxy.runtime.upstream.status()[0]!.parents[0]!.state;
    await parents[0]!.stop();
    await expect.poll(state, { timeout: 3000, interval: 25 }).toBe('down');
    // While down it gets nothing, and nothing fails.
    for (let i = 0; i < 4; i++) expect((await get(p, `/d${i}`)).body).toContain('parent=p1');
    await parents[0]!.start();
    await expect.poll(state, { timeout: 3000, interval: 25 }).toBe('up');
  });
});

describe('routing by policy', () => {
  it('a rule with route: direct bypasses the default group; the rest goes to the parent', async () => {
    parents = [await startParent('p0')];
    const policy = `version: 1\nrules:\n  - id: local-direct\n    hosts: [localhost]\n    action: allow\n    route: direct\n  - id: default\n    action: allow\n`;
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'egressd-route-'));
    writeFileSync(join(dir, 'p.yaml'), policy);
    px = await startTestProxy({
      policy: { files: [join(dir, 'p.yaml')], watch: false },
      upstream: { default: 'corp', groups: { corp: { health: { check: 'none' }, parents: [parents[0]!.url] } } },
    });
    const agent = new ProxyAgent({ uri: px.url, proxyTunnel: false });
    try {
      const viaParent = await request(`${origin.url}/a`, { dispatcher: agent });
      expect(await viaParent.body.text()).toContain('parent=p0');
      const direct = await request(`http://localhost:${origin.port}/b`, { dispatcher: agent });
      expect(await direct.body.text()).toContain('parent=-');
    } finally {
      await agent.close();
    }
  });

  it('a rule routing to an unknown group stops the start with file:line:col', async () => {
    const { writeFileSync, mkdtempSync } = await import('node:fs');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = mkdtempSync(join(tmpdir(), 'egressd-route-'));
    const file = join(dir, 'p.yaml');
    writeFileSync(file, `version: 1\nrules:\n  - id: r1\n    action: allow\n    route: nowhere\n`);
    await expect(startTestProxy({ policy: { files: [file], watch: false } })).rejects.toThrow(
      new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:12: rule "r1" routes to unknown parent group "nowhere"`),
    );
  });
});

describe('egressd as the parent', () => {
  it('egressd → egressd → origin: both hops add Via, the parent logs the request', async () => {
    const parent = await startTestProxy({ proxy: { name: 'parent-egressd' } });
    try {
      px = await startTestProxy({ upstream: { default: 'corp', groups: { corp: { health: { check: 'none' }, parents: [parent.url] } } } });
      const r = await get(px, '/chain');
      expect(r.status).toBe(200);
      expect(String(r.headers.via)).toMatch(/parent-egressd.*egressd|egressd.*parent-egressd/);
      const line = await parent.access.waitFor((l) => l.url === `${origin.url}/chain`);
      expect(line.status).toBe(200);
    } finally {
      await parent.close();
    }
  });
});
