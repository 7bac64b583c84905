import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCliAsync } from '../helpers/err-cli.js';

/**
 * `egressd audit` over generated logs whose answers are known: a rotated set (one gzip
 * file, one plain), a server-log line and a broken line mixed in, filters and formats.
 */

let dir: string;
let plain: string;
let gz: string;

type Line = Record<string, unknown>;
const base = (i: number, over: Line): Line => ({
  level: 30,
  time: new Date(Date.UTC(2026, 11, 1, 8, 0, i)).toISOString(),
  id: `x-${i}`,
  kind: 'http',
  client: '10.0.0.9',
  user: null,
  method: 'GET',
  status: 200,
  bytesIn: 0,
  bytesOut: 100,
  error: null,
  cache: null,
  decision: { action: 'allow', rule: 'default', reason: 'allowed by rule "default"', mode: 'enforce' },
  msg: 'request',
  ...over,
});

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'egressd-audit-'));
  const older: Line[] = [];
  const newer: Line[] = [];
  let i = 0;
  // alice: 6 requests to a.example (100 B each), two of them cache hits, one miss.
  for (let k = 0; k < 6; k++) older.push(base(i++, { user: 'alice', url: `http://a.example/p${k}`, cache: k < 2 ? 'hit' : k === 2 ? 'miss' : null }));
  // bob: 3 requests to b.example, 1,000 B each, and one tunnel to c.example (5,000 B).
  for (let k = 0; k < 3; k++) newer.push(base(i++, { user: 'bob', url: `http://b.example/${k}`, bytesOut: 1000 }));
  newer.push(base(i++, { user: 'bob', kind: 'connect', method: 'CONNECT', url: 'c.example:443', bytesOut: 5000, bytesIn: 700, msg: 'tunnel' }));
  // Two denials by rule no-social, one by no-video; one upstream error.
  for (let k = 0; k < 2; k++) newer.push(base(i++, { user: 'carol', url: 'http://www.social.example/', status: 403, bytesOut: 0, error: 'POLICY_DENIED', decision: { action: 'deny', rule: 'no-social', reason: 'Social media', mode: 'enforce' } }));
  newer.push(base(i++, { user: 'carol', url: 'http://v.example/video', status: 403, bytesOut: 0, error: 'POLICY_DENIED', decision: { action: 'deny', rule: 'no-video', reason: 'No video', mode: 'enforce' } }));
  newer.push(base(i++, { url: 'http://down.example/', status: 502, bytesOut: 0, error: 'UPSTREAM_REFUSED' }));
  const text = (ls: Line[]): string => ls.map((l) => JSON.stringify(l)).join('\n') + '\n';
  gz = join(dir, 'access.log.1.gz');
  writeFileSync(gz, gzipSync(text(older)));
  plain = join(dir, 'access.log');
  writeFileSync(plain, `${text(newer)}{"level":30,"msg":"listening on 127.0.0.1:3128"}\nnot json at all\n`);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

const json = async (args: string[]): Promise<Record<string, any>> => {
  const r = await runCliAsync(['audit', '--format', 'json', ...args]);
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout);
};

