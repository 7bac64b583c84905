import { currentAge, getHeader, ifRangeHolds, notModified, rangeOf, cacheStatusHit, xCache, type CacheEntry, type CacheStatus } from '../cache/index.js';
import { ProxyError } from '../http/errors.js';
import { decideResponse } from '../policy/index.js';
import type { Exchange } from './request-checks.js';
import { sendError } from './respond.js';

/** Record what the cache did, in the context (access log) and the cache's counters. */
export function markCache(x: Exchange, status: CacheStatus): void {
  x.ctx.cache = status;
  x.rt.cache?.count(status);
}

/** Stored fields we replace when serving: Age is recomputed (§4.2.3), the length is ours. */
const REPLACED = new Set(['age', 'content-length', 'content-range', 'via']);
/** RFC 9110 §15.4.5: a 304 carries no representation metadata about the body. */
const NOT_IN_304 = new Set(['content-type', 'content-encoding', 'content-language']);

/**
 * Answer the client from a stored response: a 200 (or the stored status), a 304 for
 * the client's own conditional request (RFC 9111 §4.3.2), a 206 or 416 for one byte
 * range (RFC 9110 §14), headers only for HEAD. The response-side policy (content type,
 * size) applies to hits as it does to relayed responses, with the current request's rule.
 */
export function serveEntry(x: Exchange, e: CacheEntry, status: CacheStatus): void {
  const { ctx, res, rt, req } = x;
  // ctx.upstream stays as it is: null for a hit answered by the stage, the origin's
  // address when it was asked (revalidated, stale after an error status).
  markCache(x, status);
  if (res.destroyed) return;
  if (ctx.decision?.response) {
    const d = decideResponse(ctx.decision, { contentType: getHeader(e.headers, 'content-type'), contentLength: e.body.length });
    ctx.decision = d;
    if (d.action !== 'allow') {
      sendError(rt, ctx, req, res, new ProxyError('POLICY_DENIED', d.reason));
      return;
    }
  }
  const now = Date.now();
  const age = currentAge(e, now);
  const name = rt.config.proxy.name;
  let code = e.status;
  let text = e.statusText;
  let body: Buffer | null = e.body;
  let contentRange: string | null = null;
  const client = req.rawHeaders;
  if (e.status === 200 && notModified(e, client)) {
    code = 304;
    text = 'Not Modified';
    body = null;
  } else if (e.status === 200 && req.method === 'GET') {
    const range = getHeader(client, 'range');
    const r = range === undefined || !ifRangeHolds(e, client) ? ({ kind: 'none' } as const) : rangeOf(range, e.body.length);
    if (r.kind === 'range') {
      code = 206;
      text = 'Partial Content';
      body = e.body.subarray(r.start, r.end + 1);
      contentRange = `bytes ${r.start}-${r.end}/${e.body.length}`;
    } else if (r.kind === 'unsatisfiable') {
      code = 416;
      text = 'Range Not Satisfiable';
      body = Buffer.alloc(0);
      contentRange = `bytes */${e.body.length}`;
    }
  }
  const headers: string[] = [];
  const stored = e.headers;
  for (let i = 0; i < stored.length; i += 2) {
    const n = stored[i]!.toLowerCase();
    if (REPLACED.has(n) || (code === 304 && NOT_IN_304.has(n))) continue;
    headers.push(stored[i]!, stored[i + 1]!);
  }
  headers.push('age', String(Math.floor(age)));
  if (contentRange !== null) headers.push('content-range', contentRange);
  if (body !== null) headers.push('content-length', String(body.length));
  if (rt.via) headers.push('via', rt.via);
  headers.push('x-cache', xCache(status, name), 'cache-status', cacheStatusHit(name, e.lifetime - age, status === 'revalidated'));
  ctx.status = code;
  const send = body !== null && req.method !== 'HEAD' && body.length > 0;
  ctx.bytesOut = send ? body!.length : 0;
  res.writeHead(code, text, headers);
  res.end(send ? body : undefined);
}
