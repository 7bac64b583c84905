import { readFileSync, mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { sleep } from './helpers/err-net.js';
import { ensureBuilt, runCli, startCli, type RunningCli } from './helpers/err-cli.js';
import { startOrigin, type Origin } from './helpers/origin.js';

interface Reply {
  status: number;
  body: string;
  via: string | undefined;
  error?: string;
}

/** A request through the proxy with node:http; never rejects. */
function get(proxyPort: number, url: string): Promise<Reply> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port: proxyPort, path: url, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks).toString(), via: res.headers.via as string | undefined }));
      res.on('error', (e) => resolve({ status: res.statusCode!, body: '', via: undefined, error: e.message }));
    });
    req.on('error', (e) => resolve({ status: 0, body: '', via: undefined, error: e.message }));
    req.end();
  });
}

function accessLines(file: string): Record<string, unknown>[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('egressd start as a child process', () => {
  let dir: string;
  let origin: Origin;
  let cli: RunningCli | undefined;
  let n = 0;

  beforeAll(async () => {
    ensureBuilt();
    dir = mkdtempSync(join(tmpdir(), 'egressd-life-'));
    origin = await startOrigin((req, res) => {
      const delay = Number(new URL(req.url!, 'http://x').searchParams.get('delay') ?? 0);
      const t = setTimeout(() => res.end(`done ${req.url} via=${req.headers.via}`), delay);
      res.on('close', () => clearTimeout(t));
    });
  });
  afterEach(() => {
    cli?.kill();
    cli = undefined;
  });
  afterAll(async () => {
    await origin.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function writeConfig(over: Record<string, unknown> = {}, file = join(dir, `egressd-${++n}.yaml`)): { file: string; access: string } {
    const access = join(dir, `access-${n}.log`);
    const base = {
      listeners: [{ address: '127.0.0.1', port: 0 }],
      clients: { allow: ['127.0.0.0/8'] },
      egress: { allowPrivate: ['127.0.0.1/32'] },
      log: { access, server: 'stderr' },
    };
    writeFileSync(file, stringify({ ...base, ...over }));
    return { file, access };
  }

  it('SIGTERM lets an in-flight slow request finish, exits 0 and the access log has its line', async () => {
    const { file, access } = writeConfig({ timeouts: { shutdownGrace: '10s' } });
    cli = await startCli(file);
    const url = `${origin.url}/slow?delay=1000`;
    const before = origin.requests.length;
    const pending = get(cli.port, url);
    for (let i = 0; i < 100 && origin.requests.length === before; i++) await sleep(10);
    expect(origin.requests.length).toBe(before + 1);
    const signalled = Date.now();
    process.kill(cli.pid, 'SIGTERM');
    // While draining, the listener no longer accepts new connections.
    await sleep(100);
    const refused = await get(cli.port, `${origin.url}/after-sigterm`);
    expect(refused.status === 0 || refused.status === 503).toBe(true);
    const reply = await pending;
    expect(reply.status).toBe(200);
    expect(reply.body).toBe('done /slow?delay=1000 via=1.1 egressd');
    const { code, at } = await cli.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeGreaterThanOrEqual(800);
    expect(at - signalled).toBeLessThan(5000);
    const line = accessLines(access).find((l) => l.url === url);
    expect(line).toMatchObject({ status: 200, msg: 'request', error: null });
  });

  it('SIGTERM with shutdownGrace 500ms cuts a 5 s request and exits 0 within ~1.5 s', async () => {
    const { file, access } = writeConfig({ timeouts: { shutdownGrace: '500ms' } });
    cli = await startCli(file);
    const url = `${origin.url}/very-slow?delay=5000`;
    const before = origin.requests.length;
    const pending = get(cli.port, url);
    for (let i = 0; i < 100 && origin.requests.length === before; i++) await sleep(10);
    expect(origin.requests.length).toBe(before + 1);
    const signalled = Date.now();
    process.kill(cli.pid, 'SIGTERM');
    const { code, at } = await cli.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeLessThan(1500);
    expect(at - signalled).toBeGreaterThanOrEqual(400);
    const reply = await pending;
    expect(reply.status).not.toBe(200);
    expect(cli.stderr()).toContain('shutdown grace expired');
    // The cut request is still logged, with an error.
    const line = accessLines(access).find((l) => l.url === url);
    expect(line).toBeDefined();
    expect(line!.error).not.toBeNull();
  });

  it('SIGTERM with nothing in flight exits 0 promptly', async () => {
    const { file } = writeConfig();
    cli = await startCli(file);
    expect((await get(cli.port, `${origin.url}/quick`)).status).toBe(200);
    const signalled = Date.now();
    process.kill(cli.pid, 'SIGTERM');
    const { code, at } = await cli.exited;
    expect(code).toBe(0);
    expect(at - signalled).toBeLessThan(1500);
  });

  it('SIGHUP reloads a valid edited config (Via changes), and rejects an invalid one keeping the old', async () => {
    const { file } = writeConfig({ proxy: { name: 'first-name' } });
    cli = await startCli(file);
    expect((await get(cli.port, `${origin.url}/one`)).via).toBe('1.1 first-name');

    writeConfig({ proxy: { name: 'second-name' } }, file);
    process.kill(cli.pid, 'SIGHUP');
    await cli.waitForLine((l) => l.msg === 'config reloaded');
    const two = await get(cli.port, `${origin.url}/two`);
    expect(two.via).toBe('1.1 second-name');
    expect(two.body).toContain('via=1.1 second-name');

    writeFileSync(file, readFileSync(file, 'utf8') + 'bogusKey: 1\ntimeouts:\n  clientIdle: whenever\n');
    process.kill(cli.pid, 'SIGHUP');
    const rejected = await cli.waitForLine((l) => String(l.msg).startsWith('reload rejected'));
    const problems = rejected.problems as string[];
    expect(problems.length).toBeGreaterThan(0);
    for (const p of problems) expect(p).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: `));
    expect(problems.some((p) => p.includes('bogusKey'))).toBe(true);
    const three = await get(cli.port, `${origin.url}/three`);
    expect(three.status).toBe(200);
    expect(three.via).toBe('1.1 second-name');
    expect(cli.child.exitCode).toBeNull();

    process.kill(cli.pid, 'SIGTERM');
    expect((await cli.exited).code).toBe(0);
  });

  it('does not start with an invalid config: exit 1, file:line:col on stderr, no listener', () => {
    const file = join(dir, 'invalid.yaml');
    writeFileSync(file, 'listeners:\n  - address: 127.0.0.1\n    port: 0\nproxy:\n  connectPorts: [443, https]\n');
    const r = runCli(['start', '-c', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5:23: proxy\\.connectPorts\\[1\\]`, 'm'));
    expect(r.stderr).not.toContain('listening on');
  });

  it('does not start when the listener address is taken: exit 1 with a reason', async () => {
    const { file } = writeConfig({ listeners: [{ address: '127.0.0.1', port: origin.port }] });
    const r = runCli(['start', '-c', file]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('EADDRINUSE');
  });
});
