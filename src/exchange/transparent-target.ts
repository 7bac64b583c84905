import { ProxyError } from '../http/errors.js';
import { formatAuthority, normaliseHost, type Target } from '../http/target.js';

/**
 * What a transparent listener knows about the traffic redirected to it. Node exposes no
 * SO_ORIGINAL_DST (getsockopt on the accepted socket), so neither the address nor the
 * port the client dialled is known: the destination is the name the client asked for
 * (Host here, SNI for TLS), resolved by egressd and checked by the egress guard, and the
 * port is the listener's configured assumption (docs/transparent.md).
 */
export interface TransparentInfo {
  /** Port assumed for plain HTTP when the Host header names none (the redirected port, 80). */
  httpPort: number;
  /** Port assumed for TLS (the SNI carries no port): the redirected port, 443. */
  tlsPort: number;
}

// RFC 9110 §7.2: Host = uri-host [ ":" port ]; uri-host is a reg-name or an IP literal.
const HOST_FIELD = /^(\[[0-9a-fA-F:.]+\]|[^\s:/?#@[\]]+)(?::(\d{1,5}))?$/;

/**
 * The absolute target of an origin-form request a redirected client sent (RFC 9112
 * §3.2.1: a client talking to the origin sends origin form; §3.3: the target URI is
 * rebuilt from the scheme, Host and the request target). No Host, no destination: the
 * request is refused, never forwarded to wherever it happened to be going.
 */
export function transparentTarget(url: string, host: string | undefined, info: TransparentInfo): Target {
  if (!url.startsWith('/')) throw new ProxyError('BAD_TARGET', `a transparently redirected request must be in origin form ("/path"), not "${url.slice(0, 100)}"`);
  if (host === undefined || host === '') {
    throw new ProxyError('TRANSPARENT_NO_HOST', 'the request has no Host header, so its destination is unknown (transparent mode cannot see the original address)');
  }
  const m = HOST_FIELD.exec(host);
  const name = m ? normaliseHost(m[1]!) : undefined;
  if (!m || !name) throw new ProxyError('BAD_TARGET', `invalid Host header "${host.slice(0, 100)}"`);
  const port = m[2] ? Number(m[2]) : info.httpPort;
  if (port < 1 || port > 65535) throw new ProxyError('BAD_TARGET', `invalid port in Host header "${host}"`);
  return { scheme: 'http', host: name, port, path: url };
}

/** The URL logged for a rebuilt target (the port left out when it is the scheme's default). */
export function targetUrl(t: Target): string {
  return `${t.scheme}://${formatAuthority(t.host, t.port, t.scheme === 'https' ? 443 : 80)}${t.path}`;
}
