import { BlockList, isIP } from 'node:net';

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
 * A set of CIDRs with O(prefixes) membership tests via node's BlockList.
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) are matched as their IPv4 form.
 */
export class CidrSet {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: Iterable<Cidr | string>) {
    let n = 0;
    for (const c of cidrs) {
      const cidr = typeof c === 'string' ? parseCidr(c) : c;
      if (!cidr) throw new Error(`invalid CIDR ${JSON.stringify(c)}`);
      this.list.addSubnet(cidr.address, cidr.prefix, cidr.family);
      n++;
    }
    this.size = n;
  }

  has(ip: string): boolean {
    if (this.size === 0) return false;
    const unmapped = unmapIPv4(ip);
    const v = isIP(unmapped);
    if (v === 0) return false;
    return this.list.check(unmapped, v === 4 ? 'ipv4' : 'ipv6');
  }
}

/** "::ffff:127.0.0.1" → "127.0.0.1"; other addresses unchanged. */
export function unmapIPv4(ip: string): string {
  if (ip.length > 7 && (ip.startsWith('::ffff:') || ip.startsWith('::FFFF:'))) {
    const rest = ip.slice(7);
    if (isIP(rest) === 4) return rest;
  }
  return ip;
}
