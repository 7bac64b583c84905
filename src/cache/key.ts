/**
 * Primary cache key (RFC 9111 §2): the method and the target URI. The URI is
 * normalised as RFC 3986 §6.2.2 allows without changing what the origin sees: scheme and
 * host lowercase (done by the target parser), the default port dropped, and the hex
 * digits of percent-encodings uppercased. Only GET responses are stored, and HEAD is
 * answered from them, so both look up the GET key.
 */
export interface KeyTarget {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  path: string;
}

const PCT = /%[0-9a-f]{2}/gi;

export function normaliseUrl(t: KeyTarget): string {
  const host = t.host.includes(':') ? `[${t.host}]` : t.host;
  const port = t.port === (t.scheme === 'https' ? 443 : 80) ? '' : `:${t.port}`;
  const path = t.path.includes('%') ? t.path.replace(PCT, (m) => m.toUpperCase()) : t.path;
  return `${t.scheme}://${host}${port}${path || '/'}`;
}

export function cacheKey(url: string): string {
  return `GET ${url}`;
}

/** Parse an absolute URL (from Location, Content-Location or a purge request) into a key target. */
export function targetOfUrl(raw: string, base?: string): KeyTarget | undefined {
  let u: URL;
  try {
    u = base === undefined ? new URL(raw) : new URL(raw, base);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return undefined;
  const scheme = u.protocol === 'https:' ? 'https' : 'http';
  const host = u.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  const port = u.port ? Number(u.port) : scheme === 'https' ? 443 : 80;
  return { scheme, host, port, path: `${u.pathname}${u.search}` };
}

/** Host of a normalised URL (for purge by host glob). */
export function hostOfUrl(url: string): string {
  const rest = url.slice(url.indexOf('//') + 2);
  const end = rest.search(/[/?]/);
  const authority = end < 0 ? rest : rest.slice(0, end);
  if (authority.startsWith('[')) return authority.slice(1, authority.indexOf(']'));
  const colon = authority.lastIndexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}
