import { hostOf, type AuditLine } from './filter.js';
import { TopK } from './top-k.js';

interface Tally {
  count: number;
  bytesIn: number;
  bytesOut: number;
}
const tally = (): Tally => ({ count: 0, bytesIn: 0, bytesOut: 0 });

/** What `egressd audit` prints: plain numbers, ready for any of its formats. */
export interface AuditReport {
  lines: number;
  skipped: number;
  requests: number;
  tunnels: number;
  first: string | null;
  last: string | null;
  bytesIn: number;
  bytesOut: number;
  topUsers: { user: string; requests: number; bytesOut: number; bytesIn: number }[];
  topDestinations: { host: string; requests: number; bytesOut: number }[];
  denied: { rule: string; count: number; reason: string; example: string }[];
  errors: { code: string; count: number }[];
  cache: { hit: number; miss: number; stale: number; revalidated: number; bypass: number; hitRatio: number | null };
  /** Some counts are lower bounds: there were more distinct keys than the tables hold. */
  approximate: boolean;
}

const CACHE_STATES = ['hit', 'miss', 'stale', 'revalidated', 'bypass'] as const;

/** Accumulates lines into the report in bounded memory (see TopK). */
export class AuditAggregator {
  private lines = 0;
  private skipped = 0;
  private requests = 0;
  private tunnels = 0;
  private first: string | null = null;
  private last: string | null = null;
  private bytesIn = 0;
  private bytesOut = 0;
  private readonly users: TopK<Tally>;
  private readonly hosts: TopK<Tally>;
  private readonly denied = new TopK<{ count: number; reason: string; example: string }>(10_000, () => ({ count: 0, reason: '', example: '' }));
  private readonly errors = new Map<string, number>();
  private readonly cache = { hit: 0, miss: 0, stale: 0, revalidated: 0, bypass: 0 };

  constructor(capacity = 100_000) {
    this.users = new TopK(capacity, tally);
    this.hosts = new TopK(capacity, tally);
  }

  /** Parse one raw line: false if it is not an access-log line (server log, garbage). */
  parse(raw: string): AuditLine | null {
    this.lines++;
    if (raw.length === 0 || raw.charCodeAt(0) !== 123 /* { */) return this.skip();
    let l: AuditLine & { msg?: string };
    try {
      l = JSON.parse(raw) as AuditLine & { msg?: string };
    } catch {
      return this.skip();
    }
    if (l.msg !== 'request' && l.msg !== 'tunnel') return this.skip();
    return l;
  }

  private skip(): null {
    this.skipped++;
    return null;
  }

  add(l: AuditLine): void {
    if (l.kind === 'connect' || l.kind === 'upgrade') this.tunnels++;
    else this.requests++;
    if (l.time) {
      if (this.first === null || l.time < this.first) this.first = l.time;
      if (this.last === null || l.time > this.last) this.last = l.time;
    }
    const bin = l.bytesIn ?? 0;
    const bout = l.bytesOut ?? 0;
    this.bytesIn += bin;
    this.bytesOut += bout;
    const u = this.users.get(l.user ?? `(anonymous ${l.client ?? '?'})`);
    u.count++;
    u.bytesIn += bin;
    u.bytesOut += bout;
    const host = hostOf(l);
    if (host) {
      const h = this.hosts.get(host);
      h.count++;
      h.bytesOut += bout;
    }
    if (l.decision?.action === 'deny' || l.error === 'POLICY_DENIED') {
      const d = this.denied.get(l.decision?.rule ?? '(no rule)');
      d.count++;
      d.reason ||= l.decision?.reason ?? '';
      d.example ||= l.url ?? '';
    }
    if (l.error) this.errors.set(l.error, (this.errors.get(l.error) ?? 0) + 1);
    const c = l.cache as (typeof CACHE_STATES)[number] | null | undefined;
    if (c && c in this.cache) this.cache[c]++;
  }

  report(top: number): AuditReport {
    const c = this.cache;
    const looked = c.hit + c.miss + c.stale + c.revalidated;
    return {
      lines: this.lines,
      skipped: this.skipped,
      requests: this.requests,
      tunnels: this.tunnels,
      first: this.first,
      last: this.last,
      bytesIn: this.bytesIn,
      bytesOut: this.bytesOut,
      topUsers: this.users.top(top).map(([user, t]) => ({ user, requests: t.count, bytesOut: t.bytesOut, bytesIn: t.bytesIn })),
      topDestinations: this.hosts.top(top).map(([host, t]) => ({ host, requests: t.count, bytesOut: t.bytesOut })),
      denied: this.denied.top(top).map(([rule, d]) => ({ rule, count: d.count, reason: d.reason, example: d.example })),
      errors: [...this.errors].sort((a, b) => b[1] - a[1]).map(([code, count]) => ({ code, count })),
      // Served from the cache (fresh or stale) over every lookup that could have been.
      cache: { ...c, hitRatio: looked ? (c.hit + c.stale + c.revalidated) / looked : null },
      approximate: this.users.approximate || this.hosts.approximate || this.denied.approximate,
    };
  }
}
