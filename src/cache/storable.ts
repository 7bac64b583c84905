import { has, type Directives } from './directives.js';
import { HEURISTIC_STATUSES, hasExplicitFreshness } from './freshness.js';
import { getHeader } from './headers.js';

/**
 * May a shared cache store this response? (RFC 9111 §3, §3.5.) Returns null when it
 * may, or the reason it may not (shown in Cache-Status `detail` and tested).
 */
export interface StoreFacts {
  method: string;
  status: number;
  requestCc: Directives;
  responseCc: Directives;
  responseHeaders: readonly string[];
  /** The request carried Authorization (§3.5). */
  authorization: boolean;
  /** Config cache.allowSetCookie. */
  allowSetCookie: boolean;
  /** A force rule matched: store even without explicit freshness. */
  forced: boolean;
}

/** Statuses this cache understands well enough to store (§3: "understood"). 206 is never stored as complete. */
const STORABLE_STATUSES: ReadonlySet<number> = new Set([200, 203, 204, 300, 301, 302, 303, 307, 308, 404, 405, 410, 414, 501]);

export function notStorableReason(f: StoreFacts): string | null {
  // §3: the request method is understood and cacheable; only GET is stored (HEAD is
  // answered from a stored GET, §4.3.5 notwithstanding).
  if (f.method !== 'GET') return 'method';
  if (f.status === 206) return 'partial';
  if (!STORABLE_STATUSES.has(f.status)) return 'status';
  // §5.2.1.5 / §5.2.2.5 no-store, in the request or the response.
  if (has(f.requestCc, 'no-store') || has(f.responseCc, 'no-store')) return 'no-store';
  // §5.2.2.7: a shared cache must not store a private response (qualified or not:
  // storing it minus the named fields is allowed, but leaking them is not worth it).
  if (has(f.responseCc, 'private')) return 'private';
  // §3.5: a response to a request with Authorization is stored by a shared cache only
  // when the response explicitly allows it.
  if (f.authorization && !(has(f.responseCc, 'public') || has(f.responseCc, 's-maxage') || has(f.responseCc, 'must-revalidate'))) {
    return 'authorization';
  }
  // A cookie set for one user must not be replayed to another (RFC 6265 §3 says
  // caching Set-Cookie responses is "unwise"); only a deliberate config allows it.
  if (!f.allowSetCookie && getHeader(f.responseHeaders, 'set-cookie') !== undefined) return 'set-cookie';
  // §4.1: Vary: * never matches a later request; storing it is pointless.
  const vary = getHeader(f.responseHeaders, 'vary');
  if (vary !== undefined && vary.split(',').some((v) => v.trim() === '*')) return 'vary-star';
  // §3: explicit freshness, public, a heuristically cacheable status, or no-cache with
  // a validator (stored to be revalidated), or a force rule.
  if (f.forced) return null;
  if (hasExplicitFreshness(f.responseHeaders, f.responseCc) || has(f.responseCc, 'public')) return null;
  if (HEURISTIC_STATUSES.has(f.status)) return null;
  return 'no-freshness';
}
