import type { Dispatcher } from 'undici';
import { validatorHeaders, type CacheEntry, type CacheWriter, type Directives, type HttpCache } from '../cache/index.js';
import { forwardResponseHeaders } from '../http/headers.js';
import { storeRefusal } from './cache-tap.js';
import { routedRequest } from './route.js';
import type { Exchange } from './request-checks.js';

/** Request fields that must not go into a background refresh (they belong to the client's own request). */
const CLIENT_ONLY = new Set(['if-none-match', 'if-modified-since', 'if-range', 'range', 'if-match', 'if-unmodified-since']);

/**
 * stale-while-revalidate (RFC 5861 §3): the client was served the stale entry; refresh
 * it once in the background with a conditional request. A key already refreshing is
 * left alone, so a burst of stale hits sends one request.
 */
export function refreshInBackground(x: Exchange, cache: HttpCache, e: CacheEntry, reqCc: Directives, forcedTtl: number): void {
  if (cache.refreshing.has(e.key)) return;
  cache.refreshing.add(e.key);
  const headers: string[] = [];
  for (let i = 0; i < x.headers.length; i += 2) {
    if (!CLIENT_ONLY.has(x.headers[i]!.toLowerCase())) headers.push(x.headers[i]!, x.headers[i + 1]!);
  }
  headers.push(...validatorHeaders(e));
  const handler = new RefreshHandler(cache, e, headers, reqCc, forcedTtl, () => cache.refreshing.delete(e.key));
  // The same route as the client's request (direct or its parent group); nobody waits for it.
  const routed = { ...routedRequest(x, null), method: 'GET', headers, setUpstream: () => undefined, alive: () => true };
  try {
    x.rt.upstream.dispatch(routed, handler);
  } catch (err) {
    handler.onError(err as Error);
  }
}

/** Collects the refresh response: a 304 freshens, a storable 2xx replaces, anything else is dropped. */
class RefreshHandler implements Dispatcher.DispatchHandler {
  private writer: CacheWriter | null = null;
  private readonly requestTime = Date.now();

  constructor(
    private readonly cache: HttpCache,
    private readonly entry: CacheEntry,
    private readonly requestHeaders: readonly string[],
    private readonly reqCc: Directives,
    private readonly forcedTtl: number,
    private readonly done: () => void,
  ) {}

  onConnect(): void {}

  onHeaders(status: number, rawHeaders: Buffer[], _resume: () => void, statusText: string): boolean {
    if (status < 200) return true;
    const headers = forwardResponseHeaders(rawHeaders, null);
    if (status === 304) {
      this.cache.freshen(this.entry, headers, this.requestTime, this.forcedTtl);
    } else if (storeRefusal(this.cache, 'GET', this.requestHeaders, this.reqCc, status, headers, this.forcedTtl > 0) === null) {
      this.writer = this.cache.writer(this.entry.key, this.entry.url, this.requestHeaders, this.requestTime, status, statusText, headers, this.forcedTtl);
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.writer?.write(chunk);
    return true;
  }

  onComplete(): void {
    this.writer?.commit();
    this.done();
  }

  onError(err: Error): void {
    this.writer?.abort();
    this.done();
    this.cache.log.debug({ url: this.entry.url, err: String(err) }, 'cache: background refresh failed');
  }
}
