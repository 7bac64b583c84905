import { splitKey, type Profiles } from './profiles.js';
import type { UsageEntry } from './store.js';
import { refill } from './token-bucket.js';

/** One line of `egressd quota show`: one limit of one key. */
export interface UsageRow {
  who: string;
  profile: string;
  /** "1GiB per day", "rate 10/s burst 20", "unknown profile". */
  limit: string;
  /** Bytes used in the current window, or tokens left for a rate row. */
  used: number | null;
  /** Bytes left in the window, or tokens left in the bucket. */
  left: number | null;
  /** Epoch ms the window ends (volume rows). */
  resetsAt: number | null;
}

/** Does `who` ("alice", "ip:10.0.0.1") belong to the USER argument (a name or an address)? */
export function matchesUser(who: string, user: string): boolean {
  const u = user.toLowerCase();
  return who === u || who === `ip:${u}`;
}

/**
 * Usage and allowance left, per key and limit, against the profiles of the current
 * config. Windows that have ended count as zero (the allowance is back).
 */
export function usageRows(entries: readonly UsageEntry[], profiles: Profiles, now: number, user?: string): UsageRow[] {
  const rows: UsageRow[] = [];
  const sorted = [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const e of sorted) {
    const { profile: name, who } = splitKey(e.key);
    if (user !== undefined && !matchesUser(who, user)) continue;
    const p = profiles.byName.get(name);
    if (!p) {
      rows.push({ who, profile: name, limit: 'profile no longer in the config', used: null, left: null, resetsAt: null });
      continue;
    }
    if (p.rate > 0) {
      const tokens = Math.floor(refill(e.bucket, p.rate, p.burst, now));
      rows.push({ who, profile: name, limit: `rate ${p.rate}/s burst ${p.burst}`, used: p.burst - tokens, left: tokens, resetsAt: null });
    }
    for (const v of p.volumes) {
      const span = v.clock.at(now);
      const used = e.volumes.find((c) => c.per === v.per && c.start === span.start)?.bytes ?? 0;
      rows.push({ who, profile: name, limit: v.text, used, left: Math.max(0, v.bytes - used), resetsAt: span.end });
    }
  }
  return rows;
}

/** 1536 → "1.5 KiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : 1)} ${units[i]}`;
}
