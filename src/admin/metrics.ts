import { Counter, Gauge, Registry, type Metric } from 'prom-client';
import type { AccessRecord } from '../log/access-log.js';
import type { ProxyView } from './proxy-view.js';
import { VERSION } from './version.js';

type Labels = Record<string, string>;
type Aggregator = 'sum' | 'first' | 'min' | 'max' | 'average' | 'omit';
type Series = Iterable<readonly [Labels, number]>;

/** Seconds. Requests: cache hits are sub-millisecond, slow origins take seconds. */
const REQUEST_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Seconds. Tunnels live from a quick API call to a long download or websocket. */
const TUNNEL_BUCKETS = [0.1, 1, 10, 60, 300, 1800, 7200];
const CLASSES = ['none', '1xx', '2xx', '3xx', '4xx', '5xx'] as const;
const KINDS = ['http', 'local', 'connect', 'upgrade'] as const;
const ACTIONS = ['none', 'allow', 'deny'] as const;

function kindIndex(kind: string): number {
  return kind === 'http' ? 0 : kind === 'local' ? 1 : kind === 'connect' ? 2 : 3;
}

/**
 * The Prometheus metrics of one proxy: a registry of its own (never prom-client's
 * global default, so two proxies in one process, as in tests, do not mix).
 *
 * The hot path is `record()`, called once per access-log line (the one place every
 * request and tunnel passes when it ends): additions into typed arrays and bucket
 * counts, no string built (docs/admin-api.md has its cost). Counters are copied into
 * prom-client at scrape time, and
 * everything that already has a counter elsewhere (cache, parents, leaves, open
 * connections) is read only at scrape time, so those cost nothing per request.
 */
export class Metrics {
  readonly registry = new Registry();
  /** Requests by [kind][status class][action], flattened: no string is built per request. */
  private readonly requests = new Float64Array(KINDS.length * CLASSES.length * ACTIONS.length);
  /** Error code → count (quota rejections and auth failures are views of it). Codes are constants: their hashes are cached. */
  private readonly errors = new Map<string, number>();
  private readonly bytesIn = new Float64Array(KINDS.length);
  private readonly bytesOut = new Float64Array(KINDS.length);
  private readonly requestDuration = new BucketCounts(REQUEST_BUCKETS);
  private readonly tunnelDuration = new BucketCounts(TUNNEL_BUCKETS);
  private readonly startedAt = Date.now();

