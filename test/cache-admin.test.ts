import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { ConfigError } from '../src/config/yaml-source.js';
import { startCacheOrigin, viaProxy, type CacheOrigin } from './helpers/cache-origin.js';
import { ensureBuilt, runCliAsync } from './helpers/err-cli.js';
import { baseConfig, LogSink, merge, startTestProxy, type TestProxy } from './helpers/proxy.js';
import { ProxyServer } from '../src/server/proxy-server.js';

/** The admin API (purge by URL and host glob, stats, token) and `egressd cache purge|stats`. */
let origin: CacheOrigin;
let px: TestProxy;
let admin: string;
let dir: string;
const url = (p: string): string => `http://127.0.0.1:${origin.port}${p}`;
const TOKEN = 'a-long-enough-admin-token';

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'egressd-cache-admin-'));
  origin = await startCacheOrigin();
  px = await startTestProxy({ admin: { listen: { address: '127.0.0.1', port: 0 } } });
  admin = `http://127.0.0.1:${px.proxy.admin.address!.port}`;
});
afterAll(async () => {
  await px.close();
  await origin.close();
  rmSync(dir, { recursive: true, force: true });
});

async function api(path: string, method = 'GET', body?: unknown, base = admin, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await request(`${base}${path}`, { method: method as 'GET', headers, body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body) });
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
}

async function warm(path: string, host = url(path)): Promise<void> {
  await viaProxy(px.port, host);
  expect((await viaProxy(px.port, host)).headers['x-cache']).toBe('HIT from egressd');
}

describe('admin API', () => {
  it('reports entries, bytes and the hit ratio', async () => {
    origin.route('/s1', { headers: { 'cache-control': 'max-age=600' }, body: 'x'.repeat(1000) });
    await warm('/s1');
    const { status, json } = await api('/api/cache/stats');
    expect(status).toBe(200);
    expect(json.entries).toBeGreaterThanOrEqual(1);
    expect(json.bytes).toBeGreaterThan(1000);
    expect(json.hits).toBeGreaterThanOrEqual(1);
    expect(json.misses).toBeGreaterThanOrEqual(1);
    const served = (json.hits as number) + (json.stale as number) + (json.revalidated as number);
    expect(json.hitRatio).toBeCloseTo(served / (served + (json.misses as number)), 5);
    expect(json.hitRatio).toBeGreaterThan(0);
  });

  it('purges one URL', async () => {
    origin.route('/u1', { headers: { 'cache-control': 'max-age=600' }, body: 'a' });
    origin.route('/u2', { headers: { 'cache-control': 'max-age=600' }, body: 'b' });
    await warm('/u1');
    await warm('/u2');
    const r = await api('/api/cache/purge', 'POST', { url: url('/u1') });
    expect(r).toEqual({ status: 200, json: { purged: 1, url: url('/u1') } });
    expect((await viaProxy(px.port, url('/u1'))).headers['x-cache']).toBe('MISS from egressd');
    expect((await viaProxy(px.port, url('/u2'))).headers['x-cache']).toBe('HIT from egressd');
  });

  it('purges by host glob', async () => {
    origin.route('/h1', { headers: { 'cache-control': 'max-age=600' }, body: 'a' });
    await warm('/h1');
    const miss = await api('/api/cache/purge', 'POST', { host: '*.nowhere.test' });
    expect(miss.json.purged).toBe(0);
    expect((await viaProxy(px.port, url('/h1'))).headers['x-cache']).toBe('HIT from egressd');
    const r = await api('/api/cache/purge', 'POST', { host: '127.0.0.1' });
    expect(r.status).toBe(200);
    expect(r.json.purged).toBeGreaterThanOrEqual(1);
    expect((await viaProxy(px.port, url('/h1'))).headers['x-cache']).toBe('MISS from egressd');
  });

  it.each<[string, string, unknown, number, string]>([
    ['no body', 'POST', undefined, 400, 'BAD_REQUEST'],
    ['not JSON', 'POST', '{oops', 400, 'BAD_REQUEST'],
    ['both url and host', 'POST', { url: 'http://a/', host: 'a' }, 400, 'BAD_REQUEST'],
    ['a relative URL', 'POST', { url: '/x' }, 400, 'BAD_REQUEST'],
    ['a bad host pattern', 'POST', { host: 'a[b' }, 400, 'BAD_REQUEST'],
    ['GET on purge', 'GET', undefined, 405, 'METHOD_NOT_ALLOWED'],
  ])('refuses %s', async (_n, method, body, status, code) => {
    const r = await api('/api/cache/purge', method, body);
    expect(r.status).toBe(status);
    expect(r.json.error).toBe(code);
    expect(typeof r.json.message).toBe('string');
  });

  it('answers 404 for an unknown endpoint', async () => {
    expect((await api('/api/nothing')).status).toBe(404);
  });

  it('requires the bearer token when one is configured', async () => {
    const guarded = await startTestProxy({ admin: { listen: { address: '127.0.0.1', port: 0 }, token: TOKEN } });
    try {
      const base = `http://127.0.0.1:${guarded.proxy.admin.address!.port}`;
      expect((await api('/api/cache/stats', 'GET', undefined, base)).status).toBe(401);
      expect((await api('/api/cache/stats', 'GET', undefined, base, 'wrong-token-of-some-length')).status).toBe(401);
      expect((await api('/api/cache/stats', 'GET', undefined, base, TOKEN)).status).toBe(200);
    } finally {
      await guarded.close();
    }
  });

  it('config: an admin listener beyond loopback without a token is an error with its position', () => {
    const f = join(dir, 'open-admin.yaml');
    writeFileSync(f, stringify({ admin: { listen: { address: '0.0.0.0', port: 9000 } } }));
    try {
      loadConfig(f);
      expect.unreachable('loadConfig should have thrown');
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const p = (err as ConfigError).problems.find((x) => x.message.includes('token'));
      expect(p).toBeDefined();
      expect(p!.line).toBeGreaterThan(0);
    }
  });
});

