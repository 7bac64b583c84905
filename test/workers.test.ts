import { X509Certificate } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decode } from '../src/cache/disk-format.js';
import { tlsThroughProxy } from './helpers/icp-client.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { parseProm } from './helpers/prom-text.js';
import { adminGet, until, viaProxy, WorkersCluster, type Reply } from './helpers/workers-cluster.js';

/**
 * `workers: 2`: the real `egressd start` as a primary and two workers, against real
 * origins on loopback. One cluster runs through the whole sequence (start, traffic,
 * quota, interception, metrics, reload, a killed worker, SIGTERM), so the counts of
 * responses and log lines can be compared at the end.
 */

const POLICY = `version: 1
rules:
  - id: limited
    paths: ['/limited/**']
    action: allow
    quota: tight
  - id: default
    action: allow
`;

describe('workers: 2', () => {
  let origin: Origin;
  const c = new WorkersCluster();
  let port = 0;
  let adminPort = 0;
  /** Every response the clients got (status > 0), by URL: each must have its log line. */
  const answered: string[] = [];
  const url = (path: string): string => `${origin.url}${path}`;
  const get = async (path: string, headers: Record<string, string> = {}): Promise<Reply> => {
    const r = await viaProxy(port, url(path), headers);
    if (r.status > 0) answered.push(url(path));
    return r;
  };
  const access = (): Record<string, unknown>[] => c.lines('access.log');
  const workersOf = (pred: (l: Record<string, unknown>) => boolean): Set<unknown> => new Set(access().filter(pred).map((l) => l.worker));
  /** Access-log lines are buffered up to 250 ms in each worker. */
  const flushed = (): Promise<void> => new Promise((r) => setTimeout(r, 600));

  beforeAll(async () => {
    origin = await startOrigin((req, res) => {
      const delay = Number(new URL(req.url!, 'http://x').searchParams.get('delay') ?? 0);
      if (req.url!.startsWith('/cacheable')) res.setHeader('cache-control', 'max-age=600');
      const t = setTimeout(() => res.end(`ok ${req.url} via=${req.headers.via}`), delay);
      res.on('close', () => clearTimeout(t));
    });
    c.write('policy.yaml', POLICY);
    await c.start({
      workers: 2,
      proxy: { connectPorts: [443] },
      admin: { listen: { address: '127.0.0.1', port: 0 } },
      policy: { files: ['policy.yaml'], watch: false },
      // One hour per token after a burst of 10: the 11th request is refused whatever the timing.
      quota: { profiles: { tight: { rate: '1/h', burst: 10 } } },
      tls: { intercept: 'hosts', include: ['*.new.test'], ca: { dir: 'certs' } },
      cache: { disk: { dir: 'cache' } },
      log: { access: 'access.log', server: 'stderr', rotate: { size: '16KiB', gzip: false, keep: 1000 } },
      timeouts: { shutdownGrace: '5s' },
    });
    port = c.cli!.port;
    const adminLine = await c.cli!.waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('admin API listening on'), 10_000);
    adminPort = Number(adminLine.port);
  }, 60_000);

  afterAll(async () => {
    await c.close();
    await origin.close();
  });

  it('prints one "listening on" line, with both worker pids, and both workers serve its port', async () => {
    const listening = c.cli!.serverLines().filter((l) => typeof l.msg === 'string' && l.msg.startsWith('listening on'));
    expect(listening).toHaveLength(1);
    expect(listening[0]).toMatchObject({ workers: 2, port });
    expect(listening[0]!.pids).toHaveLength(2);
    for (let i = 0; i < 12; i++) expect((await get(`/spread/${i}`)).status).toBe(200);
    await flushed();
    // Connections are handed out round-robin: both workers answered on the one port.
    expect(workersOf((l) => String(l.url).includes('/spread/'))).toEqual(new Set([1, 2]));
    expect(c.cli!.stderr()).not.toContain('listens on other addresses');
    // Exactly one admin listener (worker 1), and /api/status lists both workers.
    expect(c.cli!.serverLines().filter((l) => String(l.msg).startsWith('admin API listening on'))).toHaveLength(1);
    const status = JSON.parse((await adminGet(adminPort, '/api/status')).body) as { workers: { id: number; pid: number; restarts: number; ready: boolean; uptimeSeconds: number }[] };
    expect(status.workers.map((w) => [w.id, w.pid, w.restarts, w.ready])).toEqual([
      [1, (listening[0]!.pids as number[])[0], 0, true],
      [2, (listening[0]!.pids as number[])[1], 0, true],
    ]);
  });

  it('enforces a request-rate quota at the combined count of both workers', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 20; i++) statuses.push((await get(`/limited/${i}`)).status);
    expect(statuses.filter((s) => s === 200)).toHaveLength(10);
    expect(statuses.filter((s) => s === 429)).toHaveLength(10);
    await flushed();
    // Both workers admitted and refused: per-worker buckets would have let 20 through.
    expect(workersOf((l) => String(l.url).includes('/limited/') && l.status === 200)).toEqual(new Set([1, 2]));
    expect(workersOf((l) => String(l.url).includes('/limited/') && l.status === 429)).toEqual(new Set([1, 2]));
  });

  it('two workers intercepting the same new host at once use the one CA and present a valid leaf', async () => {
    const tunnels = await Promise.all(Array.from({ length: 6 }, () => tlsThroughProxy(port, 'fresh.new.test:443', { servername: 'fresh.new.test' })));
    const ca = new X509Certificate(readFileSync(join(c.dir, 'certs', 'ca.pem')));
    for (const t of tunnels) {
      expect(t.peer.checkHost('fresh.new.test')).toBe('fresh.new.test');
      expect(t.peer.verify(ca.publicKey)).toBe(true);
      expect(t.peer.issuer).toBe(ca.subject);
      t.tls.destroy();
    }
    // Every leaf is for the same key; the one on disk is whole and issued by the same CA.
    expect(new Set(tunnels.map((t) => t.peer.publicKey.export({ type: 'spki', format: 'der' }).toString('hex'))).size).toBe(1);
    await until(() => readdirSync(join(c.dir, 'certs', 'leaves', 'hosts')).some((n) => n.startsWith('fresh.new.test')), 5000, 'the leaf on disk');
    const file = readdirSync(join(c.dir, 'certs', 'leaves', 'hosts')).find((n) => n.startsWith('fresh.new.test'))!;
    expect(new X509Certificate(readFileSync(join(c.dir, 'certs', 'leaves', 'hosts', file))).verify(ca.publicKey)).toBe(true);
    expect(readdirSync(join(c.dir, 'certs')).filter((n) => n.endsWith('.pem')).sort()).toEqual(['ca-key.pem', 'ca.pem']);
    await until(() => workersOf((l) => l.kind === 'connect' && l.sni === 'fresh.new.test').size === 2, 5000, 'tunnel lines from both workers');
  });

  it('the disk cache tier shared by both workers stays whole under concurrent writers; memory tiers are per worker', async () => {
    const replies = await Promise.all(Array.from({ length: 8 }, () => get('/cacheable/one')));
    expect(replies.map((r) => r.status)).toEqual(Array(8).fill(200));
    // Each worker coalesces its own misses: one upstream fetch per worker at most.
    const fetched = origin.requests.filter((r) => r.url === '/cacheable/one').length;
    expect(fetched).toBeGreaterThanOrEqual(1);
    expect(fetched).toBeLessThanOrEqual(2);
    await until(() => readdirSync(join(c.dir, 'cache')).some((n) => n.endsWith('.entry')), 5000, 'the disk entry');
    await new Promise((r) => setTimeout(r, 300));
    const names = readdirSync(join(c.dir, 'cache'));
    expect(names.filter((n) => n.endsWith('.tmp'))).toEqual([]);
    // Every file decodes (decode throws on a torn one); exactly one holds this URL.
    const files = names.filter((n) => n.endsWith('.entry')).map((n) => decode(readFileSync(join(c.dir, 'cache', n))));
    const mine = files.filter((f) => f.url === url('/cacheable/one'));
    expect(mine).toHaveLength(1);
    expect(mine[0]!.variants).toHaveLength(1);
    // Later requests are hits in whichever worker takes them.
    for (let i = 0; i < 6; i++) expect((await get('/cacheable/one')).headers['x-cache']).toMatch(/^HIT/);
    expect(origin.requests.filter((r) => r.url === '/cacheable/one').length).toBe(fetched);
  });

  it('/metrics counts the requests of both workers', async () => {
    await flushed();
    const lines = access().filter((l) => l.kind === 'http');
    const prom = parseProm((await adminGet(adminPort, '/metrics')).body);
    const http = prom.series('egressd_requests_total').filter((s) => s.labels.kind === 'http').reduce((n, s) => n + s.value, 0);
    expect(http).toBe(lines.length);
    expect(lines.filter((l) => l.worker === 2).length).toBeGreaterThan(0);
    expect(prom.value('egressd_workers')).toBe(2);
    expect(prom.value('egressd_config_generation')).toBe(1);
    expect(prom.value('egressd_build_info', { version: (prom.series('egressd_build_info')[0]?.labels.version ?? '') })).toBe(1);
  });

  it('SIGHUP with a bad config is rejected once by the primary; every worker keeps the old one; a good one reaches both', async () => {
    const before = c.cli!.stderr().length;
    c.write('egressd.yaml', `${readFileSync(c.configFile, 'utf8')}\nnotAKey: 1\n`);
    process.kill(c.cli!.pid, 'SIGHUP');
    await c.cli!.waitForLine((l) => String(l.msg).startsWith('reload rejected'), 10_000);
    await new Promise((r) => setTimeout(r, 300));
    const after = c.cli!.stderr().slice(before);
    expect(after.split('\n').filter((l) => l.includes('reload rejected'))).toHaveLength(1);
    expect(after).toContain('unknown key \\"notAKey\\"');
    expect(after).not.toContain('"worker":');
    expect((await get('/after-bad-reload')).headers.via).toBe('1.1 egressd');
    // A valid change: the new proxy name shows in Via from both workers.
    const text = readFileSync(c.configFile, 'utf8').replace('\nnotAKey: 1\n', '\n');
    c.write('egressd.yaml', `${text}\nproxy:\n  name: renamed\n  connectPorts: [443]\n`.replace(/^proxy:\n  connectPorts:\n    - 443\n/m, ''));
    process.kill(c.cli!.pid, 'SIGHUP');
    await c.cli!.waitForLine((l) => l.msg === 'config reloaded in every worker', 10_000);
    const vias: unknown[] = [];
    for (let i = 0; i < 6; i++) vias.push((await get(`/after-reload/${i}`)).headers.via);
    expect(new Set(vias)).toEqual(new Set(['1.1 renamed']));
    await flushed();
    expect(workersOf((l) => String(l.url).includes('/after-reload/'))).toEqual(new Set([1, 2]));
  });

  it('a worker killed by PID is restarted (with the config in force, not a broken file on disk), and requests keep succeeding meanwhile', async () => {
    await flushed(); // its buffered log lines are on disk before it is killed
    // Someone saved a broken file and has not sent SIGHUP: the restart must not read it.
    const good = readFileSync(c.configFile, 'utf8');
    c.write('egressd.yaml', `${good}\nlisteners: 3\n`);
    const status = JSON.parse((await adminGet(adminPort, '/api/status')).body) as { workers: { id: number; pid: number }[] };
    const victim = status.workers.find((w) => w.id === 2)!.pid;
    process.kill(victim, 'SIGKILL');
    await c.cli!.waitForLine((l) => String(l.msg).startsWith('worker 2 (pid') && String(l.msg).includes('died'), 10_000);
    const during: number[] = [];
    let restarted = false;
    const restart = c.cli!.waitForLine((l) => String(l.msg).startsWith('worker 2 restarted'), 20_000).then(() => (restarted = true));
    while (!restarted) {
      during.push((await get(`/during-restart/${during.length}`)).status);
      await new Promise((r) => setTimeout(r, 20));
    }
    await restart;
    c.write('egressd.yaml', good);
    expect(during.length).toBeGreaterThan(0);
    expect(during.every((s) => s === 200)).toBe(true);
    const after = JSON.parse((await adminGet(adminPort, '/api/status')).body) as { workers: { id: number; pid: number; restarts: number }[] };
    const w2 = after.workers.find((w) => w.id === 2)!;
    expect(w2.pid).not.toBe(victim);
    expect(w2.restarts).toBe(1);
    // The restarted worker runs the reloaded config (proxy.name: renamed) too.
    for (let i = 0; i < 8; i++) expect((await get(`/after-restart/${i}`)).headers.via).toBe('1.1 renamed');
    await flushed();
    expect(workersOf((l) => String(l.url).includes('/after-restart/'))).toEqual(new Set([1, 2]));
  }, 45_000);

  it('many requests from both workers into one rotated file: no torn, lost or doubled line', async () => {
    const urls = Array.from({ length: 300 }, (_, i) => `/burst/${i}?pad=${'x'.repeat(200)}`);
    for (let i = 0; i < urls.length; i += 16) await Promise.all(urls.slice(i, i + 16).map((u) => get(u)));
    await flushed();
    await new Promise((r) => setTimeout(r, 1200)); // the primary checks the size every second
    const lines = access(); // JSON.parse throws on a torn or interleaved line
    const burst = lines.filter((l) => String(l.url).includes('/burst/')).map((l) => l.url);
    expect(burst).toHaveLength(300);
    expect(new Set(burst).size).toBe(300);
    expect(c.rotatedFiles('access.log').length).toBeGreaterThan(0);
  }, 45_000);

  it('SIGTERM: requests in flight finish, every worker and the primary exit 0, every answer has its log line', async () => {
    const inflight = Array.from({ length: 4 }, (_, i) => get(`/slow/${i}?delay=700`));
    await until(() => origin.requests.filter((r) => r.url!.startsWith('/slow/')).length === 4, 5000, 'the slow requests to reach the origin');
    process.kill(c.cli!.pid, 'SIGTERM');
    const replies = await Promise.all(inflight);
    expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200]);
    const exit = await c.cli!.exited;
    expect(exit.code).toBe(0);
    const stopped = c.cli!.serverLines().find((l) => l.msg === 'stopped' && l.worker === undefined);
    expect(stopped).toMatchObject({ exitCodes: [0, 0] });
    const logged = access().filter((l) => l.kind === 'http').map((l) => l.url as string);
    // Count lines vs responses, URL by URL.
    const count = (xs: string[]): Map<string, number> => xs.reduce((m, u) => m.set(u, (m.get(u) ?? 0) + 1), new Map<string, number>());
    const want = count(answered);
    const have = count(logged);
    for (const [u, n] of want) expect([u, have.get(u) ?? 0]).toEqual([u, n]);
    expect(logged.length).toBe(answered.length);
  }, 45_000);
});
