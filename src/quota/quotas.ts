import { MemoryCounters } from './memory-counters.js';
import { MemoryStore } from './memory-store.js';
import { counterKey, Profiles, type Profile, type ProfilesConfig, type VolumeLimit } from './profiles.js';
import type { RedisStoreOptions } from './redis-store.js';
import { RemoteStore } from './remote-store.js';
import type { RemoteQuotaTransport } from './remote-wire.js';
import type { AtomicWrite, QuotaLog } from './snapshot-file.js';
import { StoreHealth } from './store-health.js';
import type { Admission, QuotaStore } from './store.js';
import { TunnelMeters, type Meter } from './tunnel-meter.js';

/** The `quota` config section (schema output, paths resolved). */
export interface QuotaConfig extends ProfilesConfig {
  store: 'memory' | 'redis';
  snapshot: { file: string; interval: number };
  tunnelCheck: number;
  redis: { url: string; prefix: string; onError: 'open' | 'closed'; timeout: number };
}

const UNLIMITED: Admission = Object.freeze({ ok: true, tokens: Infinity, left: Infinity });

export type QuotaHit = 'rate' | 'volume' | 'concurrent' | 'unavailable';

/**
 * One request's or tunnel's standing with its quota: what it was admitted under, what
 * is left, or which limit refused it. Read by the access log (`quota` field).
 */
export class QuotaTicket {
  /** Which limit refused, or null when admitted. */
  hit: QuotaHit | null = null;
  /** Tokens left after this request (Infinity: no rate limit). */
  tokens = Infinity;
  /** Smallest volume allowance left at admission, in bytes (Infinity: no volume limit). */
  left = Infinity;
  /** Rate refusal: ms until a token is back. */
  waitMs = 0;
  /** Volume refusal: the window used up and when it ends (epoch ms). */
  volume: VolumeLimit | null = null;
  resetAt = 0;
  /** The store could not answer and the quota failed open. */
  unmetered = false;
  /** Holds a concurrency slot until released. */
  held = false;
  constructor(readonly key: string, readonly profile: Profile) {}
}

export interface QuotaDeps {
  log: QuotaLog;
  /** Atomic file write for the snapshot (temp + fsync + rename). */
  write: AtomicWrite;
  /**
   * A worker of several (workers > 1): the memory store's counters live in the primary,
   * reached through this transport; the primary also owns the snapshot file.
   */
  remote?: RemoteQuotaTransport;
}

/**
 * Quotas for the whole process: profile selection, the counter store, concurrency
 * slots and tunnel metering. Outlives config reloads (counters must not reset on
 * SIGHUP); `configure` swaps the profiles, the store stays until restart.
 */
export class Quotas {
  private profiles: Profiles;
  private onError: 'open' | 'closed';
  private store: QuotaStore;
  /** Set until open() has loaded ioredis and connected (it costs ~25 MB: loaded only when used). */
  private pendingRedis: { opts: RedisStoreOptions; health: StoreHealth } | null = null;
  private readonly counters: MemoryCounters | null = null;
  private readonly active = new Map<string, number>();
  private readonly meters: TunnelMeters;
  readonly zone: string;

  constructor(cfg: QuotaConfig, deps: QuotaDeps) {
    this.profiles = new Profiles(cfg);
    this.zone = cfg.timezone;
    this.onError = cfg.redis.onError;
    if (cfg.store === 'redis' && !this.profiles.empty) {
      // Nothing is admitted before open() (called before the listeners bind).
      this.store = new MemoryStore();
      this.pendingRedis = {
        opts: { url: cfg.redis.url, prefix: cfg.redis.prefix, timeoutMs: cfg.redis.timeout },
        health: new StoreHealth(deps.log, `redis ${redactUrl(cfg.redis.url)}`, cfg.redis.onError),
      };
    } else if (deps.remote) {
      // Counters are global across workers: the primary holds them (and the snapshot).
      const health = new StoreHealth(deps.log, 'primary (worker IPC)', cfg.redis.onError);
      this.store = new RemoteStore(deps.remote, health, Math.max(cfg.redis.timeout, 1000));
    } else {
      // Only a proxy that meters anything keeps a state file.
      const snapshot = this.profiles.empty ? { file: '', interval: 0 } : cfg.snapshot;
      this.counters = new MemoryCounters(snapshot, deps, () => this.maxRefillMs());
      this.store = this.counters.store;
    }
    this.meters = new TunnelMeters(this.store, cfg.tunnelCheck);
  }

