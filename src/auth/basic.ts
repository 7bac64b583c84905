import { ProxyError } from '../http/errors.js';

/** User name and password from a Basic credential (RFC 7617 §2). */
export interface BasicCredentials {
  user: string;
  password: string;
}

/**
 * Parse a Proxy-Authorization value (RFC 9110 §11.7.2). Returns undefined for another
 * scheme (a client offering only Digest or NTLM gets the Basic challenge again);
 * throws AUTH_REQUIRED for a Basic value that is not base64 of "user:password".
 */
export function parseBasic(header: string): BasicCredentials | undefined {
  const sp = header.indexOf(' ');
  // The scheme is case-insensitive (RFC 9110 §11.1).
  if (sp !== 5 || header.slice(0, 5).toLowerCase() !== 'basic') return undefined;
  const token = header.slice(6).trim();
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(token)) throw malformed('the Basic credentials are not base64');
  // RFC 7617 §2.1: we announce charset="UTF-8", so decode as UTF-8.
  const decoded = Buffer.from(token, 'base64').toString('utf8');
  // The user-id cannot contain a colon; the password may (RFC 7617 §2).
  const colon = decoded.indexOf(':');
  if (colon <= 0) throw malformed('the Basic credentials have no "user:password" form');
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function malformed(why: string): ProxyError {
  return new ProxyError('AUTH_REQUIRED', `proxy authentication failed: ${why}`);
}

/** The Proxy-Authenticate value for a realm (RFC 7617 §2, quoted-string per RFC 9110 §5.6.4). */
export function basicChallenge(realm: string): string {
  return `Basic realm="${realm.replace(/["\\]/g, '\\$&')}", charset="UTF-8"`;
}

/** A 407 with the challenge: what a client without (valid) credentials gets. */
export function authRequired(realm: string, reason: string): ProxyError {
  return new ProxyError('AUTH_REQUIRED', reason, { headers: { 'proxy-authenticate': basicChallenge(realm) } });
}
