import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DiskStore } from '../src/cache/disk-store.js';
import type { CacheEntry } from '../src/cache/entry.js';
import { startCacheOrigin, viaProxy, type CacheOrigin } from './helpers/cache-origin.js';
import { startTestProxy } from './helpers/proxy.js';

/** The disk tier: survives a restart, bounded in bytes, corrupt entries discarded and never served. */
let origin: CacheOrigin;
let dir: string;
const silent = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  origin = await startCacheOrigin();
  dir = mkdtempSync(join(tmpdir(), 'egressd-cache-disk-'));
});
afterAll(async () => {
  await origin.close();
  rmSync(dir, { recursive: true, force: true });
});

const entries = (d: string): string[] => readdirSync(d).filter((f) => f.endsWith('.entry'));

async function waitForFiles(d: string, n: number): Promise<void> {
  for (let i = 0; i < 100 && entries(d).length < n; i++) await sleep(20);
  expect(entries(d).length).toBeGreaterThanOrEqual(n);
}

describe('disk tier through the proxy', () => {
  it('serves a stored response after a restart without asking the origin', async () => {
    const d = join(dir, 'restart');
    const cfg = { cache: { disk: { dir: d, maxSize: '10MiB' } } };
    origin.route('/keep', { headers: { 'cache-control': 'max-age=600', 'content-type': 'text/plain' }, body: 'persisted body' });
    const u = `http://127.0.0.1:${origin.port}/keep`;
    const first = await startTestProxy(cfg);
    await viaProxy(first.port, u);
    await waitForFiles(d, 1);
    await first.close();
    const second = await startTestProxy(cfg);
    try {
      const b = await viaProxy(second.port, u);
      expect(b.body).toBe('persisted body');
      expect(b.headers['x-cache']).toBe('HIT from egressd');
      expect(b.headers['content-type']).toBe('text/plain');
      expect(origin.count('/keep')).toBe(1);
    } finally {
      await second.close();
    }
  });

  it('discards a corrupt entry at start and fetches the response again', async () => {
    const d = join(dir, 'corrupt');
    const cfg = { cache: { disk: { dir: d } } };
    origin.route('/rot', (_req, k) => ({ headers: { 'cache-control': 'max-age=600' }, body: `good body ${k}` }));
    const u = `http://127.0.0.1:${origin.port}/rot`;
    const first = await startTestProxy(cfg);
    await viaProxy(first.port, u);
    await waitForFiles(d, 1);
    await first.close();
    const file = join(d, entries(d)[0]!);
    const buf = readFileSync(file);
    buf[buf.length - 3] = buf[buf.length - 3]! ^ 0xff; // flip a body byte
    writeFileSync(file, buf);
    const second = await startTestProxy(cfg);
    try {
      const b = await viaProxy(second.port, u);
      expect(b.body).toBe('good body 2');
      expect(b.headers['x-cache']).toBe('MISS from egressd');
      const warn = await second.server.waitFor((l) => l.msg === 'cache: discarding a corrupt disk entry');
      expect(String(warn.err)).toMatch(/checksum/);
    } finally {
      await second.close();
    }
  });
});

function entry(key: string, size: number): CacheEntry {
  return {
    key,
    url: key.slice(4),
    status: 200,
    statusText: 'OK',
    headers: ['cache-control', 'max-age=600'],
    body: Buffer.alloc(size, 'b'),
    varyNames: [],
    varyValues: [],
    responseTime: Date.now(),
    initialAge: 0,
    lifetime: 600,
    etag: undefined,
    lastModified: undefined,
    mustRevalidate: false,
    noCache: false,
    staleWhileRevalidate: 0,
    staleIfError: 0,
  };
}

describe('DiskStore', () => {
  it('stays within its byte bound, evicting the least recently used keys', async () => {
    const d = join(dir, 'bound');
    const s = new DiskStore(d, 10_000, silent);
    await s.open();
    for (let i = 0; i < 10; i++) {
      s.put(entry(`GET http://h/${i}`, 2000));
      await s.flush();
    }
    expect(s.stats().bytes).toBeLessThanOrEqual(10_000);
    expect(s.stats().entries).toBeGreaterThan(0);
    expect(s.stats().entries).toBeLessThan(10);
    expect(await s.get('GET http://h/0')).toBeUndefined();
    expect((await s.get('GET http://h/9'))![0]!.body.length).toBe(2000);
    await sleep(20);
    expect(entries(d).length).toBe(s.stats().entries);
  });

  it('never serves a file corrupted while running: it is deleted and reported as a miss', async () => {
    const d = join(dir, 'live');
    const s = new DiskStore(d, 1 << 20, silent);
    await s.open();
    s.put(entry('GET http://h/x', 100));
    await s.flush();
    const file = join(d, entries(d)[0]!);
    writeFileSync(file, readFileSync(file).subarray(0, 50)); // truncated
    expect(await s.get('GET http://h/x')).toBeUndefined();
    await sleep(20);
    expect(entries(d)).toEqual([]);
    expect(s.stats().entries).toBe(0);
  });

  it('discards truncated and foreign files when it opens, without reading every body', async () => {
    const d = join(dir, 'open');
    const s = new DiskStore(d, 1 << 20, silent);
    await s.open();
    s.put(entry('GET http://h/a', 1000));
    s.put(entry('GET http://h/b', 1000));
    await s.flush();
    const [first] = entries(d);
    writeFileSync(join(d, first!), readFileSync(join(d, first!)).subarray(0, 600));
    writeFileSync(join(d, 'junk.entry'), 'not a cache file');
    const again = new DiskStore(d, 1 << 20, silent);
    await again.open();
    expect(again.stats().entries).toBe(1);
    expect(entries(d)).toHaveLength(1);
    expect(entries(d)).not.toContain('junk.entry');
  });

  it('purges by URL predicate', async () => {
    const s = new DiskStore(join(dir, 'purge'), 1 << 20, silent);
    await s.open();
    s.put(entry('GET http://a.test/1', 10));
    s.put(entry('GET http://b.test/1', 10));
    await s.flush();
    expect(s.purge((u) => u.startsWith('http://a.test/'))).toBe(1);
    expect(await s.get('GET http://a.test/1')).toBeUndefined();
    expect(await s.get('GET http://b.test/1')).toBeDefined();
  });
});
