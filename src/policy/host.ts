import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { unmapIPv4 } from '../http/cidr.js';
import { normaliseHost } from '../http/target.js';
import { compileMinimatch, GLOB_CHARS, globSyntaxError, HOST_GLOB_OPTIONS, type Glob } from './glob.js';

/** Already normal: lowercase ASCII name or IPv4 literal, no trailing dot. */
const FAST_HOST = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;

/**
 * Normalise a request host for matching: lowercase, no trailing dot, IDN to punycode
 * (UTS #46 via node:url), IPv6 without brackets in canonical RFC 5952 form, and an
 * IPv4-mapped IPv6 literal as its IPv4 address (so "[::ffff:10.0.0.1]" cannot slip past
 * a rule about 10.0.0.1). Never fails: an unparseable host is lowercased, so it simply
 * matches no name-based rule.
 */
export function normaliseRequestHost(raw: string): string {
  if (FAST_HOST.test(raw)) return raw;
  let h = raw;
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (isIP(h) === 6) return canonicalIPv6(h);
  return normaliseHost(h) ?? h.toLowerCase().replace(/\.$/, '');
}

/** Canonical form of a valid IPv6 literal; IPv4-mapped addresses become IPv4. */
export function canonicalIPv6(ip: string): string {
  const dotted = unmapIPv4(ip);
  if (dotted !== ip) return dotted;
  const canon = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(canon);
  if (!mapped) return canon;
  const hi = parseInt(mapped[1]!, 16);
  const lo = parseInt(mapped[2]!, 16);
  return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
}

/** For a normalised host. Names rarely end in a digit, so most skip isIP's regexes. */
export function isIpLiteral(host: string): boolean {
  if (host.includes(':')) return isIP(host) === 6;
  const last = host.charCodeAt(host.length - 1);
  return last >= 48 && last <= 57 && isIP(host) === 4;
}

/**
 * A host pattern in a rule. The semantics, also documented in policies/default.yaml:
 * - `example.com`    exactly that host
 * - `*.example.com`  any subdomain, at any depth (a.example.com, a.b.example.com), not example.com
 * - `.example.com`   example.com and all its subdomains (Squid's dstdomain form)
 * - other globs      minimatch, case-insensitive, e.g. `api-*.example.com`, `*.s3.*.amazonaws.com`
 * - IP literals      exact: `10.1.2.3`, `2001:db8::1` or `[2001:db8::1]` (use `destinations` for CIDRs)
 * The first three are looked up in a hash index; only real globs are matched one by one.
 */
export type HostPattern =
  | { readonly kind: 'exact'; readonly name: string }
  | { readonly kind: 'subdomains'; readonly name: string }
  | { readonly kind: 'domain'; readonly name: string }
  | { readonly kind: 'glob'; readonly glob: Glob };

const LABEL = /^[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?$/;
const GLOB_LABEL = /^[a-z0-9_\-*?[\]{}()!+@|^,]+$/;

/** Parse one host pattern; returns an error message when it is invalid. */
export function parseHostPattern(raw: string): HostPattern | string {
  let p = raw.trim().toLowerCase();
  if (p === '') return 'empty host pattern';
  if (p.startsWith('[') && p.endsWith(']')) {
    const ip = p.slice(1, -1);
    return isIP(ip) === 6 ? { kind: 'exact', name: canonicalIPv6(ip) } : `invalid IPv6 literal "${raw}"`;
  }
  const v = isIP(p);
  if (v === 4) return { kind: 'exact', name: p };
  if (v === 6) return { kind: 'exact', name: canonicalIPv6(p) };
  if (p.includes('/')) return `host pattern "${raw}" contains "/": put URL paths in "paths" and address ranges in "destinations"`;
  if (p.includes(':')) return `host pattern "${raw}" contains ":": ports go in "ports"`;
  if (p.startsWith('!')) return `negated host patterns are not supported: put an allow rule above the deny rule instead`;
  if (p.includes('**')) {
    return `"**" is not supported in host patterns: "*.example.com" already matches subdomains at any depth, and ".example.com" matches the domain and its subdomains`;
  }
  if (p.length > 1 && p.endsWith('.')) p = p.slice(0, -1);
  const domainForm = p.startsWith('.');
  if (domainForm) p = p.slice(1);
  const labels = p.split('.');
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (label === '') return `host pattern "${raw}" has an empty label`;
    // eslint-disable-next-line no-control-regex
    if (/[^\x00-\x7f]/.test(label)) {
      // IDN: rules are written in Unicode, requests arrive in punycode (RFC 5890).
      if (GLOB_CHARS.test(label)) return `host pattern "${raw}": a label cannot mix glob characters and non-ASCII letters`;
      const ascii = domainToASCII(label);
      if (!ascii) return `host pattern "${raw}": "${label}" is not a valid internationalised label`;
      labels[i] = ascii;
    }
  }
  const name = labels.join('.');
  const rest = name.startsWith('*.') ? name.slice(2) : undefined;
  if (!GLOB_CHARS.test(name)) {
    if (!labels.every((l) => LABEL.test(l))) return `invalid host name "${raw}"`;
    return { kind: domainForm ? 'domain' : 'exact', name };
  }
  if (domainForm) return `".example.com" form takes a plain domain name, not a glob: "${raw}"`;
  if (rest !== undefined && !GLOB_CHARS.test(rest) && rest.split('.').every((l) => LABEL.test(l))) {
    return { kind: 'subdomains', name: rest };
  }
  if (!labels.every((l) => GLOB_LABEL.test(l))) return `invalid character in host pattern "${raw}"`;
  const syntax = globSyntaxError(name);
  if (syntax) return `invalid glob "${raw}": ${syntax}`;
  return { kind: 'glob', glob: compileMinimatch(name, HOST_GLOB_OPTIONS) };
}

export function formatHostPattern(p: HostPattern): string {
  switch (p.kind) {
    case 'exact':
      return p.name;
    case 'subdomains':
      return `*.${p.name}`;
    case 'domain':
      return `.${p.name}`;
    case 'glob':
      return p.glob.source;
  }
}
