import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { openTunnel } from './helpers/err-net.js';
import { ensureBuilt, startCli, type RunningCli } from './helpers/err-cli.js';
import { getThrough } from './helpers/faults.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { baseConfig, merge } from './helpers/proxy.js';
import { steadyLoad } from './helpers/steady-load.js';

/**
 * SIGTERM under a steady load (issue 10), with the real `egressd start`: plain
 * keep-alive clients and clients whose requests go through CONNECT tunnels. Every
 * request that started before the signal completes with its whole body, new
 * connections are refused once the signal is taken, the exit code is 0, and every
 * served request and tunnel has its access-log line. Single slow requests and the grace
 * expiring are in test/lifecycle-signals.test.ts; log lines under rotation in
 * test/log-rotation.test.ts.
 */

// Long enough that requests are still in flight at the signal even when the test's own
// timers run late on a loaded machine (CI runs test files in parallel on 2 cores).
const ORIGIN_DELAY = 300;

let dir: string;
let plainOrigin: Origin;
let tunnelOrigin: Origin;
let cli: RunningCli | undefined;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'egressd-sigterm-load-'));
  // Slow enough that requests are in flight when the signal comes.
  const slow = (label: string) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const t = setTimeout(() => res.end(`${label} ${req.url}`), ORIGIN_DELAY);
    res.on('close', () => clearTimeout(t));
  };
  plainOrigin = await startOrigin(slow('plain'));
  tunnelOrigin = await startOrigin(slow('tunnel'));
});
afterAll(async () => {
  cli?.kill();
  await plainOrigin?.close();
  await tunnelOrigin?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('SIGTERM mid-load', () => {
  it('zero failed requests among those started before the signal, refused after, exit 0, one log line per request and tunnel', async () => {
    const access = join(dir, 'access.log');
    const file = join(dir, 'egressd.yaml');
    writeFileSync(file, stringify(merge(baseConfig(), { log: { access, server: 'stderr' }, proxy: { connectPorts: [tunnelOrigin.port] }, timeouts: { shutdownGrace: '5s' } })));
    cli = await startCli(file);
    const proxyUrl = `http://127.0.0.1:${cli.port}`;
    const plain = steadyLoad(proxyUrl, { clients: 8, url: (n) => `${plainOrigin.url}/p/${n}` });
    const tunnelled = steadyLoad(proxyUrl, { clients: 3, tunnel: true, url: (n) => `${tunnelOrigin.url}/t/${n}` });
    await new Promise((r) => setTimeout(r, 1500));

    // Stop issuing, let the last requests reach the proxy (they wait ORIGIN_DELAY at the
    // origin), then signal: everything in flight started before the signal.
    const stopped = Promise.all([plain.stop(), tunnelled.stop()]);
    await new Promise((r) => setTimeout(r, 30));
    const signalledAt = Date.now();
    process.kill(cli.pid, 'SIGTERM');
    await cli.waitForLine((l) => String(l.msg).startsWith('draining'));
    const inFlight = [...plain.results, ...tunnelled.results].length;

    // New connections are refused once draining.
    const late = await getThrough(cli.port, `${plainOrigin.url}/late`, 2000);
    expect(late.status).toBe(0);
    await expect(openTunnel(cli.port, `127.0.0.1:${tunnelOrigin.port}`)).rejects.toThrow(/ECONNREFUSED/);

    await stopped;
    const exit = await cli.exited;
    expect(exit.code).toBe(0);
    expect(exit.at - signalledAt).toBeLessThan(4000);

    const all = [...plain.results, ...tunnelled.results];
    expect(all.filter((r) => !r.ok), JSON.stringify(all.filter((r) => !r.ok).slice(0, 5))).toEqual([]);
    expect(plain.results.length).toBeGreaterThan(20);
    expect(tunnelled.results.length).toBeGreaterThan(5);
    // Some requests were still in flight at the signal (they ended after it).
    expect(all.filter((r) => r.endedAt > signalledAt).length).toBeGreaterThan(0);
    expect(all.length).toBeGreaterThanOrEqual(inFlight);
    for (const r of plain.results) expect(r.body).toMatch(/^plain \/p\/\d+$/);

    const lines = readFileSync(access, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { id: string; kind: string; url: string; status: number; error: string | null });
    // Ids are unique: no line twice.
    expect(new Set(lines.map((l) => l.id)).size).toBe(lines.length);
    // Every plain response the clients got is exactly one 200 line for its URL (each URL is unique).
    const served = new Map(lines.filter((l) => l.kind === 'http').map((l) => [l.url, l]));
    for (const r of plain.results) {
      const url = `${plainOrigin.url}${r.body.slice('plain '.length)}`;
      expect(served.get(url), url).toMatchObject({ status: 200, error: null });
    }
    expect(lines.filter((l) => l.kind === 'http' && l.url.startsWith(`${plainOrigin.url}/p/`)).length).toBe(plain.results.length);
    // Every tunnel the clients opened (one origin connection each) has its line, ended cleanly.
    const tunnels = lines.filter((l) => l.kind === 'connect');
    expect(tunnels.length).toBe(tunnelOrigin.connections);
    for (const t of tunnels) expect(t).toMatchObject({ url: `127.0.0.1:${tunnelOrigin.port}`, status: 200 });
    expect(tunnels.filter((t) => t.error === 'SHUTTING_DOWN')).toEqual([]);
  });
});
