/**
 * Access-log field names. Exported constants so code, docs and tests agree on one
 * spelling; see docs/access-log.md.
 */
export const F = {
  time: 'time',
  msg: 'msg',
  id: 'id',
  kind: 'kind',
  /** Listener mode: forward (configured clients) or transparent (redirected by a firewall). */
  mode: 'mode',
  client: 'client',
  /** Authenticated or source-mapped user name; null when anonymous. */
  user: 'user',
  /** The user's groups; omitted when there are none. */
  groups: 'groups',
  method: 'method',
  url: 'url',
  status: 'status',
  bytesIn: 'bytesIn',
  bytesOut: 'bytesOut',
  durationMs: 'durationMs',
  /**
   * { dnsMs, connectMs, tlsMs, ttfbMs }: the phases of a new upstream connection this
   * request opened (absent on a reused one), and the wait for the first byte of the
   * answer; on an intercepted tunnel's line, tlsMs is the handshake with the client.
   */
  timing: 'timing',
  upstream: 'upstream',
  error: 'error',
  reason: 'reason',
  /** TLS mode: plain (HTTP), tunnel (CONNECT, bytes untouched), intercepted (decrypted). */
  tls: 'tls',
  /** ClientHello server name of an intercepted or peeked tunnel. */
  sni: 'sni',
  /** Policy decision: { action, rule, reason, mode, wouldDeny? } or null without a policy. */
  decision: 'decision',
  /** Cache outcome: hit, miss, stale, revalidated, bypass; null when the cache had no say. */
  cache: 'cache',
  /**
   * Quota: { profile, tokens?, left? } when admitted (tokens left in the rate bucket,
   * bytes left in the smallest volume window after this transfer), { profile, hit }
   * when a limit refused or cut it, { profile, unmetered: true } when the store was
   * unreachable and the quota failed open; null when no quota applies.
   */
  quota: 'quota',
  /** Header fields chosen by log.headers ({ name: value }); omitted when none is present. */
  requestHeaders: 'requestHeaders',
  responseHeaders: 'responseHeaders',
} as const;

/** Log message for one HTTP exchange (`request`) or one CONNECT/upgrade tunnel (`tunnel`). */
export const MSG_REQUEST = 'request';
export const MSG_TUNNEL = 'tunnel';
