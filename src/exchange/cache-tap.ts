import {
  cacheStatusForward,
  getHeader,
  isErrorStatus,
  notStorableReason,
  parseCacheControl,
  staleOnError,
  xCache,
  type CacheEntry,
  type CacheWriter,
  type Directives,
  type Flight,
  type Forward,
  type HttpCache,
} from '../cache/index.js';
import { ProxyError, toProxyError } from '../http/errors.js';
import type { Target } from '../http/target.js';
import { sendError } from './respond.js';
import { markCache, serveEntry } from './cache-serve.js';
import type { Exchange } from './request-checks.js';
import type { RelayTap } from './response-relay.js';

/** What the stage learnt about the request, for the tap to act on the response. */
export interface TapRequest {
  key: string;
  url: string;
  reqCc: Directives;
  /** Seconds of freshness a force rule grants (0: none). */
  forcedTtl: number;
  /** The stored response being revalidated or kept as a fallback (stale-if-error). */
  stale: CacheEntry | null;
  /** Our own validators were sent: a 304 refreshes `stale`. */
  validating: boolean;
  /** We lead a coalesced flight: followers wait for our outcome. */
  flight: Flight | null;
  fwd: Forward;
}

/** May this response be stored? null when it may, else the reason (RFC 9111 §3, §3.5). */
export function storeRefusal(cache: HttpCache, method: string, requestHeaders: readonly string[], reqCc: Directives, status: number, headers: readonly string[], forced: boolean): string | null {
  return notStorableReason({
    method,
    status,
    requestCc: reqCc,
    responseCc: parseCacheControl(getHeader(headers, 'cache-control')),
    responseHeaders: headers,
    authorization: getHeader(requestHeaders, 'authorization') !== undefined,
    allowSetCookie: cache.opts.allowSetCookie,
    forced,
  });
}

/** X-Cache / Cache-Status for a forwarded response: a handful of combinations, built once each. */
const missFields = new Map<string, readonly string[]>();
function missHeaders(name: string, fwd: Forward, refusal: string | null): string[] {
  const k = `${name}\u0000${fwd}\u0000${refusal ?? ''}`;
  let h = missFields.get(k);
  if (!h) {
    h = Object.freeze(['x-cache', xCache('miss', name), 'cache-status', cacheStatusForward(name, fwd, refusal === null, refusal ?? undefined)]);
    missFields.set(k, h);
  }
  return h as string[];
}

/** Headers as the relay built them, minus the Via it appended (added again on each hit). */
function storedHeaders(headers: string[], via: string | null): string[] {
  return via !== null && headers[headers.length - 2] === 'via' ? headers.slice(0, -2) : headers.slice();
}

/**
 * Watches a forwarded GET/HEAD: stores the response while it streams to the client
 * (CacheWriter), turns a 304 to our conditional request into a refreshed hit (§4.3.4),
 * serves the stale entry on an origin error when allowed (RFC 5861 §4, §4.2.4), and
 * settles the coalescing flight it leads.
 */
export class CacheTap implements RelayTap {
  private writer: CacheWriter | null = null;
  private readonly requestTime = Date.now();

  constructor(
    private readonly x: Exchange,
    private readonly cache: HttpCache,
    private readonly r: TapRequest,
  ) {}

  onHeaders(status: number, statusText: string, headers: string[]): string[] | null {
    const { x, cache, r } = this;
    if (r.stale && r.validating && status === 304) {
      const e = cache.freshen(r.stale, storedHeaders(headers, x.rt.via), this.requestTime, r.forcedTtl);
      this.settle('stored');
      serveEntry(x, e, 'revalidated');
      return null;
    }
    if (r.stale && isErrorStatus(status) && staleOnError(r.stale, r.reqCc, Date.now(), false, 0)) {
      this.settle('failed');
      serveEntry(x, r.stale, 'stale');
      return null;
    }
    markCache(x, 'miss');
    const method = x.req.method!;
    const stored = storedHeaders(headers, x.rt.via);
    if (method === 'HEAD' && status === 200 && r.stale) this.freshenFromHead(r.stale, stored);
    const refusal = method === 'HEAD' ? 'method' : storeRefusal(cache, method, x.headers, r.reqCc, status, stored, r.forcedTtl > 0);
    if (refusal === null) {
      this.writer = cache.writer(r.key, r.url, x.headers, this.requestTime, status, statusText, stored, r.forcedTtl);
    } else {
      this.settle('uncacheable');
    }
    return missHeaders(x.rt.config.proxy.name, r.stale ? 'stale' : r.fwd, refusal);
  }

  onData(chunk: Buffer): void {
    this.writer?.write(chunk);
  }

  onComplete(): void {
    this.settle(this.writer?.commit() ? 'stored' : 'uncacheable');
  }

  onError(err: Error, answerable: boolean): boolean {
    this.writer?.abort();
    this.settle('failed');
    const stale = this.r.stale;
    if (!answerable || !stale) return false;
    if (stale.mustRevalidate) {
      // §5.2.2.2: "if a cache is disconnected, the cache MUST generate an error response
      // rather than reuse the stale response": 504.
      const cause = toProxyError(err);
      const { rt, ctx, req, res } = this.x;
      sendError(rt, ctx, req, res, new ProxyError('CACHE_REVALIDATION_FAILED', `the stored response must be revalidated and the origin failed: ${cause.message} (${cause.code})`), true);
      return true;
    }
    // No answer at all from the origin: a disconnected cache may serve stale (§4.2.4).
    if (!staleOnError(stale, this.r.reqCc, Date.now(), true, this.cache.opts.staleIfUnreachable / 1000)) return false;
    serveEntry(this.x, stale, 'stale');
    return true;
  }

  /**
   * §4.3.5: a 200 to HEAD updates the stored GET response it stands for, like a 304
   * would, unless its Content-Length, ETag or Last-Modified say the representation
   * changed: then the stored response is invalidated.
   */
  private freshenFromHead(e: CacheEntry, headers: string[]): void {
    const length = getHeader(headers, 'content-length');
    const etag = getHeader(headers, 'etag');
    const lastModified = getHeader(headers, 'last-modified');
    const changed = (length !== undefined && Number(length) !== e.body.length) || (etag !== undefined && etag !== e.etag) || (lastModified !== undefined && lastModified !== e.lastModified);
    if (changed) this.cache.store.delete(this.r.key);
    else this.cache.freshen(e, headers, this.requestTime, this.r.forcedTtl);
  }

  private settle(o: 'stored' | 'uncacheable' | 'failed'): void {
    this.r.flight?.settle(o);
  }
}

/**
 * An unsafe method (POST, PUT, DELETE, PATCH…): a non-error response invalidates the
 * target URI and same-origin Location / Content-Location (RFC 9111 §4.4).
 */
export class InvalidateTap implements RelayTap {
  constructor(
    private readonly cache: HttpCache,
    private readonly target: Target,
    private readonly extra: readonly string[],
  ) {}

  onHeaders(status: number, _text: string, headers: string[]): string[] {
    if (status >= 200 && status < 400) this.cache.invalidate(this.target, headers);
    return this.extra as string[];
  }

  onData(): void {}
  onComplete(): void {}
  onError(): boolean {
    return false;
  }
}

