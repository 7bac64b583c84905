/**
 * What the cache did for one request: the access-log `cache` field and the X-Cache /
 * Cache-Status (RFC 9211) response headers.
 *
 * - hit: served from a fresh stored response
 * - stale: served a stale stored response (max-stale, stale-while-revalidate, stale-if-error)
 * - revalidated: the origin answered 304 to our conditional request; served from the store
 * - miss: forwarded; the response may have been stored
 * - bypass: the cache was not consulted (method, rule, Range with several ranges)
 */
export type CacheStatus = 'hit' | 'stale' | 'revalidated' | 'miss' | 'bypass';

/** RFC 9211 §2: `fwd` says why the request went forward. */
export type Forward = 'bypass' | 'method' | 'uri-miss' | 'vary-miss' | 'request' | 'stale' | 'partial';

export function xCache(status: CacheStatus, name: string): string {
  return `${status.toUpperCase()} from ${name}`;
}

/** Cache-Status for a response served from the store; ttl in seconds, negative when stale (§2.5). */
export function cacheStatusHit(name: string, ttl: number, revalidated: boolean): string {
  const t = Math.trunc(ttl);
  return revalidated ? `${name}; fwd=stale; fwd-status=304; ttl=${t}` : `${name}; hit; ttl=${t}`;
}

export function cacheStatusForward(name: string, fwd: Forward, stored: boolean, detail?: string): string {
  return `${name}; fwd=${fwd}${stored ? '; stored' : ''}${detail ? `; detail=${detail}` : ''}`;
}
