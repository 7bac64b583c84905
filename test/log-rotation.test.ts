import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ProxyAgent, request } from 'undici';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { AccessLog, type AccessRecord } from '../src/log/access-log.js';
import { ensureBuilt, startCli } from './helpers/err-cli.js';
import { startOrigin } from './helpers/origin.js';
import { baseConfig, merge } from './helpers/proxy.js';

/**
 * Access-log files rotate by size and by age without losing or splitting a line; rotated
 * files are gzipped and pruned; and egressd stopped under load has written a line for
 * every request it answered.
 */

let dir: string;
beforeAll(() => ensureBuilt());
afterEach(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const record = (i: number): AccessRecord => ({
  id: `r-${i}`, kind: 'http', clientIp: '127.0.0.1', clientPort: 1, method: 'GET', url: `http://e.example/${i}`, status: 200, bytesIn: 0, bytesOut: 10,
  startedAt: 0, upstream: null, errorCode: null, errorReason: null, tls: 'plain', sni: null, user: null, groups: [], decision: null, cache: null, quota: null,
});

function allLines(d: string, base: string): string[] {
  const out: string[] = [];
  for (const n of readdirSync(d).filter((f) => f.startsWith(base))) {
    const raw = readFileSync(join(d, n));
    const text = n.endsWith('.gz') ? gunzipSync(raw).toString() : raw.toString();
    out.push(...text.split('\n').filter(Boolean));
  }
  return out;
}

describe('rotation', () => {
  it('by size: every line is in exactly one file, none split', async () => {
    dir = mkdtempSync(join(tmpdir(), 'egressd-rot-'));
    const file = join(dir, 'access.log');
    const log = new AccessLog(file, { rotation: { size: 4096, every: 0, keep: 1000, gzip: false } });
    for (let i = 0; i < 500; i++) {
      log.write(record(i), 1);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1)); // as traffic does: the file (re)opens between lines
    }
    await log.close();
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(5);
    const lines = allLines(dir, 'access.log');
    expect(lines.length).toBe(500);
    expect(new Set(lines.map((l) => (JSON.parse(l) as { id: string }).id)).size).toBe(500);
  });

  it('a rotation while a write is in flight, then a drain: the drain ends at once and no line is lost', async () => {
    // sonic-boom threw in its fs callback here (an uncaught exception: the process would
    // die): see guardEmptyWrite.
    dir = mkdtempSync(join(tmpdir(), 'egressd-rot-'));
    const file = join(dir, 'access.log');
    const uncaught: Error[] = [];
    const onUncaught = (err: Error): void => void uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const log = new AccessLog(file, { rotation: { size: 100, every: 0, keep: 1000, gzip: false } });
      await new Promise((r) => setTimeout(r, 50)); // the file is open
      for (let round = 0; round < 5; round++) {
        for (let i = 0; i < 3; i++) log.write(record(round * 3 + i), 1);
        const t0 = Date.now();
        await log.drain(); // hands the lines over (a write starts, the size rotates), then flushes
        expect(Date.now() - t0).toBeLessThan(1000);
      }
      await log.close();
      await new Promise((r) => setTimeout(r, 50)); // a late fs callback would throw by now
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught.map((e) => e.message)).toEqual([]);
    const lines = allLines(dir, 'access.log');
    expect(new Set(lines.map((l) => (JSON.parse(l) as { id: string }).id)).size).toBe(15);
    expect(lines.length).toBe(15);
  });

  it('rotated files are gzipped and only the newest `keep` are kept', async () => {
    dir = mkdtempSync(join(tmpdir(), 'egressd-rot-'));
    const file = join(dir, 'access.log');
    const log = new AccessLog(file, { rotation: { size: 2048, every: 0, keep: 3, gzip: true } });
    for (let i = 0; i < 300; i++) {
      log.write(record(i), 1);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 5)); // let compression run
    }
    await log.close();
    // Compression runs in the background: wait until every rotated file is a .gz.
    await expect.poll(() => readdirSync(dir).filter((n) => n !== 'access.log' && !n.endsWith('.gz')), { timeout: 5000 }).toEqual([]);
    await expect.poll(() => readdirSync(dir).filter((n) => n.endsWith('.gz')).length, { timeout: 5000 }).toBe(3);
    for (const n of readdirSync(dir).filter((f) => f.endsWith('.gz'))) {
      for (const l of gunzipSync(readFileSync(join(dir, n))).toString().trim().split('\n')) expect(() => JSON.parse(l)).not.toThrow();
    }
  });

  it('by age: a line written after `every` starts a new file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'egressd-rot-'));
    const file = join(dir, 'access.log');
    let now = Date.UTC(2026, 11, 1, 0, 0, 0);
    const { RotatingDestination } = await import('../src/log/rotation.js');
    const written: string[] = [];
    const fake = { write: (s: string) => void written.push(s), reopen: () => writeFileSync(file, ''), flushSync: () => undefined };
    writeFileSync(file, '');
    const r = new RotatingDestination(fake, file, { size: 0, every: 3_600_000, keep: 5, gzip: false, now: () => now });
    r.write('a\n');
    now += 3_599_000;
    r.write('b\n');
    expect(readdirSync(dir)).toEqual(['access.log']);
    now += 1000;
    r.write('c\n');
    expect(readdirSync(dir).sort()).toEqual(['access.log', 'access.log.2026-12-01T01-00-00Z']);
  });
});

describe('stopped under load', () => {
  it('every request answered before SIGTERM has its access-log line', async () => {
    dir = mkdtempSync(join(tmpdir(), 'egressd-rot-'));
    const origin = await startOrigin((_q, s) => s.end('ok'));
    const cfg = join(dir, 'egressd.yaml');
    const accessFile = join(dir, 'access.log');
    writeFileSync(cfg, stringify(merge(baseConfig(), { log: { access: accessFile, rotate: { size: '8KiB', gzip: false, keep: 1000 } }, timeouts: { shutdownGrace: '2s' } })));
    const cli = await startCli(cfg);
    const agent = new ProxyAgent({ uri: `http://127.0.0.1:${cli.port}`, proxyTunnel: false, connections: 8 });
    let answered = 0;
    let stop = false;
    const loops = Array.from({ length: 8 }, async () => {
      while (!stop) {
        try {
          const res = await request(`${origin.url}/x`, { dispatcher: agent });
          await res.body.text();
          answered++;
        } catch {
          return; // the listener closed
        }
      }
    });
    await new Promise((r) => setTimeout(r, 800));
    process.kill(cli.pid, 'SIGTERM');
    stop = true;
    await Promise.all(loops);
    const exit = await cli.exited;
    await agent.close();
    await origin.close();
    expect(exit.code).toBe(0);
    const lines = allLines(dir, 'access.log').map((l) => JSON.parse(l) as { url: string; status: number });
    expect(answered).toBeGreaterThan(50);
    // Each answer the clients got is a line; a request cut by the shutdown is a line too.
    expect(lines.filter((l) => l.url === `${origin.url}/x`).length).toBeGreaterThanOrEqual(answered);
    expect(readdirSync(dir).filter((n) => n.startsWith('access.log.')).length).toBeGreaterThan(0);
  });
});
