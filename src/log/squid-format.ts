import type { AccessRecord } from './access-log.js';

/**
 * Squid's native access.log line (its `squid` logformat:
 * `%ts.%03tu %6tr %>a %Ss/%03>Hs %<st %rm %ru %[un %Sh/%<a %mt`), so analysers written
 * for Squid (SARG, Calamaris, GoAccess's SQUID format) read egressd's log unchanged.
 * What egressd does not record is written as Squid writes an unknown value: "-".
 */
export function squidLine(r: AccessRecord & { cache?: string | null }, nowMs: number, elapsedMs: number): string {
  const ts = (nowMs / 1000).toFixed(3);
  const elapsed = String(Math.round(elapsedMs)).padStart(6);
  const client = r.clientIp || '-';
  const status = String(r.status).padStart(3, '0');
  const url = r.url || '-';
  const user = r.user ? encodeURIComponent(r.user) : '-';
  return `${ts} ${elapsed} ${client} ${resultCode(r)}/${status} ${r.bytesOut} ${r.method || 'NONE'} ${url.replace(/\s/g, '%20')} ${user} ${hierarchy(r.upstream)} -\n`;
}

const DENIED = /^(POLICY_DENIED|CLIENT_FORBIDDEN|DESTINATION_FORBIDDEN|PORT_FORBIDDEN|AUTH_|QUOTA_)/;
const CACHE_CODES: Record<string, string> = {
  hit: 'TCP_MEM_HIT',
  revalidated: 'TCP_REFRESH_UNMODIFIED',
  stale: 'TCP_REFRESH_FAIL_OLD',
  miss: 'TCP_MISS',
};

/** Squid's result codes (squid-cache.org "Squid result codes"), nearest to our outcome. */
function resultCode(r: AccessRecord & { cache?: string | null }): string {
  const e = r.errorCode;
  if (e && DENIED.test(e)) return 'TCP_DENIED';
  if (r.kind === 'local') return 'NONE_NONE';
  if (e === 'BAD_REQUEST' || e === 'BAD_TARGET' || e === 'HEADERS_TOO_LARGE' || e === 'REQUEST_TIMEOUT') return 'NONE_NONE';
  if (r.kind === 'connect' || r.kind === 'upgrade') return r.status === 200 || r.status === 101 ? 'TCP_TUNNEL' : 'NONE_NONE';
  const base = (r.cache && CACHE_CODES[r.cache]) || 'TCP_MISS';
  return e === 'CLIENT_ABORTED' ? `${base}_ABORTED` : base;
}

/** `%Sh/%<a`: how the destination was reached, and the address (or parent) used. */
function hierarchy(upstream: string | null): string {
  if (!upstream) return 'HIER_NONE/-';
  if (upstream.startsWith('parent:')) return `FIRSTUP_PARENT/${upstream.slice(7)}`;
  // host:port or [v6]:port → the address alone, as Squid logs it.
  const m = /^\[?([^\]]+?)\]?:\d+$/.exec(upstream);
  return `HIER_DIRECT/${m ? m[1] : upstream}`;
}
