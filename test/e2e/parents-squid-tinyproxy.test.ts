import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

/**
 * Real parents from Debian: Squid and tinyproxy (installed by .ci/e2e-deps.sh), started
 * here on loopback ports of their own. egressd balances across them; Squid is killed in
 * the middle of a load and no idempotent request fails.
 */

let dir: string;
let origin: Origin;
let squid: ChildProcess | undefined;
let tinyproxy: ChildProcess | undefined;
let squidPort = 0;
let tinyPort = 0;
let px: TestProxy;

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise((r) => s.close(r));
  return port;
}

async function waitListening(port: number, what: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1', () => {
        c.destroy();
        resolve(true);
      });
      c.on('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`${what} did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'egressd-e2e-parents-'));
  // Squid drops privileges to "proxy": its files must be writable by that user.
  chmodSync(dir, 0o777);
  origin = await startOrigin((req, res) => {
    const body = `origin ${req.url} via=${req.headers.via ?? ''}`;
    res.writeHead(200, { 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  squidPort = await freePort();
  tinyPort = await freePort();
  writeFileSync(
    join(dir, 'squid.conf'),
    [
      `http_port 127.0.0.1:${squidPort}`,
      'visible_hostname squid-parent',
      'acl local src 127.0.0.0/8',
      'http_access allow local',
      'http_access deny all',
      'cache deny all',
      'cache_mem 0 MB',
      'access_log none',
      `cache_log ${join(dir, 'squid-cache.log')}`,
      `pid_filename ${join(dir, 'squid.pid')}`,
      `coredump_dir ${dir}`,
      'shutdown_lifetime 1 second',
      '',
    ].join('\n'),
  );
  writeFileSync(
    join(dir, 'tinyproxy.conf'),
    [`Port ${tinyPort}`, 'Listen 127.0.0.1', 'Timeout 60', 'Allow 127.0.0.1', 'MaxClients 200', 'User nobody', 'Group nogroup', 'LogLevel Warning', ''].join('\n'),
  );
  squid = spawn('squid', ['-N', '-f', join(dir, 'squid.conf')], { stdio: 'ignore' });
  tinyproxy = spawn('tinyproxy', ['-d', '-c', join(dir, 'tinyproxy.conf')], { stdio: 'ignore' });
  await waitListening(squidPort, 'squid');
  await waitListening(tinyPort, 'tinyproxy');
  px = await startTestProxy({
    proxy: { connectPorts: [origin.port] },
    upstream: {
      default: 'farm',
      groups: {
        farm: {
          strategy: 'round-robin',
          health: { check: 'tcp', interval: '200ms', timeout: '500ms', rise: 2, fall: 1 },
          parents: [
            { url: `http://127.0.0.1:${squidPort}`, name: 'squid' },
            { url: `http://127.0.0.1:${tinyPort}`, name: 'tinyproxy' },
          ],
        },
      },
    },
  });
}, 60_000);

afterAll(async () => {
  await px?.close();
  for (const p of [squid, tinyproxy]) if (p && p.exitCode === null) p.kill('SIGKILL');
  await origin?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Squid and tinyproxy as parents', () => {
  it('round robin sends requests through both; each one adds its Via', async () => {
    const agent = new ProxyAgent({ uri: px.url, proxyTunnel: false });
    const vias: string[] = [];
    try {
      for (let i = 0; i < 6; i++) {
        const res = await request(`${origin.url}/rr${i}`, { dispatcher: agent });
        expect(res.statusCode).toBe(200);
        vias.push(await res.body.text());
      }
    } finally {
      await agent.close();
    }
    expect(vias.some((v) => /squid/i.test(v))).toBe(true);
    expect(vias.some((v) => /tinyproxy/i.test(v))).toBe(true);
    expect(vias.every((v) => v.includes('egressd'))).toBe(true);
  });

  it('CONNECT is chained through a real parent', async () => {
    const agent = new ProxyAgent({ uri: px.url });
    try {
      const res = await request(`${origin.url}/tunnel`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe('origin /tunnel via=');
    } finally {
      await agent.close();
    }
    const line = await px.access.waitFor((l) => l.kind === 'connect');
    expect(String(line.upstream)).toMatch(/^parent:(squid|tinyproxy)$/);
  });

  it('Squid killed mid-load: no idempotent request fails, the rest go through tinyproxy', async () => {
    const agent = new ProxyAgent({ uri: px.url, proxyTunnel: false, connections: 8 });
    const statuses = new Map<number, number>();
    let errors = 0;
    let n = 0;
    const stopAt = Date.now() + 3000;
    setTimeout(() => squid?.kill('SIGKILL'), 1000);
    try {
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (Date.now() < stopAt) {
            try {
              const res = await request(`${origin.url}/load${n++}`, { dispatcher: agent });
              await res.body.text();
              statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
            } catch {
              errors++;
            }
          }
        }),
      );
    } finally {
      await agent.close();
    }
    expect(errors).toBe(0);
    const failed = px.access.lines.filter((l) => l.status !== 200 && l.kind === 'http').slice(0, 3);
    expect([...statuses.keys()], `failed requests: ${JSON.stringify(failed)}`).toEqual([200]);
    expect(statuses.get(200)).toBeGreaterThan(100);
    const s = px.proxy.runtime.upstream.status()[0]!.parents;
    expect(s.find((p) => p.name === 'squid')!.state).not.toBe('up');
    expect(s.find((p) => p.name === 'tinyproxy')!.state).toBe('up');
  });
});
