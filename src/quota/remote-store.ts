import type { Profile } from './profiles.js';
import { fin, inf, specOf, type RemoteAnswer, type RemoteOp, type RemoteQuotaTransport } from './remote-wire.js';
import type { Admission, QuotaStore, UsageEntry } from './store.js';
import type { StoreHealth } from './store-health.js';

interface Pending {
  op: RemoteOp;
  profile: Profile;
  resolve: (a: RemoteAnswer | undefined, err?: unknown) => void;
}

/**
 * The counters of a worker (workers > 1, `quota.store: memory`): kept by the primary,
 * which answers every worker from one MemoryStore, so a limit holds at the combined
 * count instead of once per worker. It mirrors the Redis store: one round trip per
 * admission (batched: every operation queued in the same event-loop turn travels in
 * one IPC message), a per-batch timeout, and a primary that does not answer is
 * `unavailable` (fail open or closed, `quota.redis.onError`), reported by StoreHealth
 * once, not per request.
 */
export class RemoteStore implements QuotaStore {
  readonly kind = 'memory';
  private queue: Pending[] = [];
  private scheduled = false;

  constructor(
    private readonly transport: RemoteQuotaTransport,
    private readonly health: StoreHealth,
    private readonly timeoutMs: number,
  ) {}

  admit(key: string, profile: Profile, now: number): Promise<Admission> {
    return new Promise((resolve) => {
      this.push({ o: 'a', k: key, p: specOf(profile), t: now }, profile, (a, err) => {
        if (a === undefined) return resolve({ ok: false, limit: 'unavailable', error: (err as Error)?.message ?? String(err) });
        resolve(toAdmission(a, profile));
      });
    });
  }

  record(key: string, profile: Profile, bytes: number, now: number): Promise<number> | number {
    if (profile.volumes.length === 0 || bytes <= 0) return Infinity;
    return new Promise((resolve) => {
      // Like Redis: a record that cannot be delivered is lost, and reported as Infinity left.
      this.push({ o: 'r', k: key, p: specOf(profile), t: now, n: bytes }, profile, (a) => resolve(typeof a === 'number' ? a : Infinity));
    });
  }

  usage(): Promise<UsageEntry[]> {
    return this.transport.usage(Math.max(this.timeoutMs, 2000));
  }

  async close(): Promise<void> {
    this.flush();
  }

  private push(op: RemoteOp, profile: Profile, resolve: Pending['resolve']): void {
    this.queue.push({ op, profile, resolve });
    if (this.scheduled) return;
    this.scheduled = true;
    // One message per event-loop turn: under load many admissions share it.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const batch = this.queue;
    if (batch.length === 0) return;
    this.queue = [];
    this.transport.batch({ ops: batch.map((p) => p.op) }, this.timeoutMs).then(
      (answers) => {
        this.health.ok();
        batch.forEach((p, i) => p.resolve(answers[i] === undefined ? undefined : answers[i]!, new Error('no answer for the operation')));
      },
      (err: unknown) => {
        this.health.failed(err);
        for (const p of batch) p.resolve(undefined, err);
      },
    );
  }
}

function toAdmission(a: RemoteAnswer, profile: Profile): Admission {
  if (Array.isArray(a)) {
    if (a[0] === 0) return { ok: true, tokens: inf(a[1]), left: inf(a[2]) };
    if (a[0] === 1) return { ok: false, limit: 'rate', waitMs: a[1] };
    const v = profile.volumes[a[1]];
    if (v) return { ok: false, limit: 'volume', volume: v, resetAt: a[2] };
  }
  return { ok: false, limit: 'unavailable', error: `malformed answer from the primary: ${JSON.stringify(a)}` };
}

/** The primary's side: turn a MemoryStore answer into the wire format. */
export function toWire(a: Admission, profile: Profile): RemoteAnswer {
  if (a.ok) return [0, fin(a.tokens), fin(a.left)];
  if (a.limit === 'rate') return [1, a.waitMs];
  if (a.limit === 'volume') return [2, Math.max(0, profile.volumes.indexOf(a.volume)), a.resetAt];
  return null;
}
