import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { squidLine } from '../src/log/squid-format.js';
import { ProxyServer } from '../src/server/proxy-server.js';
import { stringify } from 'yaml';
import { closedPort } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { baseConfig, LogSink, merge } from './helpers/proxy.js';

/**
 * log.format: squid writes Squid's native access.log lines. Each line is checked field by
 * field against Squid's documented `squid` logformat:
 *   %ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt
 */
const LAYOUT = /^(\d{10}\.\d{3}) +(\d+) (\S+) ([A-Z_]+)\/(\d{3}) (\d+) ([A-Z]+) (\S+) (\S+) ([A-Z_]+)\/(\S+) (\S+)$/;

class Lines extends Writable {
  readonly lines: string[] = [];
  private buf = '';
  override _write(chunk: Buffer, _e: BufferEncoding, cb: () => void): void {
    this.buf += chunk.toString();
    const parts = this.buf.split('\n');
    this.buf = parts.pop()!;
    this.lines.push(...parts);
    cb();
  }
  async waitFor(pred: (l: string) => boolean, ms = 5000): Promise<string> {
    const until = Date.now() + ms;
    for (;;) {
      const hit = this.lines.find(pred);
      if (hit) return hit;
      if (Date.now() > until) throw new Error(`no line matched; have:\n${this.lines.join('\n')}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

let dir: string;
let origin: Origin;
let proxy: ProxyServer;
let url: string;
const out = new Lines();

beforeAll(async () => {
  origin = await startOrigin((_q, s) => {
    s.writeHead(200, { 'content-type': 'text/plain', 'content-length': 5 });
    s.end('hello');
  });
  dir = mkdtempSync(join(tmpdir(), 'egressd-squidlog-'));
  writeFileSync(join(dir, 'policy.yaml'), 'version: 1\nrules:\n  - id: no-blocked\n    hosts: [blocked.example]\n    action: deny\n  - id: default\n    action: allow\n');
  writeFileSync(join(dir, 'egressd.yaml'), stringify(merge(baseConfig(), { log: { format: 'squid' }, proxy: { connectPorts: [origin.port] }, policy: { files: ['policy.yaml'], watch: false } })));
  proxy = new ProxyServer(loadConfig(join(dir, 'egressd.yaml')), { accessLog: out, serverLog: new LogSink() });
  const [b] = await proxy.listen();
  url = `http://127.0.0.1:${b!.port}`;
});

afterAll(async () => {
  await proxy?.close(0);
  await origin?.close();
  rmSync(dir, { recursive: true, force: true });
});

const fields = (line: string): RegExpExecArray => {
  const m = LAYOUT.exec(line);
  expect(m, line).not.toBeNull();
  return m!;
};

describe('Squid native access.log format', () => {
  it('an allowed GET: TCP_MISS/200, body bytes, method, URL, no user, HIER_DIRECT/address', async () => {
    const agent = new ProxyAgent({ uri: url, proxyTunnel: false });
    const res = await request(`${origin.url}/page`, { dispatcher: agent });
    await res.body.text();
    await agent.close();
    const m = fields(await out.waitFor((l) => l.includes(`${origin.url}/page`)));
    expect(Math.abs(Number(m[1]) * 1000 - Date.now())).toBeLessThan(10_000);
    expect(m[3]).toBe('127.0.0.1');
    expect([m[4], m[5], m[6], m[7], m[8], m[9], m[10], m[11], m[12]]).toEqual(['TCP_MISS', '200', '5', 'GET', `${origin.url}/page`, '-', 'HIER_DIRECT', '127.0.0.1', '-']);
  });

  it('a policy denial: TCP_DENIED/403, HIER_NONE/-', async () => {
    const agent = new ProxyAgent({ uri: url, proxyTunnel: false });
    const res = await request('http://blocked.example/', { dispatcher: agent });
    await res.body.text();
    await agent.close();
    const m = fields(await out.waitFor((l) => l.includes('http://blocked.example/')));
    expect([m[4], m[5], m[10], m[11]]).toEqual(['TCP_DENIED', '403', 'HIER_NONE', '-']);
  });

  it('a CONNECT tunnel: TCP_TUNNEL/200, CONNECT host:port', async () => {
    const agent = new ProxyAgent({ uri: url });
    const res = await request(`${origin.url}/in-tunnel`, { dispatcher: agent });
    await res.body.text();
    await agent.close();
    const m = fields(await out.waitFor((l) => l.includes(' CONNECT ')));
    expect([m[4], m[5], m[7], m[8], m[10], m[11]]).toEqual(['TCP_TUNNEL', '200', 'CONNECT', `127.0.0.1:${origin.port}`, 'HIER_DIRECT', '127.0.0.1']);
    expect(Number(m[6])).toBeGreaterThan(0);
  });

  it('an unreachable destination: TCP_MISS/502, HIER_NONE/-', async () => {
    const port = await closedPort();
    const agent = new ProxyAgent({ uri: url, proxyTunnel: false });
    const res = await request(`http://127.0.0.1:${port}/x`, { dispatcher: agent });
    await res.body.text();
    await agent.close();
    const m = fields(await out.waitFor((l) => l.includes(`:${port}/x`)));
    expect([m[4], m[5], m[10]]).toEqual(['TCP_MISS', '502', 'HIER_NONE']);
  });
});

describe('squidLine', () => {
  const rec = {
    id: 'a', kind: 'http' as const, clientIp: '10.0.0.1', clientPort: 1, method: 'GET', url: 'http://e.example/a b', status: 200, bytesIn: 0, bytesOut: 42,
    startedAt: 0, upstream: 'parent:corp-1', errorCode: null, errorReason: null, tls: 'plain' as const, sni: null, user: 'dom\\alice', groups: [], decision: null, cache: null, quota: null,
  };
  it('users are URL-encoded, spaces in URLs escaped, parents are FIRSTUP_PARENT, cache hits TCP_MEM_HIT, elapsed padded to 6', () => {
    const line = squidLine({ ...rec, cache: 'hit' }, 1764576000123, 7.4).trimEnd();
    expect(line).toBe('1764576000.123      7 10.0.0.1 TCP_MEM_HIT/200 42 GET http://e.example/a%20b dom%5Calice FIRSTUP_PARENT/corp-1 -');
    expect(LAYOUT.test(line)).toBe(true);
  });
  it('revalidated and stale map to Squid refresh codes; a client abort appends _ABORTED', () => {
    expect(squidLine({ ...rec, cache: 'revalidated' }, 0, 0)).toContain(' TCP_REFRESH_UNMODIFIED/200 ');
    expect(squidLine({ ...rec, cache: 'stale' }, 0, 0)).toContain(' TCP_REFRESH_FAIL_OLD/200 ');
    expect(squidLine({ ...rec, errorCode: 'CLIENT_ABORTED' }, 0, 0)).toContain(' TCP_MISS_ABORTED/200 ');
    expect(squidLine({ ...rec, upstream: '[2001:db8::1]:443' }, 0, 0)).toContain(' HIER_DIRECT/2001:db8::1 ');
  });
});
