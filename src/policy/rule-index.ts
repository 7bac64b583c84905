import type { Cidr } from '../http/cidr.js';
import { ipKey, mask32, type IpKey } from '../http/ip-key.js';
import type { EvalContext } from './context.js';
import type { HostPattern } from './host.js';

/** A port range this narrow is filed under each of its ports; a wider one is not indexed. */
const MAX_INDEXED_RANGE = 16;

/** How a rule's host condition relates to being a candidate of the index. */
export type HostIndexing = 'exact' | 'filter' | 'none';

/**
 * Pre-buckets rules so a decision does not walk every rule. Each rule is filed under
 * the most selective key it has:
 * - hosts: exact names and `.d` under the name, `*.d` and `.d` under the domain d, a
 *   glob under the literal domain it ends with (its host condition is then still
 *   checked); a glob with no literal tail, like `{a,b}.example.*`, is not indexable;
 * - otherwise users: under each user name; otherwise groups: under each group;
 * - otherwise sources: under each client network (prefix length + masked address; a
 *   request looks up one key per prefix length in use);
 * - otherwise ports: under each port (ranges of up to 16 ports);
 * - otherwise `always`: tried for every request.
 * The candidates for a request are `always` plus the rules filed under its host, its
 * parent domains, its user and its groups, merged in rule order, so first-match
 * semantics are unchanged. With 1,000 rules that name hosts or identities, a decision
 * looks at the few that can match, after O(labels + groups) hash lookups.
 */
export class RuleIndex {
  /** Host → rules with that exact name (`example.com`, or `.example.com`). */
  private readonly exact = new Map<string, number[]>();
  /** Domain → rules matching its subdomains (`*.example.com`, `.example.com`, globs). */
  private readonly suffix = new Map<string, number[]>();
  private readonly users = new Map<string, number[]>();
  private readonly groups = new Map<string, number[]>();
  /** "4/24/167772160"-style network keys → rules with that source network. */
  private readonly sources = new Map<string, number[]>();
  /** The (family, prefix length) pairs in `sources`, each looked up once per request. */
  private readonly sourceLengths: { v: 4 | 6; bits: number }[] = [];
  private readonly ports = new Map<number, number[]>();
  /** Rules that must be tried for every request, in order. */
  readonly always: number[] = [];

  /**
   * File rule `ruleIndex` (rules must be added in order). Returns "exact" when being a
   * host candidate proves the host condition holds, "filter" when the host condition
   * must still be checked, "none" when the rule is not filed by host.
   */
  add(
    ruleIndex: number,
    rule: {
      hosts?: readonly HostPattern[];
      users?: readonly string[];
      groups?: readonly string[];
      sources?: readonly Cidr[];
      ports?: readonly (readonly [number, number])[];
    },
  ): HostIndexing {
    const { hosts, users, groups, sources, ports } = rule;
    const keys = hosts?.map((p) => (p.kind === 'glob' ? globSuffix(p.glob.source) : p.name));
    if (hosts && keys && keys.every((k) => k !== undefined)) {
      let verify = false;
      hosts.forEach((p, i) => {
        if (p.kind === 'glob') verify = true;
        if (p.kind === 'exact' || p.kind === 'domain') push(this.exact, p.name, ruleIndex);
        if (p.kind !== 'exact') push(this.suffix, keys[i]!, ruleIndex);
      });
      return verify ? 'filter' : 'exact';
    }
    // The users and groups conditions are still evaluated; filing only skips the rule
    // for requests that cannot satisfy them.
    // Likewise sources and ports: the conditions are evaluated anyway.
    if (users) for (const u of users) push(this.users, u.toLowerCase(), ruleIndex);
    else if (groups) for (const g of groups) push(this.groups, g.toLowerCase(), ruleIndex);
    else if (sources) for (const c of sources) this.fileSource(c, ruleIndex);
    else if (ports && ports.every(([lo, hi]) => hi - lo < MAX_INDEXED_RANGE)) {
      for (const [lo, hi] of ports) for (let p = lo; p <= hi; p++) push(this.ports, p, ruleIndex);
    } else this.always.push(ruleIndex);
    return 'none';
  }