describe('egressd audit', () => {
  it('reads a rotated set (gzip + plain) and gives the known totals, skipping non-access lines', async () => {
    const r = await json([gz, plain]);
    expect(r).toMatchObject({ lines: 16, skipped: 2, requests: 13, tunnels: 1, bytesOut: 600 + 3000 + 5000, bytesIn: 700 });
    // By requests; bytes per user in the same rows.
    expect(r.topUsers.map((u: { user: string }) => u.user)).toEqual(['alice', 'bob', 'carol', '(anonymous 10.0.0.9)']);
    expect(r.topUsers[1]).toEqual({ user: 'bob', requests: 4, bytesOut: 8000, bytesIn: 700 });
    expect(r.topDestinations[0]).toEqual({ host: 'a.example', requests: 6, bytesOut: 600 });
    expect(r.topDestinations.find((d: { host: string }) => d.host === 'c.example')).toEqual({ host: 'c.example', requests: 1, bytesOut: 5000 });
    expect(r.denied).toEqual([
      { rule: 'no-social', count: 2, reason: 'Social media', example: 'http://www.social.example/' },
      { rule: 'no-video', count: 1, reason: 'No video', example: 'http://v.example/video' },
    ]);
    expect(r.errors).toEqual([{ code: 'POLICY_DENIED', count: 3 }, { code: 'UPSTREAM_REFUSED', count: 1 }]);
    expect(r.cache).toMatchObject({ hit: 2, miss: 1 });
    expect(r.cache.hitRatio).toBeCloseTo(2 / 3, 5);
    expect(r.first).toBe('2026-12-01T08:00:00.000Z');
  });

  it('filters by user, host glob, action, status class and time', async () => {
    expect((await json(['--user', 'ALICE', gz, plain])).requests).toBe(6);
    expect((await json(['--host', '*.example', '--action', 'deny', gz, plain])).requests).toBe(3);
    expect((await json(['--status', '5xx', gz, plain])).errors).toEqual([{ code: 'UPSTREAM_REFUSED', count: 1 }]);
    expect((await json(['--status', '403', gz, plain])).requests).toBe(3);
    const late = await json(['--since', '2026-12-01T08:00:06Z', '--until', '2026-12-01T08:00:09Z', gz, plain]);
    expect(late.requests + late.tunnels).toBe(3);
  });

  it('reads standard input when no file is given', async () => {
    const { spawnSync } = await import('node:child_process');
    const { BIN } = await import('../helpers/err-cli.js');
    const { readFileSync } = await import('node:fs');
    const r = spawnSync(process.execPath, [BIN, 'audit', '--format', 'json'], { input: readFileSync(plain), encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout).requests).toBe(7);
  });

  it('table and csv formats carry the same facts', async () => {
    const t = await runCliAsync(['audit', gz, plain]);
    expect(t.status).toBe(0);
    expect(t.stdout).toMatch(/^13 requests, 1 tunnels from 2026-12-01T08:00:00.000Z/);
    expect(t.stdout).toMatch(/Top users\n\s+user\s+requests\s+to client\s+from client\n\s+alice\s+6\s+600 B\s+0 B\n\s+bob\s+4\s+7\.8 KiB\s+700 B/);
    expect(t.stdout).toMatch(/no-social\s+2\s+Social media/);
    expect(t.stdout).toContain('hit ratio 66.7%');
    const c = await runCliAsync(['audit', '--format', 'csv', gz, plain]);
    const rows = c.stdout.trim().split('\n');
    expect(rows[0]).toBe('section,key,requests,bytes_out,bytes_in,detail');
    expect(rows).toContain('user,bob,4,8000,700,');
    expect(rows).toContain('denied,no-social,2,,,Social media');
  });

  it('bad options exit 2 with a one-line reason; a missing file exits 1', async () => {
    const bad = await runCliAsync(['audit', '--status', 'teapot', plain]);
    expect(bad.status).toBe(2);
    expect(bad.stderr.split('\n')[0]).toBe('egressd audit: --status must be a status code (403) or a class (4xx)');
    const since = await runCliAsync(['audit', '--since', 'yesterday', plain]);
    expect(since.status).toBe(2);
    const missing = await runCliAsync(['audit', join(dir, 'nope.log')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/nope\.log: no such file/);
  });

  it('a truncated gzip file is an error, not a silent partial report', async () => {
    const cut = join(dir, 'cut.log.gz');
    const whole = gzipSync(Buffer.from(`${JSON.stringify(base(1, { url: 'http://a.example/' }))}\n`.repeat(2000)));
    writeFileSync(cut, whole.subarray(0, whole.length >> 1));
    const r = await runCliAsync(['audit', cut]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cut\.log\.gz: .*(unexpected end|Unexpected end)/i);
  });
});
