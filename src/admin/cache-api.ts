import type { HttpCache } from '../cache/index.js';
import { hostPatternProblem } from '../policy/host-list.js';

/** A JSON answer of the admin API. */
export interface ApiAnswer {
  status: number;
  body: Record<string, unknown>;
}

const err = (status: number, code: string, message: string): ApiAnswer => ({ status, body: { error: code, message } });

/** GET /api/cache/stats */
export function cacheStats(cache: HttpCache | null): ApiAnswer {
  if (!cache) return err(503, 'CACHE_DISABLED', 'the cache is disabled (cache.enabled: false)');
  return { status: 200, body: { ...cache.stats() } };
}

/**
 * POST /api/cache/purge with {"url": "http://host/path"} (every variant of that URL)
 * or {"host": "*.example.com"} (every URL whose host matches the pattern).
 */
export function cachePurge(cache: HttpCache | null, input: unknown): ApiAnswer {
  if (!cache) return err(503, 'CACHE_DISABLED', 'the cache is disabled (cache.enabled: false)');
  if (!input || typeof input !== 'object') return err(400, 'BAD_REQUEST', 'expected a JSON object with "url" or "host"');
  const { url, host } = input as { url?: unknown; host?: unknown };
  if ((url === undefined) === (host === undefined)) return err(400, 'BAD_REQUEST', 'give exactly one of "url" or "host"');
  if (url !== undefined) {
    if (typeof url !== 'string') return err(400, 'BAD_REQUEST', '"url" must be a string');
    const purged = cache.purgeUrl(url);
    if (purged === undefined) return err(400, 'BAD_REQUEST', `"${url}" is not an absolute http(s) URL`);
    return { status: 200, body: { purged, url } };
  }
  if (typeof host !== 'string' || host === '') return err(400, 'BAD_REQUEST', '"host" must be a non-empty string');
  const problem = hostPatternProblem(host);
  if (problem) return err(400, 'BAD_REQUEST', problem);
  return { status: 200, body: { purged: cache.purgeHost(host), host } };
}
