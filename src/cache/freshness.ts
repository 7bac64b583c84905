import { deltaSeconds, has, parseCacheControl, type Directives } from './directives.js';
import type { CacheEntry } from './entry.js';
import { getHeader, parseHttpDate } from './headers.js';

/**
 * Freshness and age (RFC 9111 §4.2) as pure functions. Times are ms since the epoch,
 * results in seconds.
 */

/** §4.2.2: status codes that are heuristically cacheable (RFC 9110 §15.1). */
export const HEURISTIC_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501]);

export interface FreshnessOptions {
  /** Fraction of (Date − Last-Modified) used as a heuristic lifetime (§4.2.2). */
  heuristicFraction: number;
  /** Upper bound on any lifetime, seconds (config cache.maxTtl). */
  maxTtl: number;
}

/**
 * freshness_lifetime (§4.2.1), for a shared cache: s-maxage, then max-age, then
 * Expires − Date, then a heuristic from Last-Modified where allowed (§4.2.2: only
 * without explicit expiry, and only for heuristically cacheable statuses or `public`).
 */
export function freshnessLifetime(status: number, headers: readonly string[], cc: Directives, responseTime: number, opts: FreshnessOptions): number {
  const cap = (s: number): number => Math.max(0, Math.min(s, opts.maxTtl));
  const sMax = cc['s-maxage'];
  if (sMax !== undefined) return cap(deltaSeconds(cc, 's-maxage') ?? 0);
  const maxAge = cc['max-age'];
  if (maxAge !== undefined) return cap(deltaSeconds(cc, 'max-age') ?? 0);
  const expiresRaw = getHeader(headers, 'expires');
  const date = parseHttpDate(getHeader(headers, 'date')) ?? responseTime;
  if (expiresRaw !== undefined) {
    // §5.3: an invalid Expires (e.g. "0") means already expired.
    const expires = parseHttpDate(expiresRaw);
    return expires === undefined ? 0 : cap(Math.floor((expires - date) / 1000));
  }
  if (!HEURISTIC_STATUSES.has(status) && !has(cc, 'public')) return 0;
  const lastModified = parseHttpDate(getHeader(headers, 'last-modified'));
  if (lastModified === undefined || lastModified >= date) return 0;
  return cap(Math.floor(((date - lastModified) / 1000) * opts.heuristicFraction));
}

/** Whether the response carries explicit freshness information (§4.2.1). */
export function hasExplicitFreshness(headers: readonly string[], cc: Directives): boolean {
  return cc['s-maxage'] !== undefined || cc['max-age'] !== undefined || getHeader(headers, 'expires') !== undefined;
}

/**
 * corrected_initial_age (§4.2.3): the larger of the apparent age (from Date, never
 * negative, so an origin clock ahead of ours cannot make a response younger) and the
 * Age header plus the response delay.
 */
export function initialAge(headers: readonly string[], requestTime: number, responseTime: number): number {
  const date = parseHttpDate(getHeader(headers, 'date'));
  const apparent = date === undefined ? 0 : Math.max(0, (responseTime - date) / 1000);
  const ageRaw = getHeader(headers, 'age');
  // §5.1: Age is delta-seconds; an invalid value is ignored.
  const age = ageRaw !== undefined && /^\d+$/.test(ageRaw.trim()) ? Number(ageRaw.trim()) : 0;
  const delay = Math.max(0, (responseTime - requestTime) / 1000);
  return Math.max(apparent, age + delay);
}

/** current_age (§4.2.3), seconds. */
export function currentAge(e: Pick<CacheEntry, 'initialAge' | 'responseTime'>, now: number): number {
  return e.initialAge + Math.max(0, (now - e.responseTime) / 1000);
}

/** Response-side stale controls, read once when an entry is stored or freshened. */
export function staleControls(cc: Directives): Pick<CacheEntry, 'mustRevalidate' | 'noCache' | 'staleWhileRevalidate' | 'staleIfError'> {
  return {
    // §5.2.2.2 must-revalidate, §5.2.2.8 proxy-revalidate, and §5.2.2.10: s-maxage
    // implies proxy-revalidate for a shared cache.
    mustRevalidate: has(cc, 'must-revalidate') || has(cc, 'proxy-revalidate') || has(cc, 's-maxage'),
    noCache: has(cc, 'no-cache'),
    // RFC 5861 §3 and §4.
    staleWhileRevalidate: deltaSeconds(cc, 'stale-while-revalidate') ?? 0,
    staleIfError: deltaSeconds(cc, 'stale-if-error') ?? 0,
  };
}

/** Recompute an entry's timing and stale controls from (new) headers: on store and on a 304 (§4.3.4). */
export function timing(
  status: number,
  headers: readonly string[],
  requestTime: number,
  responseTime: number,
  opts: FreshnessOptions,
  minTtl = 0,
): Pick<CacheEntry, 'initialAge' | 'lifetime' | 'mustRevalidate' | 'noCache' | 'staleWhileRevalidate' | 'staleIfError' | 'etag' | 'lastModified'> {
  const cc = parseCacheControl(getHeader(headers, 'cache-control'));
  const lifetime = Math.max(freshnessLifetime(status, headers, cc, responseTime, opts), Math.min(minTtl, opts.maxTtl));
  const forced = minTtl > 0;
  const controls = staleControls(cc);
  return {
    initialAge: initialAge(headers, requestTime, responseTime),
    lifetime,
    ...controls,
    // A force rule overrides the origin's no-cache (that is its point).
    noCache: forced ? false : controls.noCache,
    etag: getHeader(headers, 'etag'),
    lastModified: getHeader(headers, 'last-modified'),
  };
}
