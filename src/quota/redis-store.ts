import { Redis } from 'ioredis';
import type { Period } from './calendar-window.js';
import { splitKey, type Profile } from './profiles.js';
import type { Admission, QuotaStore, UsageEntry } from './store.js';
import type { StoreHealth } from './store-health.js';

export interface RedisStoreOptions {
  url: string;
  /** Prefix of every key, so several deployments can share one Redis. */
  prefix: string;
  /** Per-command timeout: a slow Redis must not hold requests. */
  timeoutMs: number;
}

/**
 * One round trip per request: check every volume window, then take a token, atomically
 * (a Lua script runs alone on the server, so instances never race on a key). Returns
 * {0, tokens, left} | {1, waitMs} | {2, volumeIndex}. Numbers travel as strings: Redis
 * truncates Lua numbers to integers.
 */
const ADMIT = `
local now = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local burst = tonumber(ARGV[3])
local left = -1
for i = 2, #KEYS do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  local lim = tonumber(ARGV[2 + i])
  if used >= lim then return {2, i - 2} end
  if left < 0 or lim - used < left then left = lim - used end
end
local tokens = -1
if rate > 0 then
  tokens = burst
  local st = redis.call('HMGET', KEYS[1], 't', 'a')
  if st[1] then
    tokens = math.min(burst, tonumber(st[1]) + math.max(0, now - tonumber(st[2])) * rate / 1000)
  end
  if tokens < 1 then return {1, tostring(math.max(1, math.ceil((1 - tokens) * 1000 / rate)))} end
  tokens = tokens - 1
  redis.call('HSET', KEYS[1], 't', tostring(tokens), 'a', tostring(now))
  redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 60000)
end
return {0, tostring(tokens), tostring(left)}
`;

/** Kept past the window's end so `quota show` can still report the last window. */
const KEEP_AFTER_MS = 86_400_000;

/**
 * Counters in Redis, shared by every egressd instance that names the same server and
 * prefix. Keys: `<prefix><profile>|<who>:r` (bucket hash) and
 * `<prefix><profile>|<who>:v:<period>:<windowStart>` (bytes, INCRBY, expiring a day
 * after the window ends).
 */
export class RedisStore implements QuotaStore {
  readonly kind = 'redis';
  readonly client: Redis;
  private readonly prefix: string;

  constructor(opts: RedisStoreOptions, private readonly health: StoreHealth) {
    this.prefix = opts.prefix;
    this.client = new Redis(opts.url, {
      // Fail fast while disconnected (no queue), retry the connection in the background.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.timeoutMs,
      connectTimeout: Math.max(opts.timeoutMs, 1000),
      retryStrategy: (n: number) => Math.min(100 * n, 2000),
      lazyConnect: false,
    });
    // Without a listener ioredis prints every connection error; health logs them rate-limited.
    this.client.on('error', (err: Error) => this.health.failed(err));
    this.client.on('ready', () => this.health.ok());
    this.client.defineCommand('egressdAdmit', { lua: ADMIT });
  }

  /** Resolves when connected, or after `ms` (start-up does not wait forever for Redis). */
  ready(ms: number): Promise<boolean> {
    if (this.client.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const t = setTimeout(() => done(false), ms);
      const done = (v: boolean): void => {
        clearTimeout(t);
        this.client.removeListener('ready', onReady);
        resolve(v);
      };
      const onReady = (): void => done(true);
      this.client.once('ready', onReady);
    });
  }

  private volumeKey(key: string, per: Period, start: number): string {
    return `${this.prefix}${key}:v:${per}:${start}`;
  }

  admit(key: string, profile: Profile, now: number): Promise<Admission> {
    const vols = profile.volumes;
    const keys = [`${this.prefix}${key}:r`];
    const args: (string | number)[] = [now, profile.rate, profile.burst];
    const ends: number[] = [];
    for (const v of vols) {
      const span = v.clock.at(now);
      keys.push(this.volumeKey(key, v.per, span.start));
      args.push(v.bytes);
      ends.push(span.end);
    }
    const run = (this.client as unknown as { egressdAdmit(n: number, ...a: (string | number)[]): Promise<[number, string, string?]> }).egressdAdmit;
    return run.call(this.client, keys.length, ...keys, ...args).then(
      (r): Admission => {
        this.health.ok();
        if (r[0] === 1) return { ok: false, limit: 'rate', waitMs: Number(r[1]) };
        if (r[0] === 2) {
          const i = Number(r[1]);
          return { ok: false, limit: 'volume', volume: vols[i]!, resetAt: ends[i]! };
        }
        const tokens = Number(r[1]);
        const left = Number(r[2]);
        return { ok: true, tokens: tokens < 0 ? Infinity : tokens, left: left < 0 ? Infinity : left };
      },
      (err: unknown): Admission => {
        this.health.failed(err);
        return { ok: false, limit: 'unavailable', error: (err as Error).message ?? String(err) };
      },
    );
  }

  record(key: string, profile: Profile, bytes: number, now: number): number | Promise<number> {
    const vols = profile.volumes;
    if (vols.length === 0 || bytes <= 0) return Infinity;
    const m = this.client.multi();
    for (const v of vols) {
      const span = v.clock.at(now);
      const k = this.volumeKey(key, v.per, span.start);
      m.incrby(k, bytes);
      m.pexpireat(k, span.end + KEEP_AFTER_MS);
    }
    return m.exec().then(
      (res) => {
        this.health.ok();
        let left = Infinity;
        vols.forEach((v, i) => {
          const used = Number(res?.[i * 2]?.[1] ?? 0);
          if (v.bytes - used < left) left = v.bytes - used;
        });
        return left;
      },
      (err: unknown) => {
        this.health.failed(err);
        return Infinity;
      },
    );
  }

  async usage(): Promise<UsageEntry[]> {
    const byKey = new Map<string, UsageEntry>();
    const entry = (k: string): UsageEntry => {
      let e = byKey.get(k);
      if (!e) byKey.set(k, (e = { key: k, volumes: [] }));
      return e;
    };
    let cursor = '0';
    do {
      const [next, keys] = await this.client.scan(cursor, 'MATCH', `${this.prefix}*`, 'COUNT', 500);
      cursor = next;
      for (const full of keys) {
        const rest = full.slice(this.prefix.length);
        const vm = /^(.*):v:(hour|day|week|month):(\d+)$/.exec(rest);
        if (vm) {
          const bytes = Number(await this.client.get(full));
          entry(vm[1]!).volumes.push({ per: vm[2] as Period, start: Number(vm[3]), bytes });
        } else if (rest.endsWith(':r') && splitKey(rest).profile) {
          const [t, a] = await this.client.hmget(full, 't', 'a');
          entry(rest.slice(0, -2)).bucket = { tokens: Number(t), at: Number(a) };
        }
      }
    } while (cursor !== '0');
    return [...byKey.values()];
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }
}
