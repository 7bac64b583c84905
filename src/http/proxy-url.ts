import { isIP } from 'node:net';

export interface ProxyUrl {
  host: string;
  port: number;
  username: string | null;
  password: string | null;
}

// http://[user[:password]@]host:port[/] with an IPv6 literal in brackets.
const FORM = /^http:\/\/(?:([^:@/]*)(?::([^@/]*))?@)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})\/?$/;

/**
 * A parent proxy address: `http://[user:pass@]host:port`. The port is required (there
 * is no agreed default for proxies: curl assumes 1080, browsers none). Credentials are
 * percent-decoded, as in a URL.
 */
export function parseProxyUrl(text: string): ProxyUrl | string {
  const m = FORM.exec(text.trim());
  if (!m) {
    return /^https:/i.test(text)
      ? 'TLS to a parent proxy (https://) is not supported; use http://host:port'
      : 'must be http://[user:password@]host:port (a port is required)';
  }
  const port = Number(m[4]);
  if (port < 1 || port > 65535) return `port ${port} is out of range`;
  let host = m[3]!;
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (isIP(host) !== 6) return `"${host}" is not an IPv6 address`;
  }
  try {
    return {
      host: host.toLowerCase(),
      port,
      username: m[1] !== undefined ? decodeURIComponent(m[1]) : null,
      password: m[2] !== undefined ? decodeURIComponent(m[2]) : null,
    };
  } catch {
    return 'credentials are not valid percent-encoding';
  }
}

/** The Proxy-Authorization value for a parent's credentials (RFC 7617 Basic), or null. */
export function basicAuthorization(u: ProxyUrl): string | null {
  if (u.username === null) return null;
  return `Basic ${Buffer.from(`${u.username}:${u.password ?? ''}`, 'utf8').toString('base64')}`;
}
