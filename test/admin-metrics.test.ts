import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { htpasswd } from './helpers/auth-proxy.js';
import { openTunnel, readBytes, sleep, startEcho, type TcpServer } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startParent, type TestParent } from './helpers/parent-proxy.js';
import { proxyRequest } from './helpers/pol-client.js';
import { parseProm, type PromText } from './helpers/prom-text.js';
import { startTestProxy, type LogLine, type TestProxy } from './helpers/proxy.js';

/**
 * /metrics after a known workload through the real proxy (via a real parent proxy):
 * the counters equal what was sent and what the access log says, one denied request
 * is counted under deny, a cache hit under hit, a quota refusal and an auth failure
 * under their codes; gauges (open tunnels, parent health) are read at scrape time.
 */

const POLICY = `version: 1
rules:
  - id: no-secret
    hosts: ['127.0.0.1']
    paths: ['/secret/**']
    action: deny
    reason: Secrets stay inside
  - id: limited
    hosts: ['127.0.0.1']
    paths: ['/limited/**']
    action: allow
    reason: Metered
    quota: tiny
  - id: default
    action: allow
    reason: Allowed by default
`;

const N = 7;
let dir: string;
let origin: Origin;
let echo: TcpServer;
let parent: TestParent;
let px: TestProxy;
let admin: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'egressd-admin-metrics-'));
  writeFileSync(join(dir, 'policy.yaml'), POLICY);
  origin = await startOrigin((req, res) => {
    if (req.url === '/cached') {
      res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': 7 });
      return res.end('cached!');
    }
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 });
    res.end('hello');
  });
  echo = await startEcho();
  parent = await startParent('p0');
  px = await startTestProxy({
    admin: { listen: { address: '127.0.0.1', port: 0 } },
    policy: { files: [join(dir, 'policy.yaml')], watch: false },
    quota: { profiles: { tiny: { rate: '1/m', burst: 1 } }, snapshot: { file: '' } },
    proxy: { connectPorts: [echo.port] },
    upstream: { default: 'corp', groups: { corp: { health: { check: 'none' }, parents: [{ url: parent.url, name: 'p0' }] } } },
  });
  admin = `http://127.0.0.1:${px.proxy.admin.address!.port}`;
});
afterAll(async () => {
  await px?.close();
  await parent?.close();
  await echo?.close();
  await origin?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function scrape(base = admin): Promise<{ text: string; prom: PromText; type: string }> {
  const res = await request(`${base}/metrics`);
  expect(res.statusCode).toBe(200);
  const text = await res.body.text();
  return { text, prom: parseProm(text), type: String(res.headers['content-type']) };
}

const url = (p: string): string => `http://127.0.0.1:${origin.port}${p}`;
const sum = (lines: LogLine[], f: (l: LogLine) => number): number => lines.reduce((a, l) => a + f(l), 0);
/** Every series of a metric added up. */
const total = (p: PromText, name: string): number => p.series(name).reduce((a, s) => a + s.value, 0);

describe('metrics after a known workload', () => {
  let lines: LogLine[];
  let prom: PromText;

  beforeAll(async () => {
    for (let i = 0; i < N; i++) expect((await proxyRequest(px.port, url(`/ok/${i}`))).status).toBe(200);
    expect((await proxyRequest(px.port, url('/cached'))).status).toBe(200);
    expect((await proxyRequest(px.port, url('/cached'))).status).toBe(200);
    expect((await proxyRequest(px.port, url('/secret/plans'))).status).toBe(403);
    expect((await proxyRequest(px.port, url('/limited/1'))).status).toBe(200);
    expect((await proxyRequest(px.port, url('/limited/2'))).status).toBe(429);
    const t = await openTunnel(px.port, `127.0.0.1:${echo.port}`);
    expect(t.status).toBe(200);
    // While the tunnel is open, the gauge counts it.
    expect((await scrape()).prom.value('egressd_active_tunnels')).toBe(1);
    t.socket.write('ping');
    expect((await readBytes(t.socket, 4, t.rest)).toString()).toBe('ping');
    t.socket.end();
    const total = N + 6;
    await px.access.waitFor(() => px.access.lines.length >= total);
    await px.access.waitFor((l) => l.msg === 'tunnel');
    lines = px.access.lines;
    expect(lines).toHaveLength(total);
    ({ prom } = await scrape());
  });

  it('serves the Prometheus text format with typed families', async () => {
    const { type, prom: p } = await scrape();
    expect(type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(p.type('egressd_requests_total')).toBe('counter');
    expect(p.type('egressd_request_duration_seconds')).toBe('histogram');
    expect(p.type('egressd_active_connections')).toBe('gauge');
    expect(p.type('egressd_parent_up')).toBe('gauge');
  });

  it('counts requests by kind, status class and policy action', () => {
    // N plain + the cached URL twice + the first metered request.
    expect(prom.value('egressd_requests_total', { kind: 'http', status_class: '2xx', action: 'allow' })).toBe(N + 3);
    expect(prom.value('egressd_requests_total', { kind: 'http', status_class: '4xx', action: 'deny' })).toBe(1);
    // The quota refusal: the rule allowed it, the quota did not.
    expect(prom.value('egressd_requests_total', { kind: 'http', status_class: '4xx', action: 'allow' })).toBe(1);
    expect(prom.value('egressd_requests_total', { kind: 'connect', status_class: '2xx', action: 'allow' })).toBe(1);
    // Every series together is every access-log line.
    expect(total(prom, 'egressd_requests_total')).toBe(lines.length);
  });

  it('counts the denied request, the quota refusal and their error codes', () => {
    expect(prom.value('egressd_errors_total', { code: 'POLICY_DENIED' })).toBe(1);
    expect(prom.value('egressd_quota_rejections_total', { code: 'QUOTA_RATE' })).toBe(1);
    expect(prom.series('egressd_quota_rejections_total')).toHaveLength(1);
  });

  it('counts the cache hit and the misses from the cache statistics', () => {
    expect(prom.value('egressd_cache_lookups_total', { result: 'hit' })).toBe(1);
    expect(prom.value('egressd_cache_lookups_total', { result: 'miss' })).toBe(lines.filter((l) => l.cache === 'miss').length);
    expect(prom.value('egressd_cache_entries')).toBeGreaterThanOrEqual(1);
    expect(prom.value('egressd_cache_bytes')).toBeGreaterThan(0);
  });

  it('bytes in and out equal the sums of the access log, per kind', () => {
    for (const kind of ['http', 'connect']) {
      const of = lines.filter((l) => l.kind === kind);
      expect(prom.value('egressd_bytes_out_total', { kind }), kind).toBe(sum(of, (l) => l.bytesOut as number));
      expect(prom.value('egressd_bytes_in_total', { kind }), kind).toBe(sum(of, (l) => l.bytesIn as number));
    }
    expect(prom.value('egressd_bytes_out_total', { kind: 'http' })).toBeGreaterThanOrEqual(N * 5 + 14);
    expect(prom.value('egressd_bytes_in_total', { kind: 'connect' })).toBe(4);
  });

  it('observes one duration per request and per tunnel', () => {
    const http = lines.filter((l) => l.kind === 'http');
    expect(prom.value('egressd_request_duration_seconds_count')).toBe(http.length);
    expect(prom.value('egressd_request_duration_seconds_bucket', { le: '+Inf' })).toBe(http.length);
    const sumSeconds = sum(http, (l) => (l.durationMs as number) / 1000);
    expect(prom.value('egressd_request_duration_seconds_sum')).toBeCloseTo(sumSeconds, 2);
    expect(prom.value('egressd_tunnel_duration_seconds_count')).toBe(1);
  });

  it('shows the parent group: up, and the requests sent through it', () => {
    expect(prom.value('egressd_parent_up', { group: 'corp', parent: 'p0' })).toBe(1);
    const viaParent = lines.filter((l) => l.upstream === 'parent:p0').length;
    expect(viaParent).toBeGreaterThan(N);
    expect(prom.value('egressd_parent_requests_total', { group: 'corp', parent: 'p0' })).toBe(viaParent);
    expect(prom.value('egressd_parent_failures_total', { group: 'corp', parent: 'p0' })).toBe(0);
  });

  it('reads the gauges at scrape time: the tunnel is gone, the config generation and readiness', async () => {
    await sleep(50);
    const { prom: now } = await scrape();
    expect(now.value('egressd_active_tunnels')).toBe(0);
    expect(now.value('egressd_config_generation')).toBe(1);
    expect(now.value('egressd_ready')).toBe(1);
    expect(now.series('egressd_build_info')[0]?.labels.version).toMatch(/^\d+\.\d+\.\d+/);
    // No interception: nothing issued.
    expect(now.value('egressd_certificates_issued_total')).toBe(0);
  });
});

describe('auth failures', () => {
  it('counts a request refused for missing credentials under AUTH_REQUIRED', async () => {
    const users = join(dir, 'users.htpasswd');
    writeFileSync(users, htpasswd({ alice: 'wonderland' }));
    const guarded = await startTestProxy({ admin: { listen: { address: '127.0.0.1', port: 0 } }, auth: { required: true, users } });
    try {
      const base = `http://127.0.0.1:${guarded.proxy.admin.address!.port}`;
      expect((await proxyRequest(guarded.port, url('/a'))).status).toBe(407);
      expect((await proxyRequest(guarded.port, url('/b'), { headers: { 'proxy-authorization': `Basic ${Buffer.from('alice:wrong').toString('base64')}` } })).status).toBe(407);
      await guarded.access.waitFor(() => guarded.access.lines.length >= 2);
      const codes = guarded.access.lines.map((l) => l.error);
      const { prom: p } = await scrape(base);
      for (const code of new Set(codes)) expect(p.value('egressd_auth_failures_total', { code: code as string }), String(code)).toBe(codes.filter((c) => c === code).length);
      expect(total(p, 'egressd_auth_failures_total')).toBe(2);
    } finally {
      await guarded.close();
    }
  });
});
