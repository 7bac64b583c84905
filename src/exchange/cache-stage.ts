import {
  cacheStatusForward,
  getHeader,
  has,
  isConditional,
  parseCacheControl,
  rangeOf,
  reuseOf,
  validatorHeaders,
  xCache,
  type Forward,
  type HttpCache,
  type Variants,
} from '../cache/index.js';
import { ProxyError } from '../http/errors.js';
import { refreshInBackground } from './cache-refresh.js';
import { markCache, serveEntry } from './cache-serve.js';
import { CacheTap, InvalidateTap } from './cache-tap.js';
import type { Exchange } from './request-checks.js';

/** RFC 9110 §9.2.1: the safe methods; every other method may change the resource (§4.4). */
const SAFE = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

/** Fixed X-Cache / Cache-Status fields for a bypassed request, built once per proxy name. */
const bypassFields = new Map<string, readonly string[]>();
function bypassHeaders(name: string, fwd: Forward): readonly string[] {
  const k = `${name}\u0000${fwd}`;
  let h = bypassFields.get(k);
  if (!h) {
    h = Object.freeze(['x-cache', xCache('bypass', name), 'cache-status', cacheStatusForward(name, fwd, false)]);
    bypassFields.set(k, h);
  }
  return h;
}

function bypass(x: Exchange, fwd: Forward): false {
  markCache(x, 'bypass');
  x.cacheHeaders = bypassHeaders(x.rt.config.proxy.name, fwd);
  return false;
}

/**
 * The cache stage (after policy and limits, just before forwarding). A usable stored
 * response answers the request here (returns true); otherwise the request goes upstream
 * with a tap that stores, revalidates or invalidates. A bypassed request costs a method
 * check (and the rule lookup when rules exist).
 */
export function lookupCache(x: Exchange): boolean | Promise<boolean> {
  const cache = x.rt.cache;
  if (cache === null) return false;
  const method = x.req.method!;
  if (method !== 'GET' && method !== 'HEAD') {
    bypass(x, 'method');
    if (!SAFE.has(method)) x.tap = new InvalidateTap(cache, x.ctx.target!, x.cacheHeaders!);
    return false;
  }
  const t = x.ctx.target!;
  const rule = cache.rules.empty ? null : cache.rules.match(t.host, t.path);
  if (rule?.action === 'bypass') return bypass(x, 'bypass');
  const forcedTtl = rule?.action === 'force' ? rule.ttl : 0;
  const { key, url } = cache.keyOf(t);
  const variants = cache.store.get(key);
  if (variants instanceof Promise) return variants.then((v) => decide(x, cache, key, url, v, forcedTtl, true));
  return decide(x, cache, key, url, variants, forcedTtl, true);
}

function decide(x: Exchange, cache: HttpCache, key: string, url: string, variants: Variants | undefined, forcedTtl: number, mayCoalesce: boolean): boolean | Promise<boolean> {
  if (x.res.destroyed) return true;
  const h = x.headers;
  const ccRaw = getHeader(h, 'cache-control');
  const reqCc = parseCacheControl(ccRaw);
  // RFC 9111 §5.4: Pragma: no-cache counts only when Cache-Control is absent.
  const pragmaNoCache = ccRaw === undefined && /(^|,)\s*no-cache\s*(,|$)/i.test(getHeader(h, 'pragma') ?? '');
  const range = getHeader(h, 'range');
  const entry = cache.match(variants, h);
  if (entry) {
    // Several ranges are passed through (the origin builds the multipart answer).
    if (range !== undefined && rangeOf(range, entry.body.length).kind === 'multi') return bypass(x, 'partial');
    const reuse = reuseOf(entry, reqCc, Date.now(), pragmaNoCache);
    if (reuse === 'fresh') {
      serveEntry(x, entry, 'hit');
      return true;
    }
    if (reuse === 'stale' || reuse === 'swr') {
      serveEntry(x, entry, 'stale');
      if (reuse === 'swr') refreshInBackground(x, cache, entry, reqCc, forcedTtl);
      return true;
    }
    // §5.2.1.7: only-if-cached never goes upstream.
    if (has(reqCc, 'only-if-cached')) throw onlyIfCached();
    // The client's own conditional or Range request goes as it is (its 304 or 206 is
    // for the client); otherwise we validate the stored response (§4.3.1).
    const validating = !isConditional(h) && range === undefined && (entry.etag !== undefined || entry.lastModified !== undefined);
    if (validating) h.push(...validatorHeaders(entry));
    x.tap = new CacheTap(x, cache, { key, url, reqCc, forcedTtl, stale: entry, validating, flight: null, fwd: 'stale' });
    return false;
  }
  if (has(reqCc, 'only-if-cached')) throw onlyIfCached();
  const fwd: Forward = has(reqCc, 'no-cache') || pragmaNoCache ? 'request' : variants?.length ? 'vary-miss' : 'uri-miss';
  let flight = null;
  if (mayCoalesce && cache.opts.coalesce.enabled && x.req.method === 'GET' && range === undefined && !isConditional(h) && !has(reqCc, 'no-store')) {
    const leader = cache.flights.get(key);
    if (leader) {
      return leader.wait(cache.opts.coalesce.wait).then((outcome) => {
        if (x.res.destroyed) return true;
        if (outcome !== 'stored') return decide(x, cache, key, url, undefined, forcedTtl, false);
        const again = cache.store.get(key);
        if (again instanceof Promise) return again.then((v) => decide(x, cache, key, url, v, forcedTtl, false));
        return decide(x, cache, key, url, again, forcedTtl, false);
      });
    }
    flight = cache.flights.start(key);
  }
  x.tap = new CacheTap(x, cache, { key, url, reqCc, forcedTtl, stale: null, validating: false, flight, fwd });
  return false;
}

function onlyIfCached(): ProxyError {
  return new ProxyError('CACHE_ONLY_IF_CACHED', 'only-if-cached: no usable response is stored for this URL');
}
