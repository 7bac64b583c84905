import type { CacheEntry } from './entry.js';

/**
 * Where stored responses live. Entries are grouped by primary key (method + URL); a
 * key holds one entry per Vary variant. Memory is the default; the disk tier plugs in
 * behind the same interface (and TieredStore puts one in front of the other).
 *
 * `get` is synchronous when the answer is in memory (the hot path) and a promise only
 * when a disk read is needed.
 */
export type Variants = readonly CacheEntry[];

export interface StoreStats {
  entries: number;
  bytes: number;
}

export interface CacheStore {
  get(key: string): Variants | undefined | Promise<Variants | undefined>;
  /** Add the entry, replacing a stored variant with the same Vary values. */
  put(entry: CacheEntry): void;
  delete(key: string): boolean;
  /** Remove every key whose URL matches; returns how many entries went. */
  purge(match: (url: string) => boolean): number;
  stats(): StoreStats;
  /** Load what survives a restart (disk); resolves at once for memory. */
  open(): Promise<void>;
  close(): Promise<void>;
}

/** The variant list with `e` added or replacing the one with the same Vary values. */
export function withVariant(list: Variants | undefined, e: CacheEntry): CacheEntry[] {
  const out: CacheEntry[] = [];
  if (list) {
    for (const v of list) {
      if (!sameVariant(v, e)) out.push(v);
    }
  }
  out.push(e);
  return out;
}

function sameVariant(a: CacheEntry, b: CacheEntry): boolean {
  if (a.varyNames.length !== b.varyNames.length) return false;
  for (let i = 0; i < a.varyNames.length; i++) {
    if (a.varyNames[i] !== b.varyNames[i] || a.varyValues[i] !== b.varyValues[i]) return false;
  }
  return true;
}
