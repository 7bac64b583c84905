import { describe, expect, it } from 'vitest';
import { entrySize, type CacheEntry } from '../../src/cache/entry.js';
import { MemoryStore } from '../../src/cache/memory-store.js';
import { CacheWriter } from '../../src/cache/writer.js';
import { Flights } from '../../src/cache/coalesce.js';

/** The memory tier's byte bound and counts, the writer's limits, and flights. */
function entry(key: string, size: number, vary: string[] = []): CacheEntry {
  return {
    key,
    url: key.slice(4),
    status: 200,
    statusText: 'OK',
    headers: [],
    body: Buffer.alloc(size),
    varyNames: vary.length ? ['accept-encoding'] : [],
    varyValues: vary,
    responseTime: 0,
    initialAge: 0,
    lifetime: 60,
    etag: undefined,
    lastModified: undefined,
    mustRevalidate: false,
    noCache: false,
    staleWhileRevalidate: 0,
    staleIfError: 0,
  };
}

describe('MemoryStore', () => {
  it('stays within its byte bound, evicting the least recently used', () => {
    const one = entrySize(entry('GET http://h/0', 1000));
    const s = new MemoryStore(one * 3);
    for (let i = 0; i < 5; i++) s.put(entry(`GET http://h/${i}`, 1000));
    expect(s.stats().entries).toBe(3);
    expect(s.stats().bytes).toBeLessThanOrEqual(one * 3);
    expect(s.get('GET http://h/0')).toBeUndefined();
    expect(s.get('GET http://h/4')).toBeDefined();
  });

  it('keeps one entry per Vary variant and replaces a variant with the same values', () => {
    const s = new MemoryStore(1 << 20);
    s.put(entry('GET http://h/v', 10, ['gzip']));
    s.put(entry('GET http://h/v', 10, ['br']));
    s.put(entry('GET http://h/v', 20, ['gzip']));
    const list = s.get('GET http://h/v')!;
    expect(list.map((e) => [e.varyValues[0], e.body.length])).toEqual([['br', 10], ['gzip', 20]]);
    expect(s.stats().entries).toBe(2);
  });

  it('never keeps an entry larger than the whole store, and counts stay right', () => {
    const s = new MemoryStore(500);
    s.put(entry('GET http://h/small', 10));
    s.put(entry('GET http://h/small', 10_000));
    expect(s.get('GET http://h/small')).toBeUndefined();
    expect(s.stats()).toEqual({ entries: 0, bytes: 0 });
  });

  it('purges by URL and deletes by key', () => {
    const s = new MemoryStore(1 << 20);
    s.put(entry('GET http://a.test/1', 1));
    s.put(entry('GET http://b.test/1', 1));
    expect(s.purge((u) => u.startsWith('http://a.test/'))).toBe(1);
    expect(s.delete('GET http://b.test/1')).toBe(true);
    expect(s.stats().entries).toBe(0);
  });
});

describe('CacheWriter', () => {
  it.each<[string, number[], number, boolean, number]>([
    ['stores a complete body', [3, 4], 10, true, 7],
    ['a body exactly at the limit is stored', [5, 5], 10, true, 10],
    ['drops a body that passes the limit', [6, 6], 10, false, 0],
  ])('%s', (_n, chunks, limit, stored, size) => {
    let got: Buffer | null = null;
    const w = new CacheWriter(limit, (b) => (got = b));
    for (const c of chunks) w.write(Buffer.alloc(c, 1));
    expect(w.commit()).toBe(stored);
    expect(got === null ? 0 : (got as Buffer).length).toBe(size);
  });

  it('an aborted transfer is never stored', () => {
    let called = false;
    const w = new CacheWriter(100, () => (called = true));
    w.write(Buffer.alloc(10));
    w.abort();
    expect(w.commit()).toBe(false);
    expect(called).toBe(false);
  });
});

describe('Flights', () => {
  it('releases followers with the outcome, once, and forgets the key', async () => {
    const f = new Flights();
    const leader = f.start('k');
    const a = f.get('k')!.wait(1000);
    const b = f.get('k')!.wait(1000);
    leader.settle('stored');
    leader.settle('failed');
    expect(await a).toBe('stored');
    expect(await b).toBe('stored');
    expect(f.get('k')).toBeUndefined();
  });

  it('a follower times out', async () => {
    const f = new Flights();
    f.start('k');
    expect(await f.get('k')!.wait(20)).toBe('timeout');
  });
});
