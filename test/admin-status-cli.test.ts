import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCliAsync } from './helpers/err-cli.js';
import { closedPort } from './helpers/err-net.js';
import { startParent, type TestParent } from './helpers/parent-proxy.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/** `egressd status`: the facts of /api/status in the terminal, found by --admin or by the config. */

const VERSION = (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const TOKEN = 'status-test-token-0123456789';

let dir: string;
let parent: TestParent;
let px: TestProxy;
let admin: string;

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'egressd-status-cli-'));
  parent = await startParent('p0');
  px = await startTestProxy({
    admin: { listen: { address: '127.0.0.1', port: 0 }, token: TOKEN },
    upstream: { groups: { corp: { strategy: 'round-robin', health: { check: 'none' }, parents: [{ url: parent.url, name: 'p0' }] } } },
  });
  admin = `http://127.0.0.1:${px.proxy.admin.address!.port}`;
});
afterAll(async () => {
  await px?.close();
  await parent?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('egressd status', () => {
  it('prints version, config generation, state, listeners, cache and parents', async () => {
    const r = await runCliAsync(['status', '--admin', admin, '--token', TOKEN]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    const row = (label: string): string => lines.find((l) => l.startsWith(`${label} `)) ?? '';
    expect(row('version')).toContain(`egressd ${VERSION} (pid `);
    expect(row('config')).toContain(`${px.configFile} (generation 1)`);
    expect(row('state')).toMatch(/\bready$/);
    expect(row('listeners')).toContain(`127.0.0.1:${px.port} (forward)`);
    expect(row('cache')).toMatch(/\d+ (entry|entries), .*hit ratio \d+\.\d%/);
    expect(row('interception')).toMatch(/\boff$/);
    expect(row('parents')).toContain('group corp (round-robin)');
    expect(r.stdout).toMatch(new RegExp(`p0 127\\.0\\.0\\.1:${parent.port} up: 0 active, 0 requests, 0 failures`));
  });

  it('--json prints what /api/status answers', async () => {
    const r = await runCliAsync(['status', '--admin', admin, '--token', TOKEN, '--json']);
    expect(r.status).toBe(0);
    const cli = JSON.parse(r.stdout) as Record<string, unknown>;
    const res = await request(`${admin}/api/status`, { headers: { authorization: `Bearer ${TOKEN}` } });
    const api = (await res.body.json()) as Record<string, unknown>;
    for (const k of ['version', 'pid', 'startedAt', 'configFile', 'generation', 'ready', 'listeners', 'parents', 'interception']) expect(cli[k], k).toEqual(api[k]);
  });

  it('finds the admin API and its token through -c FILE', async () => {
    const f = join(dir, 'cli.yaml');
    writeFileSync(f, stringify({ admin: { listen: { address: '127.0.0.1', port: px.proxy.admin.address!.port }, token: TOKEN } }));
    const r = await runCliAsync(['status', '-c', f]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`127.0.0.1:${px.port} (forward)`);
  });

  it('exits 1 with the API\'s reason when the token is missing', async () => {
    const r = await runCliAsync(['status', '--admin', admin]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/^egressd status: 401: .*\[UNAUTHORIZED\]\n$/);
  });

  it('exits 1 when nothing answers at the address', async () => {
    const r = await runCliAsync(['status', '--admin', `http://127.0.0.1:${await closedPort()}`]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cannot reach the admin API at http://127.0.0.1:');
  });

  it('exits 2 when the config has no admin listener, or for an unknown option', async () => {
    const f = join(dir, 'no-admin.yaml');
    writeFileSync(f, stringify({ proxy: { name: 'x' } }));
    const r = await runCliAsync(['status', '-c', f]);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('admin.listen');
    const bad = await runCliAsync(['status', '--bogus']);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toContain('Usage: egressd status');
  });

  it('--help prints its usage; egressd --help lists it', async () => {
    const r = await runCliAsync(['status', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage: egressd status [options]');
    expect(r.stdout).toContain('--json');
    const all = await runCliAsync(['--help']);
    expect(all.stdout).toContain('egressd status [-c FILE] [--admin URL] [--json]');
  });
});