describe('egressd cache purge|stats', () => {
  it('stats prints the JSON', async () => {
    const r = await runCliAsync(['cache', 'stats', '--admin', admin]);
    expect(r.status).toBe(0);
    const json = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(typeof json.entries).toBe('number');
    expect(typeof json.hitRatio).toBe('number');
  });

  it('purge URL and purge --host remove entries', async () => {
    origin.route('/cli1', { headers: { 'cache-control': 'max-age=600' }, body: 'a' });
    await warm('/cli1');
    const r = await runCliAsync(['cache', 'purge', url('/cli1'), '--admin', admin]);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ purged: 1, url: url('/cli1') });
    expect((await viaProxy(px.port, url('/cli1'))).headers['x-cache']).toBe('MISS from egressd');
    await warm('/cli1');
    const h = await runCliAsync(['cache', 'purge', '--host', '127.0.0.*', '--admin', admin]);
    expect(h.status).toBe(0);
    expect((JSON.parse(h.stdout) as { purged: number }).purged).toBeGreaterThanOrEqual(1);
    expect((await viaProxy(px.port, url('/cli1'))).headers['x-cache']).toBe('MISS from egressd');
  });

  it('reads the admin address and token from the config', async () => {
    const guarded = await startTestProxy({ admin: { listen: { address: '127.0.0.1', port: 0 }, token: TOKEN } });
    try {
      const f = join(dir, 'cli.yaml');
      writeFileSync(f, stringify({ admin: { listen: { address: '127.0.0.1', port: guarded.proxy.admin.address!.port }, token: TOKEN } }));
      const r = await runCliAsync(['cache', 'stats', '-c', f]);
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      await guarded.close();
    }
  });

  it.each<[string, string[], number, RegExp]>([
    ['no admin listener in the config', ['cache', 'stats', '-c', 'CFG'], 2, /no admin listener/],
    ['purge without a target', ['cache', 'purge', '--admin', 'http://127.0.0.1:1'], 2, /needs one URL/],
    ['an unknown subcommand', ['cache', 'flush'], 2, /unknown command "flush"/],
    ['an unreachable API', ['cache', 'stats', '--admin', 'http://127.0.0.1:1'], 1, /cannot reach the admin API/],
    ['a refused purge', ['cache', 'purge', 'not-a-url', '--admin', 'ADMIN'], 1, /not an absolute http\(s\) URL \[BAD_REQUEST\]/],
  ])('fails clearly on %s', async (_n, args, status, msg) => {
    const f = join(dir, 'noadmin.yaml');
    writeFileSync(f, stringify({ proxy: { name: 'x' } }));
    const r = await runCliAsync(args.map((a) => (a === 'CFG' ? f : a === 'ADMIN' ? admin : a)));
    expect(r.status).toBe(status);
    expect(r.stderr).toMatch(msg);
  });

  it('has help', async () => {
    const r = await runCliAsync(['cache', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/egressd cache purge URL\|--host GLOB/);
    const main = await runCliAsync(['--help']);
    expect(main.stdout).toMatch(/egressd cache purge/);
  });
});

describe('start-up failures', () => {
  /** A proxy whose listen() is expected to fail; closed whatever happens. */
  async function listenFails(over: Record<string, unknown>): Promise<Error> {
    const f = join(dir, `fail-${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(f, stringify(merge(baseConfig(), over)));
    const proxy = new ProxyServer(loadConfig(f), { accessLog: new LogSink(), serverLog: new LogSink() });
    try {
      await proxy.listen();
    } catch (err) {
      return err as Error;
    } finally {
      await proxy.close(0);
    }
    throw new Error('listen() should have failed');
  }

  it('an admin port in use fails the start with a message naming admin.listen', async () => {
    const taken = px.proxy.admin.address!.port;
    expect((await listenFails({ admin: { listen: { address: '127.0.0.1', port: taken } } })).message).toMatch(/admin API \(admin.listen\): .*EADDRINUSE/);
  });

  it('an unusable disk folder fails the start with a message naming cache.disk', async () => {
    const file = join(dir, 'not-a-folder');
    writeFileSync(file, 'x');
    expect((await listenFails({ cache: { disk: { dir: join(file, 'sub') } } })).message).toMatch(/cache.disk: cannot use the folder .*(ENOTDIR|EEXIST)/);
  });
});
