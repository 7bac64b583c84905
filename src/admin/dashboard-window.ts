import { TopK } from '../audit/top-k.js';
import type { AccessRecord } from '../log/access-log.js';

/** Width of one bucket of the dashboard's time series. */
export const BUCKET_MS = 10_000;
/** Buckets kept: 30 × 10 s = the last 5 minutes. */
export const BUCKETS = 30;
/** Distinct users, hosts and rules counted per bucket before the least counted are dropped (TopK). */
export const TOP_CAPACITY = 100;

interface Tally {
  count: number;
  bytesOut: number;
}
const tally = (): Tally => ({ count: 0, bytesOut: 0 });

class Bucket {
  /** Bucket number (time / BUCKET_MS) this slot holds; -1: empty. */
  index = -1;
  requests = 0;
  tunnels = 0;
  denied = 0;
  errors = 0;
  bytesOut = 0;
  cacheServed = 0;
  cacheLookups = 0;
  users = new TopK<Tally>(TOP_CAPACITY, tally);
  /** Anonymous clients by address (a table of their own: no "(anonymous …)" string per request). */
  anonymous = new TopK<Tally>(TOP_CAPACITY, tally);
  hosts = new TopK<Tally>(TOP_CAPACITY, tally);
  rules = new TopK<Tally>(TOP_CAPACITY, tally);

  reset(index: number): void {
    this.index = index;
    this.requests = this.tunnels = this.denied = this.errors = this.bytesOut = this.cacheServed = this.cacheLookups = 0;
    this.users = new TopK<Tally>(TOP_CAPACITY, tally);
    this.anonymous = new TopK<Tally>(TOP_CAPACITY, tally);
    this.hosts = new TopK<Tally>(TOP_CAPACITY, tally);
    this.rules = new TopK<Tally>(TOP_CAPACITY, tally);
  }
}

export interface DashboardPoint {
  /** Start of the bucket (ISO time). */
  start: string;
  requests: number;
  tunnels: number;
  denied: number;
  errors: number;
  /** Requests and tunnels per second over the bucket. */
  rate: number;
}

export interface WindowSnapshot {
  bucketSeconds: number;
  windowSeconds: number;
  /** Oldest first; the last point is the bucket in progress. */
  series: DashboardPoint[];
  totals: { requests: number; tunnels: number; denied: number; errors: number; bytesOut: number; cacheServed: number; cacheLookups: number; cacheHitRatio: number | null };
  topUsers: { user: string; requests: number; bytesOut: number }[];
  topDestinations: { host: string; requests: number; bytesOut: number }[];
  denials: { rule: string; count: number }[];
  /** Some counts are lower bounds: a bucket saw more distinct keys than it holds. */
  approximate: boolean;
}

/**
 * What the dashboard shows of the last few minutes, in bounded memory: a ring of
 * BUCKETS fixed 10-second buckets, each with capped top-K tables. A slot is reused
 * when its bucket falls out of the window, so memory does not grow with time or
 * traffic; a snapshot merges the live buckets (at most BUCKETS × TOP_CAPACITY × 2 keys).
 */
export class DashboardWindow {
  private readonly ring = Array.from({ length: BUCKETS }, () => new Bucket());

  constructor(private readonly clock: () => number = Date.now) {}

  /** One finished request or tunnel; `at` is its end (epoch ms). */
  record(r: AccessRecord, at = this.clock()): void {
    const index = Math.floor(at / BUCKET_MS);
    const b = this.ring[index % BUCKETS]!;
    if (b.index !== index) b.reset(index);
    if (r.kind === 'connect' || r.kind === 'upgrade') b.tunnels++;
    else b.requests++;
    b.bytesOut += r.bytesOut;
    if (r.errorCode !== null) b.errors++;
    const u = r.user === null ? b.anonymous.get(r.clientIp) : b.users.get(r.user);
    u.count++;
    u.bytesOut += r.bytesOut;
    const host = destinationHost(r.kind, r.url);
    if (host) {
      const h = b.hosts.get(host);
      h.count++;
      h.bytesOut += r.bytesOut;
    }
    // Same rule as the audit report: a response check denies with an allow-then-deny decision.
    if (r.decision?.action === 'deny' || r.errorCode === 'POLICY_DENIED') {
      b.denied++;
      b.rules.get(r.decision?.ruleId ?? '(no rule)').count++;
    }
    const c = r.cache;
    if (c === 'hit' || c === 'stale' || c === 'revalidated') b.cacheServed++;
    if (c !== null && c !== 'bypass') b.cacheLookups++;
  }