  /** Apply a reloaded config's profiles, tables and failure mode (store settings need a restart). */
  configure(cfg: QuotaConfig): void {
    this.profiles = new Profiles(cfg);
    this.onError = cfg.redis.onError;
    this.meters.intervalMs = cfg.tunnelCheck;
  }

  /**
   * Connect a shared store, waiting (bounded) so the first requests are metered; a
   * Redis that is not there yet is reported by the store's health and retried.
   */
  async open(ms = 2000): Promise<void> {
    const pending = this.pendingRedis;
    if (!pending) return;
    this.pendingRedis = null;
    const { RedisStore } = await import('./redis-store.js');
    const store = new RedisStore(pending.opts, pending.health);
    this.store = store;
    this.meters.store = store;
    await store.ready(ms);
  }

  get storeKind(): QuotaStore['kind'] {
    return this.pendingRedis ? 'redis' : this.store.kind;
  }

  /**
   * Admit one request or tunnel. null: no profile applies (unlimited). Otherwise a
   * ticket, whose `hit` says which limit refused; synchronous with the memory store.
   */
  admit(user: string | null, groups: readonly string[], clientIp: string, ruleProfile: string | undefined, now: number): QuotaTicket | null | Promise<QuotaTicket> {
    const profile = this.profiles.select(user, groups, ruleProfile);
    if (profile === null) return null;
    const t = new QuotaTicket(counterKey(profile.name, user, clientIp), profile);
    if (profile.concurrent > 0 && (this.active.get(t.key) ?? 0) >= profile.concurrent) {
      t.hit = 'concurrent';
      t.waitMs = 1000;
      return t;
    }
    // Only concurrency to check: no store round trip.
    if (profile.rate === 0 && profile.volumes.length === 0) return this.settle(t, UNLIMITED);
    const r = this.store.admit(t.key, profile, now);
    if (r instanceof Promise) return r.then((a) => this.settle(t, a));
    return this.settle(t, r);
  }

  private settle(t: QuotaTicket, a: Admission): QuotaTicket {
    if (a.ok) {
      t.tokens = a.tokens;
      t.left = a.left;
    } else if (a.limit === 'rate') {
      t.hit = 'rate';
      t.waitMs = a.waitMs;
    } else if (a.limit === 'volume') {
      t.hit = 'volume';
      t.volume = a.volume;
      t.resetAt = a.resetAt;
    } else if (this.onError === 'closed') {
      t.hit = 'unavailable';
      t.waitMs = 1000;
    } else {
      t.unmetered = true;
    }
    if (t.hit === null && t.profile.concurrent > 0) {
      this.active.set(t.key, (this.active.get(t.key) ?? 0) + 1);
      t.held = true;
    }
    return t;
  }

  /** Count bytes delivered to the client (HTTP: once, when the response ends). */
  record(t: QuotaTicket, bytes: number, now: number): void {
    if (bytes > 0 && t.profile.volumes.length) void this.store.record(t.key, t.profile, bytes, now);
  }

  /** Free the ticket's concurrency slot (idempotent). */
  release(t: QuotaTicket): void {
    if (!t.held) return;
    t.held = false;
    const n = (this.active.get(t.key) ?? 1) - 1;
    if (n <= 0) this.active.delete(t.key);
    else this.active.set(t.key, n);
  }

  /**
   * Meter a tunnel: every `tunnelCheck` the bytes sent to the client since the last
   * check are counted, and `cut` is called once a volume window is used up.
   */
  meter(t: QuotaTicket, sent: () => number, cut: () => void): Meter | null {
    if (t.profile.volumes.length === 0 || t.unmetered) return null;
    return this.meters.add(t, sent, cut);
  }

  /** Longest a bucket takes to refill, over all profiles (snapshot pruning). */
  private maxRefillMs(): number {
    return maxRefillMs(this.profiles);
  }

  get profileNames(): ReadonlySet<string> {
    return new Set(this.profiles.byName.keys());
  }

  /** Stop metering, write the snapshot, disconnect from Redis. */
  async close(): Promise<void> {
    this.meters.close();
    await this.counters?.close();
    await this.store.close();
  }
}

/** Never log a Redis password. */
export function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, '//***@');
}

/** Longest a bucket of these profiles takes to refill (pruning keys that hold nothing). */
export function maxRefillMs(profiles: Profiles): number {
  let max = 0;
  for (const p of profiles.byName.values()) if (p.rate > 0) max = Math.max(max, (p.burst * 1000) / p.rate);
  return max;
}