  constructor(private readonly view: ProxyView) {
    const r = this.registry;
    histogram(r, 'egressd_request_duration_seconds', 'Time from request to the end of the response (HTTP exchanges, decrypted ones included)', this.requestDuration);
    histogram(r, 'egressd_tunnel_duration_seconds', 'Lifetime of CONNECT and upgrade tunnels', this.tunnelDuration);
    counter(r, 'egressd_requests_total', 'Requests and tunnels finished, by kind, status class and policy action', ['kind', 'status_class', 'action'], () => this.requestSeries());
    counter(r, 'egressd_bytes_in_total', 'Bytes from clients sent upstream (access-log bytesIn), by kind', ['kind'], () => KINDS.map((k, i) => [{ kind: k }, this.bytesIn[i]!] as const));
    counter(r, 'egressd_bytes_out_total', 'Bytes sent to clients (access-log bytesOut), by kind', ['kind'], () => KINDS.map((k, i) => [{ kind: k }, this.bytesOut[i]!] as const));
    counter(r, 'egressd_errors_total', 'Requests and tunnels that ended with an error, by error code', ['code'], () => this.errorSeries(/./));
    counter(r, 'egressd_quota_rejections_total', 'Requests and tunnels refused or cut by a quota, by code (QUOTA_*)', ['code'], () => this.errorSeries(/^QUOTA_/));
    counter(r, 'egressd_auth_failures_total', 'Requests and tunnels refused by authentication, by code (AUTH_*)', ['code'], () => this.errorSeries(/^AUTH_/));
    const active = (pick: (a: ReturnType<ProxyView['active']>) => number): (() => Series) => () => [[{}, pick(view.active())]];
    gauge(r, 'egressd_active_connections', 'Client connections open on the forward listeners', [], active((a) => a.connections));
    gauge(r, 'egressd_active_requests', 'HTTP requests in progress', [], active((a) => a.requests));
    gauge(r, 'egressd_active_tunnels', 'CONNECT and upgrade tunnels open', [], active((a) => a.tunnels));
    counter(r, 'egressd_cache_lookups_total', 'Shared-cache lookups by result (hit, stale, revalidated, miss, bypass)', ['result'], () => this.cacheSeries());
    gauge(r, 'egressd_cache_entries', 'Responses held by the shared cache', [], () => cacheGauge(view, 'entries'));
    gauge(r, 'egressd_cache_bytes', 'Bytes held by the shared cache', [], () => cacheGauge(view, 'bytes'));
    const parents = (pick: (p: ParentRow) => number): (() => Series) => () => parentRows(view).map((p) => [{ group: p.group, parent: p.name }, pick(p)] as const);
    gauge(r, 'egressd_parent_up', 'Parent proxy usable: 1 when its state is up, 0 when down, ejected or half-open', ['group', 'parent'], parents((p) => (p.state === 'up' ? 1 : 0)));
    gauge(r, 'egressd_parent_active', 'Requests and tunnels in progress through a parent proxy', ['group', 'parent'], parents((p) => p.active));
    counter(r, 'egressd_parent_requests_total', 'Requests and tunnels sent through a parent proxy (since the last reload)', ['group', 'parent'], parents((p) => p.requests));
    counter(r, 'egressd_parent_failures_total', 'Failures of a parent proxy (since the last reload)', ['group', 'parent'], parents((p) => p.failures));
    counter(r, 'egressd_certificates_issued_total', 'Leaf certificates issued for interception', [], () => leafSeries(view, 'issued'));
    counter(r, 'egressd_certificate_cache_hits_total', 'Leaf certificates served from memory or the disk store instead of being issued', ['tier'], () => leafTiers(view));
    gauge(r, 'egressd_build_info', 'Always 1; the version is in the label', ['version'], () => [[{ version: VERSION }, 1]], 'first');
    gauge(r, 'egressd_config_generation', 'Config generation in force (1 at start, +1 per accepted reload)', [], () => [[{}, view.generation()]], 'min');
    gauge(r, 'egressd_ready', '1 when every listener is bound and the proxy is not draining', [], () => [[{}, view.ready() ? 1 : 0]], 'min');
    gauge(r, 'egressd_start_time_seconds', 'Start of the process (Unix time)', [], () => [[{}, this.startedAt / 1000]], 'min');
  }

  /** One finished request or tunnel (the access-log hook). `now` is performance.now(). */
  record(rec: AccessRecord, now: number): void {
    const k = kindIndex(rec.kind);
    const s = rec.status;
    const cls = s >= 100 && s < 600 ? (s / 100) | 0 : 0;
    const action = rec.decision === null ? 0 : rec.decision.action === 'allow' ? 1 : rec.decision.action === 'deny' ? 2 : 0;
    this.requests[(k * CLASSES.length + cls) * ACTIONS.length + action]! += 1;
    this.bytesIn[k]! += rec.bytesIn;
    this.bytesOut[k]! += rec.bytesOut;
    if (rec.errorCode !== null) this.errors.set(rec.errorCode, (this.errors.get(rec.errorCode) ?? 0) + 1);
    (k >= 2 ? this.tunnelDuration : this.requestDuration).observe((now - rec.startedAt) / 1000);
  }

  /** The exposition text (Prometheus text format 0.0.4). */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  private *requestSeries(): Series {
    for (const [k, kind] of KINDS.entries()) {
      for (const [c, status_class] of CLASSES.entries()) {
        for (const [a, action] of ACTIONS.entries()) {
          const n = this.requests[(k * CLASSES.length + c) * ACTIONS.length + a]!;
          if (n > 0) yield [{ kind, status_class, action }, n];
        }
      }
    }
  }

