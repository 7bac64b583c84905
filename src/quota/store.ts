import type { Period } from './calendar-window.js';
import type { Profile, VolumeLimit } from './profiles.js';

/** The outcome of asking a store to admit one request or tunnel. */
export type Admission =
  /** `tokens`: left in the bucket (Infinity without a rate); `left`: smallest volume allowance left in bytes (Infinity without one). */
  | { readonly ok: true; readonly tokens: number; readonly left: number }
  | { readonly ok: false; readonly limit: 'rate'; readonly waitMs: number }
  | { readonly ok: false; readonly limit: 'volume'; readonly volume: VolumeLimit; readonly resetAt: number }
  /** The store could not answer (Redis down); the caller fails open or closed. */
  | { readonly ok: false; readonly limit: 'unavailable'; readonly error: string };

/** One counter key's state, for `egressd quota show` and snapshots. */
export interface UsageEntry {
  key: string;
  /** Bucket state, when the key has made rate-limited requests. */
  bucket?: { tokens: number; at: number };
  /** Bytes counted per period, in the window that starts at `start`. */
  volumes: { per: Period; start: number; bytes: number }[];
}

/**
 * Where quota counters live. The memory store answers synchronously (the pipeline
 * runs sync stages without a promise); Redis answers with one round trip.
 */
export interface QuotaStore {
  readonly kind: 'memory' | 'redis';
  /**
   * Check the volume windows (a used-up window refuses without taking a token), then
   * take one token from the bucket. Atomic per key.
   */
  admit(key: string, profile: Profile, now: number): Admission | Promise<Admission>;
  /**
   * Add bytes delivered to the client to every volume window of the profile. Returns
   * the smallest allowance left afterwards (<= 0: a window is used up; Infinity
   * without volume limits or when the store is unreachable).
   */
  record(key: string, profile: Profile, bytes: number, now: number): number | Promise<number>;
  /** Every key's counters (keys with an empty bucket history and no bytes may be left out). */
  usage(): Promise<UsageEntry[]>;
  /** Persist what must be persisted and release connections. */
  close(): Promise<void>;
}

/** Smallest allowance left across volume limits given the bytes used in each. */
export function leftOf(volumes: readonly VolumeLimit[], used: (v: VolumeLimit) => number): number {
  let left = Infinity;
  for (let i = 0; i < volumes.length; i++) {
    const v = volumes[i]!;
    const l = v.bytes - used(v);
    if (l < left) left = l;
  }
  return left;
}
