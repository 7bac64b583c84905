import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ensureBuilt, runCliAsync } from './helpers/err-cli.js';

/** `egressd quota show [USER]` reads the snapshot the config names and prints what is left. */

let dir: string;
const now = new Date();
const dayStart = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate());
const nextDay = new Date(dayStart + 86_400_000).toISOString().slice(0, 10);
const MiB = 1 << 20;

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'egressd-qcli-'));
  writeFileSync(join(dir, 'egressd.yaml'), stringify({
    quota: {
      profiles: { staff: { rate: 10, burst: 20, volume: ['100MiB per day'] }, anon: { volume: ['1MiB per day'] } },
      default: 'staff',
      anonymous: 'anon',
      snapshot: { file: 'state.json' },
    },
  }));
  writeFileSync(join(dir, 'state.json'), JSON.stringify({
    version: 1,
    savedAt: now.toISOString(),
    entries: {
      // Bucket last touched long ago: it has refilled to the burst.
      'staff|alice': { t: 3, a: 0, v: { day: [dayStart, 30 * MiB] } },
      // Yesterday's window: today the allowance is whole again.
      'staff|bob': { t: 20, a: 0, v: { day: [dayStart - 86_400_000, 99 * MiB] } },
      'anon|ip:10.0.0.9': { t: 0, a: 0, v: { day: [dayStart, 2 * MiB] } },
    },
  }));
  writeFileSync(join(dir, 'redis.yaml'), stringify({ quota: { profiles: { p: {} }, store: 'redis', redis: { url: 'redis://:secret@127.0.0.1:1' } } }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('egressd quota show', () => {
  it('prints every key: tokens, bytes used and left, reset time', async () => {
    const r = await runCliAsync(['quota', 'show', '-c', join(dir, 'egressd.yaml')]);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => l.split(/\s{2,}/));
    expect(lines[0]).toEqual(['WHO', 'PROFILE', 'LIMIT', 'USED', 'LEFT', 'RESETS']);
    expect(lines.slice(1)).toEqual([
      ['ip:10.0.0.9', 'anon', '1MiB per day', '2.00 MiB', '0 B', `${nextDay} 00:00 UTC`],
      ['alice', 'staff', 'rate 10/s burst 20', '0 tokens', '20 tokens', '-'],
      ['alice', 'staff', '100MiB per day', '30.0 MiB', '70.0 MiB', `${nextDay} 00:00 UTC`],
      ['bob', 'staff', 'rate 10/s burst 20', '0 tokens', '20 tokens', '-'],
      ['bob', 'staff', '100MiB per day', '0 B', '100.0 MiB', `${nextDay} 00:00 UTC`],
    ]);
  });

  it('USER limits the output; an address finds the anonymous key; --json for scripts', async () => {
    const r = await runCliAsync(['quota', 'show', 'ALICE', '-c', join(dir, 'egressd.yaml'), '--json']);
    expect(r.status).toBe(0);
    const rows = JSON.parse(r.stdout) as { who: string; limit: string; used: number; left: number; resetsAt: string | null }[];
    expect(rows.map((x) => [x.who, x.limit, x.used, x.left])).toEqual([
      ['alice', 'rate 10/s burst 20', 0, 20],
      ['alice', '100MiB per day', 30 * MiB, 70 * MiB],
    ]);
    expect(rows[1]!.resetsAt).toBe(new Date(dayStart + 86_400_000).toISOString());
    const ip = await runCliAsync(['quota', 'show', '10.0.0.9', '-c', join(dir, 'egressd.yaml')]);
    expect(ip.stdout).toMatch(/^ip:10\.0\.0\.9\s+anon\s+1MiB per day\s+2\.00 MiB\s+0 B/m);
    const none = await runCliAsync(['quota', 'show', 'carol', '-c', join(dir, 'egressd.yaml')]);
    expect(none).toMatchObject({ status: 0, stdout: 'no usage recorded for carol\n' });
  });

  it('a missing snapshot is a warning and no usage; usage errors exit 2; unreachable Redis exits 1 without the password', async () => {
    writeFileSync(join(dir, 'nosnap.yaml'), stringify({ quota: { profiles: { p: {} }, snapshot: { file: 'none.json' } } }));
    const [missing, bare, two, unknown, help, redis] = await Promise.all([
      runCliAsync(['quota', 'show', '-c', join(dir, 'nosnap.yaml')]),
      runCliAsync(['quota']),
      runCliAsync(['quota', 'show', 'a', 'b']),
      runCliAsync(['quota', 'show', '--nope']),
      runCliAsync(['quota', 'show', '--help']),
      runCliAsync(['quota', 'show', '-c', join(dir, 'redis.yaml')]),
    ]);
    expect(missing.status).toBe(0);
    expect(missing.stderr).toMatch(/quota snapshot not found/);
    expect(missing.stdout).toBe('no usage recorded\n');
    expect([bare.status, two.status, unknown.status]).toEqual([2, 2, 2]);
    expect(help).toMatchObject({ status: 0 });
    expect(help.stdout).toMatch(/^Usage: egressd quota show \[USER\]/);
    expect(redis.status).toBe(1);
    expect(redis.stderr).toMatch(/cannot reach redis redis:\/\/\*\*\*@127\.0\.0\.1:1/);
    expect(redis.stderr).not.toContain('secret');
  });

  it('check-config reports a policy rule naming an unknown quota profile', async () => {
    writeFileSync(join(dir, 'pol.yaml'), 'version: 1\nrules:\n  - id: default\n    action: allow\n    quota: gold\n');
    writeFileSync(join(dir, 'refs.yaml'), stringify({ quota: { profiles: { silver: {} } }, policy: { files: ['pol.yaml'] } }));
    const r = await runCliAsync(['check-config', '-c', join(dir, 'refs.yaml')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toBe(`${join(dir, 'pol.yaml')}:3:1: rule "default": unknown quota profile "gold" (config quota.profiles: silver)\n`);
  });

  it('egressd --help lists the command', async () => {
    expect((await runCliAsync(['--help'])).stdout).toMatch(/egressd quota show \[USER\] \[-c FILE\]/);
  });
});
