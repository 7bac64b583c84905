import type { CacheEntry } from './entry.js';
import type { CacheStore, StoreStats, Variants } from './store.js';

/**
 * Memory in front of disk: reads try memory first (synchronously) and promote what the
 * disk had; writes go to both. Stats are the disk's (it holds everything memory holds,
 * and more) plus nothing double-counted.
 */
export class TieredStore implements CacheStore {
  constructor(
    private readonly memory: CacheStore,
    private readonly disk: CacheStore,
  ) {}

  get(key: string): Variants | undefined | Promise<Variants | undefined> {
    const hot = this.memory.get(key);
    if (hot !== undefined) return hot;
    const cold = this.disk.get(key);
    if (cold === undefined || !(cold instanceof Promise)) return cold;
    return cold.then((list) => {
      if (list) for (const e of list) this.memory.put(e);
      return list;
    });
  }

  put(entry: CacheEntry): void {
    this.memory.put(entry);
    this.disk.put(entry);
  }

  delete(key: string): boolean {
    const a = this.memory.delete(key);
    const b = this.disk.delete(key);
    return a || b;
  }

  purge(match: (url: string) => boolean): number {
    const a = this.memory.purge(match);
    const b = this.disk.purge(match);
    return Math.max(a, b);
  }

  stats(): StoreStats {
    const m = this.memory.stats();
    const d = this.disk.stats();
    return { entries: Math.max(m.entries, d.entries), bytes: d.bytes };
  }

  async open(): Promise<void> {
    await this.memory.open();
    await this.disk.open();
  }

  async close(): Promise<void> {
    await this.memory.close();
    await this.disk.close();
  }
}
