import { deltaSeconds, has, type Directives } from './directives.js';
import type { CacheEntry } from './entry.js';
import { currentAge } from './freshness.js';

/**
 * Can a stored response be reused for this request? (RFC 9111 §4, §4.2.4, §5.2.1;
 * RFC 5861.) Pure: the caller acts on the answer.
 *
 * - fresh: serve it.
 * - stale: serve it stale, the request allowed that (max-stale).
 * - swr: serve it stale and refresh it in the background (stale-while-revalidate).
 * - validate: ask the origin first (conditional request).
 */
export type Reuse = 'fresh' | 'stale' | 'swr' | 'validate';

export function reuseOf(e: CacheEntry, reqCc: Directives, now: number, pragmaNoCache = false): Reuse {
  const age = currentAge(e, now);
  // §5.2.1.4 request no-cache (and §5.4 Pragma: no-cache without Cache-Control),
  // §5.2.2.4 response no-cache: validate before every reuse.
  if (has(reqCc, 'no-cache') || pragmaNoCache || e.noCache) return 'validate';
  // §5.2.1.1 max-age: the client will not accept a response older than this.
  const maxAge = reqCc['max-age'] === undefined ? undefined : (deltaSeconds(reqCc, 'max-age') ?? 0);
  if (maxAge !== undefined && age > maxAge) return 'validate';
  // §5.2.1.3 min-fresh: it must stay fresh for at least this long.
  const minFresh = deltaSeconds(reqCc, 'min-fresh');
  if (minFresh !== undefined && e.lifetime - age < minFresh) return 'validate';
  if (e.lifetime > age) return 'fresh';
  // §5.2.2.2 must-revalidate (and proxy-revalidate, s-maxage): never served stale.
  if (e.mustRevalidate) return 'validate';
  const staleness = age - e.lifetime;
  // §5.2.1.2 max-stale, with no value: any staleness.
  const maxStale = reqCc['max-stale'];
  if (maxStale === true) return 'stale';
  if (maxStale !== undefined) {
    const n = deltaSeconds(reqCc, 'max-stale');
    if (n !== undefined && staleness <= n) return 'stale';
  }
  // RFC 5861 §3.
  if (staleness <= e.staleWhileRevalidate) return 'swr';
  return 'validate';
}

/**
 * When validation failed (an error status or no answer at all), may the stale entry be
 * served instead? RFC 5861 §4 (stale-if-error in the response or the request) and RFC
 * 9111 §4.2.4 (a disconnected cache may serve stale unless forbidden), bounded by
 * `unreachableGrace` seconds from the config. Never after must-revalidate or no-cache.
 */
export function staleOnError(e: CacheEntry, reqCc: Directives, now: number, unreachable: boolean, unreachableGrace: number): boolean {
  if (e.mustRevalidate || e.noCache) return false;
  const staleness = currentAge(e, now) - e.lifetime;
  const requested = deltaSeconds(reqCc, 'stale-if-error') ?? 0;
  const allowed = Math.max(e.staleIfError, requested, unreachable ? unreachableGrace : 0);
  return staleness <= allowed;
}

/** RFC 5861 §4: the errors stale-if-error covers. */
export function isErrorStatus(status: number): boolean {
  return status === 500 || status === 502 || status === 503 || status === 504;
}