  private fileSource(c: Cidr, ruleIndex: number): void {
    const key = ipKey(c.address)!;
    // The same families as CidrSet matches: a v6 CIDR over the IPv4-mapped range
    // applies to IPv4 clients; other v6 CIDRs to IPv6 clients only.
    const bitsV4 = key.v === 4 ? (c.family === 'ipv6' ? c.prefix - 96 : c.prefix) : -1;
    if (key.v === 4 && bitsV4 >= 0) this.fileNet(networkKey(key, bitsV4), 4, bitsV4, ruleIndex);
    else if (key.v === 6) this.fileNet(networkKey(key, c.prefix), 6, c.prefix, ruleIndex);
    else this.always.push(ruleIndex); // matches no client: evaluated (and refused) as written
  }

  private fileNet(k: string, v: 4 | 6, bits: number, ruleIndex: number): void {
    push(this.sources, k, ruleIndex);
    if (!this.sourceLengths.some((l) => l.v === v && l.bits === bits)) this.sourceLengths.push({ v, bits });
  }

  /**
   * Filed rules that may match this request, in rule order, or null. The returned
   * array may be shared: callers must not modify it.
   */
  candidates(ctx: EvalContext): readonly number[] | null {
    const host = ctx.host;
    let out: readonly number[] | null = this.exact.get(host) ?? null;
    if (!ctx.hostIsIp && this.suffix.size !== 0) {
      for (let i = host.indexOf('.'); i >= 0; i = host.indexOf('.', i + 1)) {
        out = union(out, this.suffix.get(host.slice(i + 1)));
      }
    }
    if (this.users.size !== 0 && ctx.user !== undefined) out = union(out, this.users.get(ctx.user));
    if (this.groups.size !== 0) for (const g of ctx.groups) out = union(out, this.groups.get(g));
    if (this.sources.size !== 0) {
      const key = ctx.clientKey;
      if (key) for (const l of this.sourceLengths) if (l.v === key.v) out = union(out, this.sources.get(networkKey(key, l.bits)));
    }
    if (this.ports.size !== 0) out = union(out, this.ports.get(ctx.facts.port));
    return out;
  }

  get size(): { names: number; identities: number; sources: number; ports: number; always: number } {
    return {
      names: this.exact.size + this.suffix.size,
      identities: this.users.size + this.groups.size,
      sources: this.sources.size,
      ports: this.ports.size,
      always: this.always.length,
    };
  }
}

/**
 * The literal domain a glob's matches must be subdomains of: the text after the first
 * "." that follows the last glob character. "cdn-*.site.example" → "site.example";
 * "*.s3.*.amazonaws.com" → "amazonaws.com"; "{a,b}.example.*" → undefined. Sound
 * because that tail is literal and preceded by a literal ".", so any match ends in
 * ".site.example".
 */
export function globSuffix(glob: string): string | undefined {
  let last = -1;
  for (let i = 0; i < glob.length; i++) if ('*?[]{}()!+@|,^'.includes(glob[i]!)) last = i;
  const dot = glob.indexOf('.', last + 1);
  if (dot < 0 || dot === glob.length - 1) return undefined;
  return glob.slice(dot + 1);
}

/** The network of `key` at `bits` as a map key: family, prefix length, masked words. */
function networkKey(key: IpKey, bits: number): string {
  if (key.v === 4) return `4/${bits}/${(key.n & mask32(bits)) >>> 0}`;
  let out = `6/${bits}`;
  let left = bits;
  for (let i = 0; i < 4; i++, left -= 32) out += `/${(key.w[i]! & mask32(left)) >>> 0}`;
  return out;
}

function push<K>(map: Map<K, number[]>, key: K, ruleIndex: number): void {
  const list = map.get(key);
  if (!list) map.set(key, [ruleIndex]);
  else if (list[list.length - 1] !== ruleIndex) list.push(ruleIndex);
}

function union(a: readonly number[] | null, b: readonly number[] | undefined): readonly number[] | null {
  if (b === undefined) return a;
  return a === null ? b : mergeSorted(a, b);
}

/** Union of two ascending lists, ascending and without duplicates. */
function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = i < a.length ? a[i]! : Infinity;
    const y = j < b.length ? b[j]! : Infinity;
    const v = x <= y ? x : y;
    if (x === v) i++;
    if (y === v) j++;
    out.push(v);
  }
  return out;
}
