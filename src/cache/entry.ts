import type { HeaderList } from './headers.js';

/**
 * One stored response (one variant of a URL). Times are ms since the epoch; ages and
 * lifetimes in seconds, as RFC 9111 counts them. Everything needed to answer a hit
 * without parsing is computed when the entry is stored (or freshened by a 304).
 */
export interface CacheEntry {
  /** Primary key: method + normalised absolute URL (see key.ts). */
  readonly key: string;
  /** The absolute URL, for purge by host and for the disk index. */
  readonly url: string;
  status: number;
  statusText: string;
  /** Response headers as stored (hop-by-hop fields removed), flat [name, value, …]. */
  headers: HeaderList;
  readonly body: Buffer;
  /** Request header names the response varies on (lowercase), [] when none (§4.1). */
  readonly varyNames: readonly string[];
  /** The normalised request values of varyNames, in the same order. */
  readonly varyValues: readonly string[];
  /** When the response was received (response_time, §4.2.3). */
  responseTime: number;
  /** corrected_initial_age (§4.2.3), seconds. */
  initialAge: number;
  /** freshness_lifetime (§4.2.1), seconds. */
  lifetime: number;
  /** Validators for revalidation (§4.3.1). */
  etag: string | undefined;
  lastModified: string | undefined;
  /** Stale handling allowed by the response (§5.2.2.2, RFC 5861). */
  mustRevalidate: boolean;
  /** Response no-cache: every reuse needs a successful validation first (§5.2.2.4). */
  noCache: boolean;
  staleWhileRevalidate: number;
  staleIfError: number;
}

/** Bytes an entry costs in a store: body plus a rough header size. */
export function entrySize(e: CacheEntry): number {
  let n = e.body.length + 200 + e.url.length * 2;
  for (const h of e.headers) n += h.length;
  return n;
}
