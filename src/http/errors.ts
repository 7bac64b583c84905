/**
 * Every refusal or failure the proxy reports to a client is a ProxyError: it knows its
 * HTTP status and a stable code. Tests match on `code`, never on message text.
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  BAD_TARGET: 400,
  /**
   * Transparent listener (docs/transparent.md). The destination comes from the request
   * itself, so a connection that names none is closed rather than forwarded blindly:
   * no Host header on plain HTTP (answered 400), a ClientHello without SNI, or bytes
   * that are neither HTTP nor TLS (both closed without a response; the status is the
   * log's only).
   */
  TRANSPARENT_NO_HOST: 400,
  TRANSPARENT_NO_SNI: 400,
  TRANSPARENT_UNKNOWN_PROTOCOL: 400,
  /**
   * A listener with `proxyProtocol` (docs/operations.md, "Behind an L4 load balancer"):
   * the connection is closed before any request, with a server-log line; the status is
   * nominal. Bad header or the wrong version; no complete header within
   * timeouts.requestHeaders; a peer outside the listener's proxyFrom.
   */
  PROXY_PROTOCOL_INVALID: 400,
  PROXY_PROTOCOL_TIMEOUT: 408,
  PROXY_PROTOCOL_FORBIDDEN: 403,
  CLIENT_FORBIDDEN: 403,
  DESTINATION_FORBIDDEN: 403,
  PORT_FORBIDDEN: 403,
  POLICY_DENIED: 403,
  /** A rule needs a user, and the intercepted tunnel the request came through was opened anonymously. */
  AUTH_REQUIRED_IN_TUNNEL: 403,
  /** A rule needs a user, and a transparently redirected client cannot be challenged (no 407): map it in auth.sources. */
  AUTH_REQUIRED_TRANSPARENT: 403,
  /** A transfer-volume quota is used up until its window resets. */
  QUOTA_VOLUME: 403,
  /** No, wrong or unsupported Proxy-Authorization (RFC 9110 §15.5.8): with a Proxy-Authenticate challenge. */
  AUTH_REQUIRED: 407,
  REQUEST_TIMEOUT: 408,
  /** RFC 6585 §4: request rate or concurrency quota exceeded; sent with Retry-After. */
  QUOTA_RATE: 429,
  QUOTA_CONCURRENT: 429,
  /** Too many failed authentication attempts (RFC 6585 §4): with Retry-After. */
  AUTH_LOCKED: 429,
  HEADERS_TOO_LARGE: 431,
  DNS_FAILED: 502,
  UPSTREAM_REFUSED: 502,
  UPSTREAM_RESET: 502,
  UPSTREAM_UNREACHABLE: 502,
  UPSTREAM_PROTOCOL: 502,
  UPSTREAM_ERROR: 502,
  UPSTREAM_CERT_INVALID: 502,
  TLS_HANDSHAKE_FAILED: 502,
  /** A parent proxy refused the request or tunnel (its status is in the reason). */
  PARENT_REFUSED: 502,
  /** Every parent of the route's group is down or ejected, and going direct is not allowed. */
  PARENTS_UNAVAILABLE: 503,
  TOO_MANY_CONNECTIONS: 503,
  SHUTTING_DOWN: 503,
  /** The shared quota store is unreachable and quota.redis.onError is "closed". */
  QUOTA_UNAVAILABLE: 503,
  /** The user directory (LDAP) cannot be reached: neither a yes nor a no. */
  AUTH_UNAVAILABLE: 503,
  UPSTREAM_TIMEOUT: 504,
  /** RFC 9111 §5.2.1.7: only-if-cached and nothing usable is stored. */
  CACHE_ONLY_IF_CACHED: 504,
  /** RFC 9111 §5.2.2.2: a must-revalidate response is stale and the origin is unreachable. */
  CACHE_REVALIDATION_FAILED: 504,
  DNS_TIMEOUT: 504,
  LOOP_DETECTED: 508,
  INTERNAL: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export class ProxyError extends Error {
  readonly status: number;
  /** Seconds for a Retry-After header (RFC 9110 §10.2.3), for 429 and 503 refusals. */
  readonly retryAfter: number | undefined;
  /** Extra response fields the refusal needs (Proxy-Authenticate on a 407). */
  readonly headers: Readonly<Record<string, string>> | undefined;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; retryAfter?: number; headers?: Readonly<Record<string, string>> },
  ) {
    super(message, options);
    this.name = 'ProxyError';
    this.status = ERROR_STATUS[code];
    this.retryAfter = options?.retryAfter;
    this.headers = options?.headers;
  }
}

