import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { AccessRecord } from '../log/access-log.js';
import { clientIpOf, clientPortOf, type AddressedSocket } from '../http/client-address.js';
import { ProxyError } from '../http/errors.js';
import { SLOT } from '../util/slot-list.js';
import type { Target } from '../http/target.js';
import type { Decision } from '../policy/index.js';
import type { CacheStatus } from '../cache/status.js';
import type { QuotaTicket } from '../quota/index.js';

const NO_GROUPS: readonly string[] = Object.freeze([]);

/** Request ids: a per-process random prefix and a counter — unique, short, cheap. */
export class IdGenerator {
  private readonly prefix = randomBytes(4).toString('hex');
  private n = 0;
  next(): string {
    return `${this.prefix}-${(++this.n).toString(36)}`;
  }
}

/**
 * The one object that travels with a request or tunnel. Every stage reads and fills
 * it; the access log writes it once at the end. Fields are all initialised in the
 * constructor so V8 keeps one hidden class on the hot path.
 */
export class ProxyContext implements AccessRecord {
  readonly startedAt = performance.now();
  method = '';
  url = '';
  target: Target | null = null;
  status = 0;
  bytesIn = 0;
  bytesOut = 0;
  upstream: string | null = null;
  errorCode: string | null = null;
  errorReason: string | null = null;
  /** TLS handling of a CONNECT: plain (none), tunnel (bytes untouched) or intercepted. */
  tls: 'plain' | 'tunnel' | 'intercepted' = 'plain';
  /** Server name the client asked for (ClientHello SNI), when seen. */
  sni: string | null = null;
  /** The policy decision, once taken. */
  decision: Decision | null = null;
  /** Who is asking: the authenticated (or source-mapped) user, null when anonymous. */
  user: string | null = null;
  /** The user's groups (empty when anonymous or in no group). */
  groups: readonly string[] = NO_GROUPS;
  /** What the cache did (hit, miss, stale, revalidated, bypass); null when it had no say. */
  cache: CacheStatus | null = null;
  /** The quota this request or tunnel was admitted under (or refused by); null: none applies. */
  quota: QuotaTicket | null = null;
  /** The kind of listener the client came through (a constant per listener). */
  mode: 'forward' | 'transparent' = 'forward';
  /** Phases of the upstream connection this request opened (ms; -1: reused, or no such phase). */
  dnsMs = -1;
  connectMs = -1;
  tlsMs = -1;
  /** From the request going out on an upstream connection to the first byte of the answer (ms; -1: none). */
  ttfbMs = -1;
  /** Request and response header fields chosen by log.headers, as logged; null: none chosen. */
  requestHeaders: Record<string, string> | null = null;
  responseHeaders: Record<string, string> | null = null;
  /** Index in the proxy's list of requests in flight; -1: not in it. */
  [SLOT] = -1;

  constructor(
    readonly id: string,
    public kind: AccessRecord['kind'],
    readonly clientIp: string,
    readonly clientPort: number,
  ) {}

  /**
   * The context of a request or tunnel on `socket`, for the client every consumer must
   * see: the one a PROXY protocol header named, else the TCP peer (http/client-address.ts).
   */
  static of(id: string, kind: AccessRecord['kind'], socket: AddressedSocket): ProxyContext {
    return new ProxyContext(id, kind, clientIpOf(socket), clientPortOf(socket));
  }

  fail(err: ProxyError): void {
    this.errorCode = err.code;
    this.errorReason = err.message;
  }
}

export function now(): number {
  return performance.now();
}
