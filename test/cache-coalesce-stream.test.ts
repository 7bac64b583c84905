import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCacheOrigin, viaProxy, type CacheOrigin } from './helpers/cache-origin.js';
import { startOrigin, type Handler } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * Collapsed forwarding (one upstream request for many concurrent misses, with a bound
 * and a fallback) and the streaming write (the first client is served while the body
 * is stored; aborted and oversized transfers are not stored).
 */
let origin: CacheOrigin;
let px: TestProxy;
let n = 0;
const uniq = (): string => `/c${++n}`;
const url = (p: string): string => `http://127.0.0.1:${origin.port}${p}`;
const get = (p: string, h = {}) => viaProxy(px.port, url(p), h);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  origin = await startCacheOrigin();
  px = await startTestProxy({ cache: { memory: { maxObjectSize: '64KiB' }, coalesce: { wait: '1s' } } });
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

describe('request coalescing', () => {
  it('200 concurrent misses for one URL send exactly 1 request to the origin', async () => {
    const p = uniq();
    origin.route(p, { headers: { 'cache-control': 'max-age=600' }, body: 'shared', delayMs: 300 });
    const all = await Promise.all(Array.from({ length: 200 }, () => get(p)));
    expect(all.every((r) => r.status === 200 && r.body === 'shared')).toBe(true);
    expect(origin.count(p)).toBe(1);
    const kinds = all.map((r) => r.headers['x-cache']);
    expect(kinds.filter((k) => k === 'MISS from egressd')).toHaveLength(1);
    expect(kinds.filter((k) => k === 'HIT from egressd')).toHaveLength(199);
  });

  it('followers send their own request when the response turns out uncacheable', async () => {
    const p = uniq();
    origin.route(p, (_req, k) => ({ headers: { 'cache-control': 'no-store' }, body: `n${k}`, delayMs: 100 }));
    const all = await Promise.all(Array.from({ length: 5 }, () => get(p)));
    expect(new Set(all.map((r) => r.body)).size).toBe(5);
    expect(origin.count(p)).toBe(5);
  });

  it('followers stop waiting after coalesce.wait and go upstream themselves', async () => {
    const p = uniq();
    origin.route(p, (_req, k) => ({ headers: { 'cache-control': 'max-age=600' }, body: `n${k}`, delayMs: k === 1 ? 4000 : 0 }));
    const leader = get(p);
    await sleep(50);
    const t0 = Date.now();
    const follower = await get(p);
    const waited = Date.now() - t0;
    expect(follower.status).toBe(200);
    expect(waited).toBeGreaterThanOrEqual(900);
    // Well before the leader's answer (4 s): it did not wait for it.
    expect(waited).toBeLessThan(3500);
    expect(origin.count(p)).toBe(2);
    await leader;
  });
});

describe('streaming write', () => {
  /** A raw origin for one test, whose handler writes the body by hand. */
  async function withOrigin(handler: Handler, fn: (u: string) => Promise<void>): Promise<void> {
    const o = await startOrigin(handler);
    try {
      await fn(`http://127.0.0.1:${o.port}/obj`);
    } finally {
      await o.close();
    }
  }

  it('serves the first client while the body is still arriving, then stores it', async () => {
    let finish!: () => void;
    const finished = new Promise<void>((r) => (finish = r));
    let count = 0;
    await withOrigin(
      (_req, res) => {
        count++;
        res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': '10' });
        res.write('first');
        void finished.then(() => res.end('-last'));
      },
      async (u) => {
        const { first, all } = await new Promise<{ first: string; all: Promise<string> }>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port: px.port, path: u, agent: false }, (res) => {
            let body = '';
            const all = new Promise<string>((r) => res.on('end', () => r(body)));
            res.on('data', (c: Buffer) => (body += c.toString()));
            res.once('data', (c: Buffer) => resolve({ first: c.toString(), all }));
          });
          req.on('error', reject);
          req.end();
        });
        // The client has the first bytes while the origin still holds the rest.
        expect(first).toBe('first');
        finish();
        expect(await all).toBe('first-last');
        await sleep(20);
        const b = await viaProxy(px.port, u);
        expect(b.headers['x-cache']).toBe('HIT from egressd');
        expect(b.body).toBe('first-last');
        expect(count).toBe(1);
      },
    );
  });

  it('never stores a transfer the origin cut short', async () => {
    let count = 0;
    await withOrigin(
      (_req, res) => {
        count++;
        res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': '1000' });
        if (count === 1) {
          res.write('x'.repeat(500));
          setTimeout(() => res.destroy(), 30);
        } else res.end('y'.repeat(1000));
      },
      async (u) => {
        await expect(viaProxy(px.port, u)).rejects.toThrow();
        const b = await viaProxy(px.port, u);
        expect(b.body).toBe('y'.repeat(1000));
        expect(b.headers['x-cache']).toBe('MISS from egressd');
        expect(count).toBe(2);
      },
    );
  });

  it('never stores a transfer the client aborted', async () => {
    let count = 0;
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    await withOrigin(
      (_req, res) => {
        count++;
        res.writeHead(200, { 'cache-control': 'max-age=600', 'content-length': '10' });
        res.write('01234');
        void released.then(() => res.end('56789'));
        if (count > 1) release();
      },
      async (u) => {
        await new Promise<void>((resolve, reject) => {
          const req = httpRequest({ host: '127.0.0.1', port: px.port, path: u, agent: false }, (res) => {
            res.once('data', () => {
              req.destroy();
              resolve();
            });
          });
          req.on('error', () => {});
          req.on('close', () => resolve());
          req.end();
          req.on('timeout', reject);
        });
        await sleep(50);
        release();
        await sleep(20);
        const b = await viaProxy(px.port, u);
        expect(b.body).toBe('0123456789');
        expect(b.headers['x-cache']).toBe('MISS from egressd');
        expect(count).toBe(2);
      },
    );
  });

  it('streams a body larger than memory.maxObjectSize through without storing it', async () => {
    const big = Buffer.alloc(200 * 1024, 'z');
    let count = 0;
    await withOrigin(
      (_req, res) => {
        count++;
        res.writeHead(200, { 'cache-control': 'max-age=600' });
        res.end(big);
      },
      async (u) => {
        const a = await viaProxy(px.port, u);
        expect(a.body.length).toBe(big.length);
        const b = await viaProxy(px.port, u);
        expect(b.body.length).toBe(big.length);
        expect(b.headers['x-cache']).toBe('MISS from egressd');
        expect(count).toBe(2);
      },
    );
  });
});
