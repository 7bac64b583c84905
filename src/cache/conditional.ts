import type { CacheEntry } from './entry.js';
import { getHeader, parseHttpDate } from './headers.js';

/**
 * The client's own conditional request against a usable stored response (RFC 9111
 * §4.3.2, RFC 9110 §13.1.2, §13.1.3, §13.2.2): true when a 304 answers it.
 */
export function notModified(e: CacheEntry, requestHeaders: readonly string[]): boolean {
  const inm = getHeader(requestHeaders, 'if-none-match');
  if (inm !== undefined) {
    // §13.2.2: If-None-Match wins over If-Modified-Since; the comparison is weak.
    if (e.etag === undefined) return false;
    if (inm.trim() === '*') return true;
    const mine = weak(e.etag);
    return inm.split(',').some((t) => weak(t.trim()) === mine);
  }
  const ims = parseHttpDate(getHeader(requestHeaders, 'if-modified-since'));
  if (ims === undefined) return false;
  const lm = parseHttpDate(e.lastModified) ?? parseHttpDate(getHeader(e.headers, 'date'));
  return lm !== undefined && lm <= ims;
}

function weak(tag: string): string {
  return tag.startsWith('W/') ? tag.slice(2) : tag;
}

/** Does the client's request carry its own preconditions? */
export function isConditional(requestHeaders: readonly string[]): boolean {
  return getHeader(requestHeaders, 'if-none-match') !== undefined || getHeader(requestHeaders, 'if-modified-since') !== undefined;
}

/** §4.3.1: the validators to send when revalidating a stored response. */
export function validatorHeaders(e: CacheEntry): string[] {
  const out: string[] = [];
  if (e.etag !== undefined) out.push('if-none-match', e.etag);
  if (e.lastModified !== undefined) out.push('if-modified-since', e.lastModified);
  return out;
}

/**
 * §4.3.4: freshen stored headers with those of a 304. Every field in the 304 replaces
 * the stored one, except the fields that describe the body, which a 304 cannot change.
 */
const KEEP = new Set(['content-length', 'content-encoding', 'content-type', 'content-range', 'transfer-encoding']);
export function freshenHeaders(stored: readonly string[], notModifiedHeaders: readonly string[]): string[] {
  const replace = new Set<string>();
  for (let i = 0; i < notModifiedHeaders.length; i += 2) {
    const n = notModifiedHeaders[i]!.toLowerCase();
    if (!KEEP.has(n) && n !== 'via') replace.add(n);
  }
  const out: string[] = [];
  for (let i = 0; i < stored.length; i += 2) if (!replace.has(stored[i]!.toLowerCase())) out.push(stored[i]!, stored[i + 1]!);
  for (let i = 0; i < notModifiedHeaders.length; i += 2) {
    const n = notModifiedHeaders[i]!.toLowerCase();
    if (replace.has(n)) out.push(notModifiedHeaders[i]!, notModifiedHeaders[i + 1]!);
  }
  return out;
}