  private *errorSeries(match: RegExp): Series {
    for (const [code, n] of this.errors) if (match.test(code)) yield [{ code }, n];
  }

  private *cacheSeries(): Series {
    const s = this.view.cache()?.stats();
    if (!s) return;
    yield [{ result: 'hit' }, s.hits];
    yield [{ result: 'stale' }, s.stale];
    yield [{ result: 'revalidated' }, s.revalidated];
    yield [{ result: 'miss' }, s.misses];
    yield [{ result: 'bypass' }, s.bypass];
  }
}

interface ParentRow {
  group: string;
  name: string;
  state: string;
  active: number;
  requests: number;
  failures: number;
}

/** Every parent of every group, flat (one row per metric series). */
export function parentRows(view: ProxyView): ParentRow[] {
  return view.parents().flatMap((g) => g.parents.map((p) => ({ group: g.name, name: p.name, state: p.state, active: p.active, requests: p.requests, failures: p.failures })));
}

function cacheGauge(view: ProxyView, key: 'entries' | 'bytes'): Series {
  const s = view.cache()?.stats();
  return s ? [[{}, s[key]]] : [];
}

function leafSeries(view: ProxyView, key: 'issued'): Series {
  const s = view.leaves();
  return s ? [[{}, s[key]]] : [];
}

function leafTiers(view: ProxyView): Series {
  const s = view.leaves();
  return s ? [[{ tier: 'memory' }, s.memoryHits], [{ tier: 'store' }, s.storeHits]] : [];
}

/** Histogram buckets kept as plain numbers (prom-client's observe() hashes labels on every call). */
export class BucketCounts {
  /** Per bucket (not cumulative); the last slot is +Inf. */
  readonly counts: Float64Array;
  sum = 0;
  count = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = new Float64Array(bounds.length + 1);
  }

  observe(v: number): void {
    const b = this.bounds;
    let i = 0;
    while (i < b.length && v > b[i]!) i++;
    this.counts[i]! += 1;
    this.sum += v;
    this.count++;
  }
}

/**
 * A histogram read from BucketCounts at scrape time. prom-client's registry only calls
 * get() on what is registered, so a plain object with the Histogram's shape serves.
 */
function histogram(registry: Registry, name: string, help: string, h: BucketCounts): void {
  const metric = {
    name,
    help,
    type: 'histogram',
    aggregator: 'sum',
    get: async () => {
      const values: { metricName: string; labels: Labels; value: number }[] = [];
      let cumulative = 0;
      for (const [i, le] of h.bounds.entries()) {
        cumulative += h.counts[i]!;
        values.push({ metricName: `${name}_bucket`, labels: { le: String(le) }, value: cumulative });
      }
      values.push({ metricName: `${name}_bucket`, labels: { le: '+Inf' }, value: h.count });
      values.push({ metricName: `${name}_sum`, labels: {}, value: h.sum });
      values.push({ metricName: `${name}_count`, labels: {}, value: h.count });
      return { name, help, type: 'histogram', aggregator: 'sum', values };
    },
    reset: () => {},
  };
  registry.registerMetric(metric as unknown as Metric);
}

/**
 * A counter whose values are copied in at scrape time from a source that only grows
 * (our maps, the cache's or a parent's counters): reset, then add each value.
 */
function counter(registry: Registry, name: string, help: string, labelNames: string[], values: () => Series): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of values()) this.inc(labels, v);
    },
  });
}

/** A gauge read at scrape time; series that vanished (a removed parent) vanish too. */
function gauge(registry: Registry, name: string, help: string, labelNames: string[], values: () => Series, aggregator: Aggregator = 'sum'): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    // How the primary combines the workers' values (AggregatorRegistry): counts add up,
    // facts about the whole (version, generation, readiness, start) do not.
    aggregator,
    collect() {
      this.reset();
      for (const [labels, v] of values()) this.set(labels, v);
    },
  });
}
