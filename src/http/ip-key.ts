import { isIP } from 'node:net';

/**
 * An IP address as integers, parsed once, so matching it against many CIDRs is a few
 * integer operations each (node's BlockList costs microseconds per check: too much for a
 * policy with hundreds of address rules). IPv4-mapped IPv6 is keyed as IPv4.
 */
export type IpKey = { readonly v: 4; readonly n: number } | { readonly v: 6; readonly w: readonly [number, number, number, number] };

export function ipKey(text: string): IpKey | undefined {
  const fam = isIP(text);
  if (fam === 4) return { v: 4, n: v4ToInt(text) };
  if (fam !== 6) return undefined;
  const w = v6ToWords(text);
  // ::ffff:a.b.c.d is an IPv4 client on a dual-stack socket.
  if (w[0] === 0 && w[1] === 0 && w[2] === 0xffff) return { v: 4, n: w[3] };
  return { v: 6, w };
}

function v4ToInt(s: string): number {
  const p = s.split('.');
  return ((Number(p[0]) << 24) | (Number(p[1]) << 16) | (Number(p[2]) << 8) | Number(p[3])) >>> 0;
}

function v6ToWords(s: string): [number, number, number, number] {
  let text = s.toLowerCase();
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const groups: number[] = [];
  const tail: number[] = [];
  const dbl = text.indexOf('::');
  const parse = (part: string, out: number[]): void => {
    if (part === '') return;
    for (const g of part.split(':')) {
      if (g.includes('.')) {
        const n = v4ToInt(g);
        out.push(n >>> 16, n & 0xffff);
      } else out.push(parseInt(g, 16));
    }
  };
  if (dbl >= 0) {
    parse(text.slice(0, dbl), groups);
    parse(text.slice(dbl + 2), tail);
    while (groups.length + tail.length < 8) groups.push(0);
    groups.push(...tail);
  } else parse(text, groups);
  const w = (i: number): number => (((groups[i]! << 16) | groups[i + 1]!) >>> 0);
  return [w(0), w(2), w(4), w(6)];
}

/** Bit mask for the top `bits` bits of a 32-bit word (0..32). */
export function mask32(bits: number): number {
  return bits <= 0 ? 0 : bits >= 32 ? 0xffffffff : (0xffffffff << (32 - bits)) >>> 0;
}
