import { LRUCache } from 'lru-cache';
import { entrySize, type CacheEntry } from './entry.js';
import { withVariant, type CacheStore, type StoreStats, type Variants } from './store.js';

/**
 * The memory tier: an LRU bounded by bytes (lru-cache's sizeCalculation over the
 * variants of a key). Objects above the per-object limit never get here: the writer
 * stops buffering them as soon as they pass it.
 */
export class MemoryStore implements CacheStore {
  private readonly lru: LRUCache<string, Variants>;
  private count = 0;

  constructor(maxBytes: number) {
    this.lru = new LRUCache<string, Variants>({
      maxSize: Math.max(1, maxBytes),
      sizeCalculation: (v) => Math.max(1, v.reduce((n, e) => n + entrySize(e), 0)),
      dispose: (v) => {
        this.count -= v.length;
      },
    });
  }

  get(key: string): Variants | undefined {
    return this.lru.get(key);
  }

  put(entry: CacheEntry): void {
    const list = withVariant(this.lru.peek(entry.key), entry);
    // set() disposes the old list (count -= old length) before counting the new one.
    this.lru.set(entry.key, list);
    if (this.lru.has(entry.key)) this.count += list.length;
  }

  delete(key: string): boolean {
    return this.lru.delete(key);
  }

  purge(match: (url: string) => boolean): number {
    let n = 0;
    for (const [key, list] of this.lru.entries()) {
      if (list.length && match(list[0]!.url)) {
        n += list.length;
        this.lru.delete(key);
      }
    }
    return n;
  }

  stats(): StoreStats {
    return { entries: this.count, bytes: this.lru.calculatedSize };
  }

  async open(): Promise<void> {}

  async close(): Promise<void> {
    this.lru.clear();
  }
}
