import { once } from 'node:events';
import { readdirSync, readFileSync, renameSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCliAsync } from './helpers/err-cli.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { until, viaProxy, WorkersCluster } from './helpers/workers-cluster.js';

/** Processes whose command line names `file` (a worker left behind would). */
function processesNaming(file: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(file)) out.push(Number(p));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}

describe('workers: start-up and SIGUSR1', () => {
  let origin: Origin;
  let c: WorkersCluster | null = null;
  beforeAll(async () => {
    ensureBuilt();
    origin = await startOrigin((_req, res) => res.end('ok'));
  });
  afterEach(async () => {
    await c?.close();
    c = null;
  });
  afterAll(() => origin.close());

  it('a port in use: every worker fails, the primary says so once and exits 1, leaving no process behind', async () => {
    const busy: Server = createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const { port } = busy.address() as AddressInfo;
    c = new WorkersCluster();
    c.writeConfig({ workers: 2, listeners: [{ address: '127.0.0.1', port }], log: { access: 'stdout', server: 'stderr' } });
    const r = await runCliAsync(['start', '-c', c.configFile]);
    busy.close();
    expect(r.status).toBe(1);
    const lines = r.stderr.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; worker?: number });
    expect(lines.filter((l) => l.msg.startsWith('not started: a worker could not start'))).toHaveLength(1);
    expect(lines.some((l) => l.worker !== undefined && l.msg.includes('EADDRINUSE'))).toBe(true);
    expect(lines.some((l) => l.msg.startsWith('listening on'))).toBe(false);
    expect(processesNaming(c.configFile)).toEqual([]);
  });

  it('regression: SIGUSR1 with the logs on stdout/stderr does not take the process down (workers 1 and 2)', async () => {
    for (const workers of [1, 2]) {
      c = new WorkersCluster();
      const cli = await c.start({ workers, log: { access: 'stdout', server: 'stderr' } });
      // The signal handlers are in place once it says it started (node's own SIGUSR1 default starts the inspector).
      await cli.waitForLine((l) => String(l.msg).startsWith('egressd started'), 10_000);
      process.kill(cli.pid, 'SIGUSR1');
      await cli.waitForLine((l) => String(l.msg).startsWith('log files reopened'), 5000);
      await new Promise((r) => setTimeout(r, 300));
      expect(cli.child.exitCode).toBeNull();
      expect(cli.stderr()).not.toContain('uncaught exception');
      expect((await viaProxy(cli.port, `${origin.url}/after-usr1`)).status).toBe(200);
      await c.close();
      c = null;
    }
  }, 60_000);

  it('SIGUSR1 after the file was moved away: every worker continues in a new file', async () => {
    c = new WorkersCluster();
    const cli = await c.start({ workers: 2, log: { access: 'access.log', server: 'stderr' } });
    for (let i = 0; i < 6; i++) expect((await viaProxy(cli.port, `${origin.url}/before/${i}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 600));
    renameSync(join(c.dir, 'access.log'), join(c.dir, 'moved.log'));
    process.kill(cli.pid, 'SIGUSR1');
    await cli.waitForLine((l) => l.msg === 'log files reopened (primary and every worker)', 5000);
    // Each worker reopens on its own message; give them a moment.
    await until(() => cli.serverLines().filter((l) => l.msg === 'log files reopened' && l.worker !== undefined).length === 2, 5000, 'both workers to reopen');
    for (let i = 0; i < 8; i++) expect((await viaProxy(cli.port, `${origin.url}/after/${i}`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 600));
    const read = (name: string): { url: string; worker: number }[] => readFileSync(join(c!.dir, name), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(read('moved.log').filter((l) => l.url.includes('/before/'))).toHaveLength(6);
    const after = read('access.log').filter((l) => l.url.includes('/after/'));
    expect(after).toHaveLength(8);
    expect(new Set(after.map((l) => l.worker))).toEqual(new Set([1, 2]));
  }, 40_000);
});
