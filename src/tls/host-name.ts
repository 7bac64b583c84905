import { isIP } from 'node:net';
import { TlsError } from './errors.js';

export type HostKind = 'dns' | 'ipv4' | 'ipv6';

export interface NormalizedHost {
  /** Lowercase, no trailing dot; IPv6 in canonical compressed form without brackets. */
  readonly name: string;
  readonly kind: HostKind;
}

// One label: letters, digits, hyphen, and underscore (not legal in host names, but common
// in real ones and accepted by browsers). Length bounds are from RFC 1035 §2.3.4.
const LABEL = /^[a-z0-9_-]{1,63}$/;
const MAX_NAME = 253;

/**
 * Normalise a host name or IP literal (from SNI or the CONNECT target) into the form leaves
 * are issued and cached under, so "Example.COM." and "example.com" share one certificate.
 * Throws TlsError INVALID_HOST for anything that cannot go into a SAN: wildcards, empty
 * labels, non-ASCII (clients send A-labels), IPv6 zone ids.
 */
export function normalizeHost(input: string): NormalizedHost {
  let name = input.trim().toLowerCase();
  if (name.startsWith('[') && name.endsWith(']')) name = name.slice(1, -1);
  const family = isIP(name);
  if (family === 4) return { name, kind: 'ipv4' };
  if (family === 6) {
    // A zone id (fe80::1%eth0) is local to this machine and has no place in a certificate.
    if (name.includes('%')) throw invalid(input, 'IPv6 zone id');
    return { name: canonicalIpv6(name), kind: 'ipv6' };
  }
  if (name.endsWith('.')) name = name.slice(0, -1);
  if (name.length === 0 || name.length > MAX_NAME) throw invalid(input, 'length');
  for (const label of name.split('.')) {
    if (!LABEL.test(label)) throw invalid(input, `bad label "${label.slice(0, 70)}"`);
  }
  return { name, kind: 'dns' };
}

/** The 4 or 16 bytes of an iPAddress GeneralName (RFC 5280 §4.2.1.6). */
export function ipToBytes(host: NormalizedHost): Buffer {
  if (host.kind === 'ipv4') return Buffer.from(host.name.split('.').map(Number));
  if (host.kind !== 'ipv6') throw invalid(host.name, 'not an IP address');
  // canonicalIpv6 output holds only hex groups and at most one "::".
  const [head = '', tail] = host.name.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = [...left, ...Array<string>(8 - left.length - right.length).fill('0'), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/**
 * A file name for a host's cached leaf: DNS names are already safe ([a-z0-9._-], no empty
 * label so never "." or ".."); ":" in IPv6 becomes "+", which no DNS name contains.
 */
export function hostFileName(host: NormalizedHost): string {
  return `${host.name.replaceAll(':', '+')}.pem`;
}

/** The WHATWG URL serializer gives the RFC 5952 form: "0:0::1" and "::0.0.0.1" both become "::1". */
function canonicalIpv6(name: string): string {
  try {
    return new URL(`http://[${name}]/`).hostname.slice(1, -1);
  } catch (cause) {
    throw new TlsError('INVALID_HOST', `invalid IPv6 address: ${name}`, { cause });
  }
}

function invalid(input: string, why: string): TlsError {
  return new TlsError('INVALID_HOST', `cannot issue a certificate for "${input.slice(0, 300)}": ${why}`);
}