  snapshot(top = 10): WindowSnapshot {
    const now = Math.floor(this.clock() / BUCKET_MS);
    const totals = { requests: 0, tunnels: 0, denied: 0, errors: 0, bytesOut: 0, cacheServed: 0, cacheLookups: 0 };
    const users = new Map<string, Tally>();
    const anonymous = new Map<string, Tally>();
    const hosts = new Map<string, Tally>();
    const rules = new Map<string, Tally>();
    const series: DashboardPoint[] = [];
    let approximate = false;
    for (let index = now - BUCKETS + 1; index <= now; index++) {
      const b = this.ring[index % BUCKETS]!;
      const live = b.index === index;
      const point = { start: new Date(index * BUCKET_MS).toISOString(), requests: live ? b.requests : 0, tunnels: live ? b.tunnels : 0, denied: live ? b.denied : 0, errors: live ? b.errors : 0, rate: 0 };
      point.rate = Math.round(((point.requests + point.tunnels) / (BUCKET_MS / 1000)) * 10) / 10;
      series.push(point);
      if (!live) continue;
      for (const k of Object.keys(totals) as (keyof typeof totals)[]) totals[k] += b[k];
      mergeInto(users, b.users);
      mergeInto(anonymous, b.anonymous);
      mergeInto(hosts, b.hosts);
      mergeInto(rules, b.rules);
      approximate ||= b.users.approximate || b.anonymous.approximate || b.hosts.approximate || b.rules.approximate;
    }
    for (const [ip, t] of anonymous) users.set(`(anonymous ${ip})`, t);
    return {
      bucketSeconds: BUCKET_MS / 1000,
      windowSeconds: (BUCKET_MS / 1000) * BUCKETS,
      series,
      totals: { ...totals, cacheHitRatio: totals.cacheLookups === 0 ? null : totals.cacheServed / totals.cacheLookups },
      topUsers: best(users, top).map(([user, t]) => ({ user, requests: t.count, bytesOut: t.bytesOut })),
      topDestinations: best(hosts, top).map(([host, t]) => ({ host, requests: t.count, bytesOut: t.bytesOut })),
      denials: best(rules, top).map(([rule, t]) => ({ rule, count: t.count })),
      approximate,
    };
  }
}

/**
 * The destination host, cheaply (no regex: this runs per request): the authority of an
 * absolute URL, or the host of a tunnel's host:port; '' for origin-form (local pages).
 * Brackets of an IPv6 literal are dropped, as the audit report does.
 */
export function destinationHost(kind: string, url: string): string {
  let start = 0;
  let end = url.length;
  if (kind === 'connect') {
    end = url.lastIndexOf(':');
    if (end < 0) end = url.length;
  } else {
    const scheme = url.indexOf('://');
    if (scheme < 0) return '';
    start = scheme + 3;
    for (let i = start; i < url.length; i++) {
      const c = url.charCodeAt(i);
      // '/', '?', '#', or ':' outside an IPv6 literal's brackets
      if (c === 47 || c === 63 || c === 35 || (c === 58 && url.charCodeAt(start) !== 91)) {
        end = i;
        break;
      }
      if (c === 93 /* ] */) {
        end = i + 1;
        break;
      }
    }
  }
  if (url.charCodeAt(start) === 91 && url.charCodeAt(end - 1) === 93) return url.slice(start + 1, end - 1);
  const host = url.slice(start, end);
  return kind === 'connect' ? host : host.toLowerCase();
}

function mergeInto(into: Map<string, Tally>, from: TopK<Tally>): void {
  for (const [k, t] of from.top(TOP_CAPACITY * 2)) {
    const m = into.get(k);
    if (m) {
      m.count += t.count;
      m.bytesOut += t.bytesOut;
    } else into.set(k, { ...t });
  }
}

/** Most counted first; ties by name, so the order is stable between polls. */
function best(m: Map<string, Tally>, n: number): [string, Tally][] {
  return [...m].sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1)).slice(0, n);
}
