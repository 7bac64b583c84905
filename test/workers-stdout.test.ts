import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { viaProxy, WorkersCluster } from './helpers/workers-cluster.js';

/**
 * workers: 2 with the access log on stdout: each worker's stdout is a pipe to the
 * primary, which passes on whole lines only. Lines longer than PIPE_BUF (4 KiB), whose
 * writes to a shared pipe would not be atomic, and longer than the pipe itself, arrive
 * whole and unmixed while the reader falls behind.
 */
describe('workers: 2, access log on stdout', () => {
  let origin: { server: Server; url: string };
  const c = new WorkersCluster();

  beforeAll(async () => {
    // Its own origin: node's default 16 KiB header limit would refuse the long URLs.
    const server = createServer({ maxHeaderSize: 512 * 1024 }, (_req, res) => res.end('ok'));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    origin = { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
    await c.start({ workers: 2, limits: { maxHeaderSize: '256KiB' }, log: { access: 'stdout', server: 'stderr' }, timeouts: { shutdownGrace: '2s' } });
  }, 60_000);

  afterAll(async () => {
    await c.close();
    origin.server.closeAllConnections();
    await new Promise((r) => origin.server.close(r));
  });

  it('lines of both workers, 6 KiB and 100 KiB long, are never torn or interleaved', async () => {
    // 100 KiB is more than a pipe holds: written to a shared pipe, such a line must go in pieces.
    const urls = Array.from({ length: 120 }, (_, i) => `${origin.url}/long/${i}?pad=${'y'.repeat(i % 4 === 0 ? 100_000 : 6000)}`);
    // A reader that falls behind fills the pipe: a write above PIPE_BUF then goes in
    // pieces, which is where two writers sharing one pipe would mix their lines.
    const out = c.cli!.child.stdout!;
    out.pause();
    const resume = setTimeout(() => out.resume(), 800);
    const statuses: number[] = [];
    for (let i = 0; i < urls.length; i += 12) statuses.push(...(await Promise.all(urls.slice(i, i + 12).map((u) => viaProxy(c.cli!.port, u)))).map((r) => r.status));
    clearTimeout(resume);
    out.resume();
    expect(statuses.every((s) => s === 200)).toBe(true);
    process.kill(c.cli!.pid, 'SIGTERM');
    expect((await c.cli!.exited).code).toBe(0);
    const raw = c.cli!.stdout().split('\n').filter(Boolean);
    const lines = raw.map((l) => JSON.parse(l) as { url: string; worker: number });
    const long = lines.filter((l) => l.url.includes('/long/'));
    expect(long.map((l) => l.url).sort()).toEqual([...urls].sort());
    expect(new Set(long.map((l) => l.worker))).toEqual(new Set([1, 2]));
  });
});
