import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from './helpers/origin.js';
import { viaProxy, WorkersCluster } from './helpers/workers-cluster.js';

/**
 * workers: 2 with the access log on stdout: each worker's stdout is a pipe to the
 * primary, which passes on whole lines only. Lines longer than PIPE_BUF (4 KiB), whose
 * writes to a shared pipe would not be atomic, arrive whole and unmixed.
 */
describe('workers: 2, access log on stdout', () => {
  let origin: Origin;
  const c = new WorkersCluster();

  beforeAll(async () => {
    origin = await startOrigin((_req, res) => res.end('ok'));
    await c.start({ workers: 2, log: { access: 'stdout', server: 'stderr' }, timeouts: { shutdownGrace: '2s' } });
  }, 60_000);

  afterAll(async () => {
    await c.close();
    await origin.close();
  });

  it('lines of both workers, each 6 KiB, are never torn or interleaved', async () => {
    const pad = 'y'.repeat(6000);
    const urls = Array.from({ length: 120 }, (_, i) => `${origin.url}/long/${i}?pad=${pad}`);
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
