import type { Logger } from 'pino';
import { compileHostList } from '../policy/host-list.js';
import { Flights } from './coalesce.js';
import { freshenHeaders } from './conditional.js';
import type { CacheEntry } from './entry.js';
import { timing, type FreshnessOptions } from './freshness.js';
import { getHeader } from './headers.js';
import { cacheKey, hostOfUrl, normaliseUrl, targetOfUrl, type KeyTarget } from './key.js';
import { CacheRules, type CacheRuleConfig } from './rules.js';
import type { CacheStatus } from './status.js';
import type { CacheStore, Variants } from './store.js';
import { varyMatches, varyNames, varyValues } from './vary.js';
import { CacheWriter } from './writer.js';

/** The cache section of the config, as the cache needs it (durations in ms, sizes in bytes). */
export interface CacheOptions {
  readonly maxObjectSize: number;
  readonly maxTtl: number;
  readonly heuristicFraction: number;
  readonly allowSetCookie: boolean;
  readonly staleIfUnreachable: number;
  readonly coalesce: { readonly enabled: boolean; readonly wait: number };
  readonly rules: readonly CacheRuleConfig[];
}

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  stale: number;
  revalidated: number;
  misses: number;
  bypass: number;
  /** (hit + stale + revalidated) / (those + miss); 0 before any lookup. */
  hitRatio: number;
}

/**
 * The shared cache of one proxy: the store, the admin rules, request coalescing and
 * counters. The store outlives config reloads (it is built once by the server); this
 * object is rebuilt per config generation around it.
 */
export class HttpCache {
  readonly rules: CacheRules;
  readonly flights = new Flights();
  readonly freshness: FreshnessOptions;
  /** Keys being refreshed in the background (stale-while-revalidate: once per key). */
  readonly refreshing = new Set<string>();
  private readonly counts: Record<CacheStatus, number>;

  constructor(
    readonly opts: CacheOptions,
    readonly store: CacheStore,
    readonly log: Logger,
    counts?: Record<CacheStatus, number>,
  ) {
    this.rules = new CacheRules(opts.rules);
    this.freshness = { heuristicFraction: opts.heuristicFraction, maxTtl: Math.floor(opts.maxTtl / 1000) };
    this.counts = counts ?? { hit: 0, stale: 0, revalidated: 0, miss: 0, bypass: 0 };
  }

  /** The counters, shared with the next generation's HttpCache on reload. */
  get counters(): Record<CacheStatus, number> {
    return this.counts;
  }

  count(s: CacheStatus): void {
    this.counts[s]++;
  }

  keyOf(t: KeyTarget): { key: string; url: string } {
    const url = normaliseUrl(t);
    return { key: cacheKey(url), url };
  }

  /** The stored variant matching the request's Vary headers (§4.1), if any. */
  match(variants: Variants | undefined, requestHeaders: readonly string[]): CacheEntry | undefined {
    if (!variants) return undefined;
    for (let i = variants.length - 1; i >= 0; i--) {
      const v = variants[i]!;
      if (varyMatches(v.varyNames, v.varyValues, requestHeaders)) return v;
    }
    return undefined;
  }

  /** A writer that buffers the body (up to maxObjectSize) and stores it on commit. */
  writer(key: string, url: string, requestHeaders: readonly string[], requestTime: number, status: number, statusText: string, headers: string[], forcedTtl: number): CacheWriter {
    const names = varyNames(getHeader(headers, 'vary'));
    return new CacheWriter(this.opts.maxObjectSize, (body) => {
      const responseTime = Date.now();
      const entry: CacheEntry = {
        key,
        url,
        status,
        statusText,
        headers,
        body,
        varyNames: names,
        varyValues: varyValues(requestHeaders, names),
        responseTime,
        ...timing(status, headers, requestTime, responseTime, this.freshness, forcedTtl),
      };
      this.store.put(entry);
    });
  }

  /** §4.3.4: a 304 freshens the stored entry (headers and timing); returns the updated copy. */
  freshen(e: CacheEntry, notModifiedHeaders: readonly string[], requestTime: number, forcedTtl: number): CacheEntry {
    const headers = freshenHeaders(e.headers, notModifiedHeaders);
    const responseTime = Date.now();
    const next: CacheEntry = { ...e, headers, responseTime, ...timing(e.status, headers, requestTime, responseTime, this.freshness, forcedTtl) };
    this.store.put(next);
    return next;
  }

  /**
   * §4.4: after a non-error response to an unsafe method, invalidate the target URI and
   * the Location / Content-Location URIs when they share its origin.
   */
  invalidate(target: KeyTarget, responseHeaders: readonly string[]): void {
    const base = normaliseUrl(target);
    this.store.delete(cacheKey(base));
    const origin = originOf(base);
    for (const name of ['location', 'content-location']) {
      const v = getHeader(responseHeaders, name);
      if (v === undefined) continue;
      const t = targetOfUrl(v, base);
      if (!t) continue;
      const url = normaliseUrl(t);
      if (originOf(url) === origin) this.store.delete(cacheKey(url));
    }
  }

  /** Purge one URL (all its variants). */
  purgeUrl(raw: string): number | undefined {
    const t = targetOfUrl(raw);
    if (!t) return undefined;
    const url = normaliseUrl(t);
    return this.store.purge((u) => u === url);
  }

  /** Purge every URL whose host matches the pattern (policy host-pattern semantics). */
  purgeHost(pattern: string): number {
    const match = compileHostList([pattern]);
    return this.store.purge((u) => match(hostOfUrl(u)));
  }

  stats(): CacheStats {
    const s = this.store.stats();
    const c = this.counts;
    const served = c.hit + c.stale + c.revalidated;
    const total = served + c.miss;
    return { ...s, hits: c.hit, stale: c.stale, revalidated: c.revalidated, misses: c.miss, bypass: c.bypass, hitRatio: total === 0 ? 0 : served / total };
  }
}

function originOf(url: string): string {
  const i = url.indexOf('/', url.indexOf('//') + 2);
  return i < 0 ? url : url.slice(0, i);
}
