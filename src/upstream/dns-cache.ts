import { Resolver } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { LRUCache } from 'lru-cache';
import { ProxyError } from '../http/errors.js';

export interface DnsOptions {
  minTtl: number;
  maxTtl: number;
  negativeTtl: number;
  /** Per attempt, in ms; a whole lookup gives up after timeout × tries. */
  timeout: number;
  /** Attempts per name server; default 2. */
  tries?: number;
  cacheSize: number;
  /** Name servers for Resolver.setServers(); empty or absent: the system's (/etc/resolv.conf). */
  servers?: readonly string[];
  family: 'ipv4first' | 'ipv6first' | 'ipv4' | 'ipv6';
  /** Path of a hosts file; defaults to /etc/hosts. */
  hostsFile?: string;
  /** Injected resolver (tests); defaults to node's c-ares resolver with the system config. */
  resolver?: Pick<Resolver, 'resolve4' | 'resolve6'>;
  now?: () => number;
}

interface Entry {
  addresses: string[];
  error: ProxyError | null;
  expires: number;
}

/**
 * Resolves host names once and caches the answer for its DNS TTL, clamped to
 * [minTtl, maxTtl]; failures are cached for negativeTtl. Concurrent lookups of one
 * name share a query. The hosts file is read once, like Squid does, and wins over DNS.
 */
export class DnsCache {
  private readonly cache: LRUCache<string, Entry>;
  private readonly inflight = new Map<string, Promise<Entry>>();
  private readonly hosts: Map<string, string[]>;
  private readonly resolver: Pick<Resolver, 'resolve4' | 'resolve6'>;
  private readonly now: () => number;
  private readonly tries: number;

  constructor(private readonly opts: DnsOptions) {
    this.cache = new LRUCache({ max: Math.max(1, opts.cacheSize) });
    this.hosts = readHostsFile(opts.hostsFile ?? '/etc/hosts');
    this.tries = opts.tries ?? 2;
    this.resolver = opts.resolver ?? systemResolver(opts.timeout, this.tries, opts.servers ?? []);
    this.now = opts.now ?? Date.now;
  }

  /** Addresses for `host` in preference order. Throws ProxyError DNS_FAILED / DNS_TIMEOUT. */
  async resolve(host: string): Promise<string[]> {
    if (isIP(host)) return [host];
    const pinned = this.hosts.get(host);
    if (pinned) return this.order(pinned);
    const hit = this.cache.get(host);
    if (hit && hit.expires > this.now()) {
      if (hit.error) throw hit.error;
      return hit.addresses;
    }
    let p = this.inflight.get(host);
    if (!p) {
      p = this.query(host).finally(() => this.inflight.delete(host));
      this.inflight.set(host, p);
    }
    const entry = await p;
    if (entry.error) throw entry.error;
    return entry.addresses;
  }

  /** The cached answer, without querying (for logs). */
  peek(host: string): string[] | undefined {
    if (isIP(host)) return [host];
    return this.hosts.get(host) ?? this.cache.get(host)?.addresses;
  }

  private async query(host: string): Promise<Entry> {
    const { family } = this.opts;
    const lookups = Promise.all([
      family === 'ipv6' ? null : this.resolver.resolve4(host, { ttl: true }).catch((e: unknown) => e as Error),
      family === 'ipv4' ? null : this.resolver.resolve6(host, { ttl: true }).catch((e: unknown) => e as Error),
    ]);
    // c-ares doubles its timeout on each retry (measured here: timeout 300 ms, tries 2
    // gave up after ~1.2 s), so the bound an admin configures is enforced here. The
    // abandoned query ends by itself inside c-ares; its answer is not used.
    const budget = this.opts.timeout * this.tries;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<null>((resolve) => (timer = setTimeout(resolve, budget, null)));
    const answers = await Promise.race([lookups, expired]).finally(() => clearTimeout(timer));
    if (answers === null) {
      const entry = { addresses: [], error: new ProxyError('DNS_TIMEOUT', `${host}: DNS lookup timed out after ${budget} ms (egress.dns.timeout × tries)`), expires: this.now() + this.opts.negativeTtl };
      this.cache.set(host, entry);
      return entry;
    }
    const [v4, v6] = answers;
    const records = [v4, v6].flatMap((r) => (Array.isArray(r) ? r : []));
    let entry: Entry;
    if (records.length) {
      const ttl = Math.min(...records.map((r) => r.ttl * 1000));
      const a4 = Array.isArray(v4) ? v4.map((r) => r.address) : [];
      const a6 = Array.isArray(v6) ? v6.map((r) => r.address) : [];
      const addresses = family === 'ipv6first' ? [...a6, ...a4] : [...a4, ...a6];
      entry = { addresses, error: null, expires: this.now() + clamp(ttl, this.opts.minTtl, this.opts.maxTtl) };
    } else {
      const err = [v4, v6].find((r): r is Error => r instanceof Error) as (Error & { code?: string }) | undefined;
      const code = err?.code === 'ETIMEOUT' ? 'DNS_TIMEOUT' : 'DNS_FAILED';
      const why = err?.code === 'ETIMEOUT' ? 'DNS lookup timed out' : `host name could not be resolved (${err?.code ?? 'no addresses'})`;
      entry = { addresses: [], error: new ProxyError(code, `${host}: ${why}`), expires: this.now() + this.opts.negativeTtl };
    }
    this.cache.set(host, entry);
    return entry;
  }

  private order(addresses: string[]): string[] {
    const { family } = this.opts;
    const v4 = addresses.filter((a) => isIP(a) === 4);
    const v6 = addresses.filter((a) => isIP(a) === 6);
    if (family === 'ipv4') return v4;
    if (family === 'ipv6') return v6;
    return family === 'ipv6first' ? [...v6, ...v4] : [...v4, ...v6];
  }
}

function systemResolver(timeout: number, tries: number, servers: readonly string[]): Resolver {
  const r = new Resolver({ timeout, tries });
  if (servers.length) r.setServers(servers);
  return r;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, v));
}

function readHostsFile(path: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return map;
  }
  for (const line of text.split('\n')) {
    const fields = line.replace(/#.*/, '').trim().split(/\s+/);
    const ip = fields[0];
    if (!ip || !isIP(ip)) continue;
    for (const name of fields.slice(1)) {
      const key = name.toLowerCase().replace(/\.$/, '');
      const list = map.get(key) ?? [];
      if (!list.includes(ip)) list.push(ip);
      map.set(key, list);
    }
  }
  return map;
}
