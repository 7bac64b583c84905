import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { ProxyError } from './errors.js';

export interface Target {
  scheme: 'http' | 'https';
  /** Lowercase host name (punycode for IDN) or IP address without brackets. */
  host: string;
  port: number;
  /** Path and query as sent upstream (origin-form), "/" at least. */
  path: string;
}

const HOST_LABELS = /^(?=.{1,253}$)([a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?)*$/;

/**
 * Normalise a host: lowercase, no trailing dot, IDN to punycode, IPv6 without brackets.
 * Returns undefined for anything that is not a valid DNS name or IP literal.
 */
export function normaliseHost(raw: string): string | undefined {
  let h = raw;
  if (h.startsWith('[')) {
    if (!h.endsWith(']')) return undefined;
    h = h.slice(1, -1);
    return isIP(h) === 6 ? h.toLowerCase() : undefined;
  }
  if (isIP(h) === 4) return h;
  if (h.endsWith('.')) h = h.slice(0, -1);
  // eslint-disable-next-line no-control-regex
  if (/[^\x21-\x7e]/.test(h)) {
    const ascii = domainToASCII(h);
    if (!ascii) return undefined;
    h = ascii;
  }
  h = h.toLowerCase();
  if (!HOST_LABELS.test(h)) return undefined;
  // A name whose last label is a number ("1.2.3", "0x7f.1") is an IPv4 address in
  // some parser's eyes (WHATWG URL, inet_aton): refuse it rather than let policy see a
  // name while a resolver sees 127.0.0.1.
  if (/(^|\.)(0x[0-9a-f]*|[0-9]+)$/.test(h)) return undefined;
  return h;
}

const ABSOLUTE = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/?#]*)([^#]*)/;

/**
 * Parse an absolute-form request target (RFC 9112 §3.2.2). Only http is accepted in
 * absolute form; https reaches a forward proxy as CONNECT. The path is forwarded byte
 * for byte (llhttp already rejected invalid characters): re-encoding it could change
 * what the origin sees.
 */
export function parseAbsoluteTarget(url: string): Target {
  const m = ABSOLUTE.exec(url);
  if (!m) throw new ProxyError('BAD_TARGET', 'request target is not an absolute URI');
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'http') {
    throw new ProxyError('BAD_TARGET', `unsupported scheme "${scheme}" in absolute-form (use CONNECT for https)`);
  }
  const authority = m[2]!;
  if (authority.includes('@')) throw new ProxyError('BAD_TARGET', 'userinfo in the request target is not allowed');
  const { host, port } = splitHostPort(authority, 80);
  const rest = m[3]!;
  const path = rest === '' ? '/' : rest[0] === '?' ? `/${rest}` : rest;
  return { scheme: 'http', host, port, path };
}

function splitHostPort(authority: string, defaultPort: number): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]*)(?::(\d{0,5}))?$/.exec(authority);
  if (!m || !m[1]) throw new ProxyError('BAD_TARGET', `invalid authority "${authority}"`);
  const host = normaliseHost(m[1]);
  if (!host) throw new ProxyError('BAD_TARGET', `invalid host "${m[1]}"`);
  const port = m[2] ? Number(m[2]) : defaultPort;
  if (port < 1 || port > 65535) throw new ProxyError('BAD_TARGET', 'invalid port');
  return { host, port };
}

/**
 * Parse a CONNECT authority-form target "host:port" (RFC 9110 §9.3.6). Strict: a port
 * is required, no userinfo, no path.
 */
export function parseAuthority(authority: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:/?#@[\]]+):(\d{1,5})$/.exec(authority);
  if (!m) throw new ProxyError('BAD_TARGET', 'CONNECT target must be host:port');
  const host = normaliseHost(m[1]!);
  if (!host) throw new ProxyError('BAD_TARGET', `invalid host "${m[1]}"`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new ProxyError('BAD_TARGET', 'invalid port');
  return { host, port };
}

/** host:port with brackets for IPv6, for Host headers and logs. */
export function formatAuthority(host: string, port: number, defaultPort?: number): string {
  const h = host.includes(':') ? `[${host}]` : host;
  return port === defaultPort ? h : `${h}:${port}`;
}