/** Socket and undici error codes → our codes. One table, so every path maps alike. */
const ERRNO_TO_CODE: Record<string, ErrorCode> = {
  ECONNREFUSED: 'UPSTREAM_REFUSED',
  ECONNRESET: 'UPSTREAM_RESET',
  EPIPE: 'UPSTREAM_RESET',
  ECONNABORTED: 'UPSTREAM_RESET',
  EHOSTUNREACH: 'UPSTREAM_UNREACHABLE',
  ENETUNREACH: 'UPSTREAM_UNREACHABLE',
  EADDRNOTAVAIL: 'UPSTREAM_UNREACHABLE',
  ETIMEDOUT: 'UPSTREAM_TIMEOUT',
  ENOTFOUND: 'DNS_FAILED',
  EAI_AGAIN: 'DNS_FAILED',
  ENODATA: 'DNS_FAILED',
  ESERVFAIL: 'DNS_FAILED',
  ETIMEOUT: 'DNS_TIMEOUT',
  UND_ERR_CONNECT_TIMEOUT: 'UPSTREAM_TIMEOUT',
  UND_ERR_HEADERS_TIMEOUT: 'UPSTREAM_TIMEOUT',
  UND_ERR_BODY_TIMEOUT: 'UPSTREAM_TIMEOUT',
  UND_ERR_SOCKET: 'UPSTREAM_RESET',
  UND_ERR_CLOSED: 'UPSTREAM_RESET',
  UND_ERR_DESTROYED: 'UPSTREAM_RESET',
  UND_ERR_RES_CONTENT_LENGTH_MISMATCH: 'UPSTREAM_PROTOCOL',
  UND_ERR_REQ_CONTENT_LENGTH_MISMATCH: 'BAD_REQUEST',
  HPE_INVALID_CONSTANT: 'UPSTREAM_PROTOCOL',
  HPE_INVALID_HEADER_TOKEN: 'UPSTREAM_PROTOCOL',
  HPE_INVALID_CONTENT_LENGTH: 'UPSTREAM_PROTOCOL',
  HPE_INVALID_CHUNK_SIZE: 'UPSTREAM_PROTOCOL',
  HPE_INVALID_STATUS: 'UPSTREAM_PROTOCOL',
  HPE_UNEXPECTED_CONTENT_LENGTH: 'UPSTREAM_PROTOCOL',
  // The origin's certificate did not verify (interception: we are the TLS client).
  CERT_HAS_EXPIRED: 'UPSTREAM_CERT_INVALID',
  CERT_NOT_YET_VALID: 'UPSTREAM_CERT_INVALID',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'UPSTREAM_CERT_INVALID',
  SELF_SIGNED_CERT_IN_CHAIN: 'UPSTREAM_CERT_INVALID',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'UPSTREAM_CERT_INVALID',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'UPSTREAM_CERT_INVALID',
  UNABLE_TO_GET_ISSUER_CERT: 'UPSTREAM_CERT_INVALID',
  CERT_REVOKED: 'UPSTREAM_CERT_INVALID',
  CERT_UNTRUSTED: 'UPSTREAM_CERT_INVALID',
  ERR_TLS_CERT_ALTNAME_INVALID: 'UPSTREAM_CERT_INVALID',
};

/** What each certificate error means, in words an admin or user can act on. */
const CERT_PROBLEMS: Record<string, string> = {
  CERT_HAS_EXPIRED: 'the certificate has expired',
  CERT_NOT_YET_VALID: 'the certificate is not valid yet',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'the certificate is self-signed',
  SELF_SIGNED_CERT_IN_CHAIN: 'the certificate chain ends in an untrusted self-signed root',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'the certificate was issued by an unknown authority',
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: 'the certificate was issued by an unknown authority',
  UNABLE_TO_GET_ISSUER_CERT: 'the certificate was issued by an unknown authority',
  CERT_REVOKED: 'the certificate was revoked',
  CERT_UNTRUSTED: 'the certificate is not trusted',
  ERR_TLS_CERT_ALTNAME_INVALID: 'the certificate is for another host name',
};

/**
 * The origin ended the connection (FIN, undici's "other side closed") after the response
 * head was relayed, before the body its framing announced (Content-Length or the last
 * chunk) was complete: an incomplete message (RFC 9112 §8), not a reset.
 */
export function isEarlyClose(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  return e?.code === 'UND_ERR_SOCKET' && e.message === 'other side closed';
}

/** Normalise anything thrown while talking upstream into a ProxyError. */
export function toProxyError(err: unknown): ProxyError {
  if (err instanceof ProxyError) return err;
  const e = err as { code?: string; message?: string; cause?: unknown } | undefined;
  // undici wraps socket errors: the interesting errno is often on the cause.
  const cause = e?.cause as { code?: string } | undefined;
  const mapped = (e?.code && ERRNO_TO_CODE[e.code]) || (cause?.code && ERRNO_TO_CODE[cause.code]);
  if (e?.cause instanceof ProxyError) return e.cause;
  if (mapped) return new ProxyError(mapped, describe(mapped, e?.code ?? cause?.code ?? ''), { cause: err });
  // undici 7's HTTPParserError carries no code (its llhttp name lookup yields undefined),
  // so the HPE_* rows above never match it: recognise it by name. Its message names the
  // defect ("Invalid header token"), which is the one-line reason an admin needs.
  if ((err as { name?: string } | undefined)?.name === 'HTTPParserError') {
    const detail = /\(([^)]+)\)\s*$/.exec(e?.message ?? '')?.[1] ?? 'unparsable';
    return new ProxyError('UPSTREAM_PROTOCOL', describe('UPSTREAM_PROTOCOL', detail), { cause: err });
  }
  return new ProxyError('UPSTREAM_ERROR', `upstream error: ${e?.message ?? String(err)}`, { cause: err });
}

function describe(code: ErrorCode, errno: string): string {
  switch (code) {
    case 'UPSTREAM_REFUSED':
      return `connection refused by the destination (${errno})`;
    case 'UPSTREAM_RESET':
      return `connection reset by the destination (${errno})`;
    case 'UPSTREAM_UNREACHABLE':
      return `destination unreachable (${errno})`;
    case 'UPSTREAM_TIMEOUT':
      return `destination did not answer in time (${errno})`;
    case 'UPSTREAM_PROTOCOL':
      return `destination sent an invalid HTTP response (${errno})`;
    case 'DNS_FAILED':
      return `host name could not be resolved (${errno})`;
    case 'DNS_TIMEOUT':
      return `DNS lookup timed out (${errno})`;
    case 'UPSTREAM_CERT_INVALID':
      return `the destination's TLS certificate is invalid: ${CERT_PROBLEMS[errno] ?? errno} (${errno})`;
    default:
      return errno;
  }
}
