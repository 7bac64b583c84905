import type { Period } from './calendar-window.js';
import type { Profile } from './profiles.js';
import type { UsageEntry } from './store.js';

/**
 * The wire format between workers and the primary that holds the counters (workers > 1
 * with the memory store). Plain JSON (cluster IPC): Infinity travels as null, a
 * profile as its definition (so a worker and the primary never disagree about what a
 * profile means while a reload is reaching the workers one by one).
 */

/** A profile's definition: name, rate, burst, volumes [bytes, per, text], time zone. */
export interface ProfileSpec {
  n: string;
  r: number;
  b: number;
  v: [number, Period, string][];
  z: string;
}

/** One operation of a batch: admit or record (bytes), for a counter key under a profile. */
export type RemoteOp = { o: 'a'; k: string; p: string; t: number } | { o: 'r'; k: string; p: string; t: number; n: number };

/**
 * Admission answers: [0, tokens|null, left|null] | [1, waitMs] | [2, volume index, resetAt];
 * a record answers with the allowance left (null: Infinity).
 */
export type RemoteAnswer = [0, number | null, number | null] | [1, number] | [2, number, number] | number | null;

export interface RemoteBatch {
  ops: RemoteOp[];
}

/** How a worker reaches the primary's counters: one request per batch (the IPC channel). */
export interface RemoteQuotaTransport {
  batch(b: RemoteBatch, timeoutMs: number): Promise<RemoteAnswer[]>;
  usage(timeoutMs: number): Promise<UsageEntry[]>;
}

const specs = new WeakMap<Profile, string>();

/** A compiled profile's definition as JSON, computed once per profile object. */
export function specOf(p: Profile): string {
  let s = specs.get(p);
  if (s === undefined) {
    const zone = p.volumes[0]?.clock.zone.name ?? 'UTC';
    const spec: ProfileSpec = { n: p.name, r: p.rate, b: p.burst, v: p.volumes.map((v) => [v.bytes, v.per, v.text]), z: zone };
    specs.set(p, (s = JSON.stringify(spec)));
  }
  return s;
}

export const fin = (x: number): number | null => (x === Infinity ? null : x);
export const inf = (x: number | null): number => (x === null ? Infinity : x);
