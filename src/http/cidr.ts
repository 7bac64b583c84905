import { isIP } from 'node:net';
import { ipKey, mask32, type IpKey } from './ip-key.js';

export interface Cidr {
  address: string;
  prefix: number;
  family: 'ipv4' | 'ipv6';
}

/** Parse "10.0.0.0/8", "::1/128" or a bare address (a host route). Returns undefined if invalid. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const address = (slash < 0 ? text : text.slice(0, slash)).trim();
  const v = isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1).trim();
    if (!/^\d{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > max) return undefined;
  }
  return { address, prefix, family: v === 4 ? 'ipv4' : 'ipv6' };
}

/**
 * A set of CIDRs. Membership is integer masking over the parsed address (see ip-key.ts),
 * so checking one address against many sets costs one parse plus a few operations each.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are matched as their IPv4 form.
 */
export class CidrSet {
  private readonly v4: { net: number; mask: number }[] = [];
  private readonly v6: { w: readonly number[]; prefix: number }[] = [];
  readonly size: number;

  constructor(cidrs: Iterable<Cidr | string>) {
    let n = 0;
    for (const c of cidrs) {
      const cidr = typeof c === 'string' ? parseCidr(c) : c;
      if (!cidr) throw new Error(`invalid CIDR ${JSON.stringify(c)}`);
      const key = ipKey(cidr.address)!;
      if (key.v === 4) {
        // A v6 CIDR over the mapped range (::ffff:0:0/96 and longer) applies to IPv4 keys.
        const prefix = cidr.family === 'ipv6' ? cidr.prefix - 96 : cidr.prefix;
        if (prefix >= 0) {
          const mask = mask32(prefix);
          this.v4.push({ net: (key.n & mask) >>> 0, mask });
        }
      } else this.v6.push({ w: key.w, prefix: cidr.prefix });
      n++;
    }
    this.size = n;
  }

  has(ip: string): boolean {
    if (this.size === 0) return false;
    const key = ipKey(ip);
    return key !== undefined && this.hasKey(key);
  }

  /** Membership of an address parsed once with ipKey (the fast path for policies). */
  hasKey(key: IpKey): boolean {
    if (key.v === 4) {
      for (const r of this.v4) if (((key.n & r.mask) >>> 0) === r.net) return true;
      return false;
    }
    outer: for (const r of this.v6) {
      let bits = r.prefix;
      for (let i = 0; i < 4 && bits > 0; i++, bits -= 32) {
        const m = mask32(bits);
        if (((key.w[i]! & m) >>> 0) !== ((r.w[i]! & m) >>> 0)) continue outer;
      }
      return true;
    }
    return false;
  }
}

/**
 * An IPv4-mapped IPv6 address as its IPv4 form ("::ffff:127.0.0.1" → "127.0.0.1");
 * other addresses unchanged. Every spelling of the mapped range counts
 * ("::ffff:7f00:1", "0:0:0:0:0:ffff:127.0.0.1"): a socket connects them all to the
 * same IPv4 host, so a check on one spelling must hold for the others.
 */
export function unmapIPv4(ip: string): string {
  if (ip.length > 7 && (ip.startsWith('::ffff:') || ip.startsWith('::FFFF:'))) {
    const rest = ip.slice(7);
    if (isIP(rest) === 4) return rest;
  }
  if (ip.length > 7 && ip.includes(':') && /ffff/i.test(ip)) {
    const key = ipKey(ip);
    if (key?.v === 4) return `${key.n >>> 24}.${(key.n >>> 16) & 255}.${(key.n >>> 8) & 255}.${key.n & 255}`;
  }
  return ip;
}

/**
 * One spelling per address, for comparing addresses as strings: IPv4 dotted (mapped
 * forms unmapped), IPv6 as eight lowercase groups without compression ("::1" →
 * "0:0:0:0:0:0:0:1"). Anything that is not an IP literal is returned as it is.
 */
export function canonicalIp(ip: string): string {
  const a = unmapIPv4(ip);
  if (isIP(a) !== 6) return a;
  const key = ipKey(a);
  if (!key || key.v !== 6) return a;
  return key.w.flatMap((w) => [(w >>> 16).toString(16), (w & 0xffff).toString(16)]).join(':');
}
