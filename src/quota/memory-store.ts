import type { Period } from './calendar-window.js';
import type { Profile } from './profiles.js';
import { leftOf, type Admission, type QuotaStore, type UsageEntry } from './store.js';
import { take, type BucketState } from './token-bucket.js';

/** Counters of one key: the bucket and, per period, [window start, bytes]. */
interface Entry extends BucketState {
  vol: Partial<Record<Period, [number, number]>>;
}

/** The snapshot file's format (version 1). */
export interface SnapshotData {
  version: 1;
  savedAt: string;
  entries: Record<string, { t: number; a: number; v: Partial<Record<Period, [number, number]>> }>;
}

/**
 * Counters in a Map, answered synchronously. The default store: one process, state
 * kept across restarts by a snapshot file (see snapshot-file.ts).
 */
export class MemoryStore implements QuotaStore {
  readonly kind = 'memory';
  private readonly entries = new Map<string, Entry>();

  private entry(key: string, profile: Profile, now: number): Entry {
    let e = this.entries.get(key);
    if (!e) this.entries.set(key, (e = { tokens: profile.burst, at: now, vol: {} }));
    return e;
  }

  admit(key: string, profile: Profile, now: number): Admission {
    const e = this.entry(key, profile, now);
    const vols = profile.volumes;
    let left = Infinity;
    for (let i = 0; i < vols.length; i++) {
      const v = vols[i]!;
      const span = v.clock.at(now);
      const c = e.vol[v.per];
      const used = c && c[0] === span.start ? c[1] : 0;
      if (used >= v.bytes) return { ok: false, limit: 'volume', volume: v, resetAt: span.end };
      if (v.bytes - used < left) left = v.bytes - used;
    }
    if (profile.rate === 0) return { ok: true, tokens: Infinity, left };
    const t = take(e, profile.rate, profile.burst, now);
    if (t < 0) return { ok: false, limit: 'rate', waitMs: -t };
    return { ok: true, tokens: t, left };
  }

  record(key: string, profile: Profile, bytes: number, now: number): number {
    const vols = profile.volumes;
    if (vols.length === 0) return Infinity;
    const e = this.entry(key, profile, now);
    for (let i = 0; i < vols.length; i++) {
      const v = vols[i]!;
      const start = v.clock.at(now).start;
      const c = e.vol[v.per];
      if (c && c[0] === start) c[1] += bytes;
      else e.vol[v.per] = [start, bytes];
    }
    return leftOf(vols, (v) => e.vol[v.per]![1]);
  }

  async usage(): Promise<UsageEntry[]> {
    return this.list();
  }

  list(): UsageEntry[] {
    const out: UsageEntry[] = [];
    for (const [key, e] of this.entries) {
      out.push({ key, bucket: { tokens: e.tokens, at: e.at }, volumes: Object.entries(e.vol).map(([per, [start, bytes]]) => ({ per: per as Period, start, bytes })) });
    }
    return out;
  }

  /**
   * The state to save. Keys whose windows have all ended and whose bucket has had time
   * to refill are dropped: they hold nothing a restart would lose.
   */
  toSnapshot(now: number, maxRefillMs: number): SnapshotData {
    this.prune(now, maxRefillMs);
    const entries: SnapshotData['entries'] = {};
    for (const [key, e] of this.entries) entries[key] = { t: e.tokens, a: e.at, v: { ...e.vol } };
    return { version: 1, savedAt: new Date(now).toISOString(), entries };
  }

  /**
   * Forget keys that hold nothing: every window ended (a window is at most a month,
   * 31 days and a DST hour, long) and the bucket has had time to refill. Bounds memory
   * with many short-lived anonymous addresses.
   */
  prune(now: number, maxRefillMs: number): void {
    for (const [key, e] of this.entries) {
      for (const [per, c] of Object.entries(e.vol) as [Period, [number, number]][]) {
        if (now - c[0] >= 32 * 86_400_000) delete e.vol[per];
      }
      if (Object.keys(e.vol).length === 0 && now - e.at > maxRefillMs) this.entries.delete(key);
    }
  }

  /** Replace the counters with a snapshot's (already validated by parseSnapshot). */
  restore(data: SnapshotData): void {
    this.entries.clear();
    for (const [key, s] of Object.entries(data.entries)) this.entries.set(key, { tokens: s.t, at: s.a, vol: { ...s.v } });
  }

  get size(): number {
    return this.entries.size;
  }

  async close(): Promise<void> {}
}
