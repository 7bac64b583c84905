import { MemoryCounters } from './memory-counters.js';
import { Profiles, type Profile, type ProfileConfig } from './profiles.js';
import type { QuotaConfig } from './quotas.js';
import { maxRefillMs } from './quotas.js';
import { toWire } from './remote-store.js';
import type { ProfileSpec, RemoteAnswer, RemoteBatch } from './remote-wire.js';
import type { AtomicWrite, QuotaLog } from './snapshot-file.js';
import type { UsageEntry } from './store.js';

/** Compiled profiles kept per definition; more than this many distinct ones means reloads piled up. */
const MAX_SPECS = 1000;

/**
 * The primary's side of the workers' shared counters: one MemoryStore (with its
 * snapshot file) answering the batches every worker sends (RemoteStore). Admissions
 * run one after the other on the primary's event loop, so two workers can never both
 * take the last token. Profiles come with each operation (their definition), compiled
 * once per definition.
 */
export class QuotaHost {
  private readonly counters: MemoryCounters;
  private readonly compiled = new Map<string, Profile>();
  private profiles: Profiles;

  constructor(cfg: QuotaConfig, deps: { log: QuotaLog; write: AtomicWrite }) {
    this.profiles = new Profiles(cfg);
    const snapshot = this.profiles.empty ? { file: '', interval: 0 } : cfg.snapshot;
    this.counters = new MemoryCounters(snapshot, deps, () => maxRefillMs(this.profiles));
  }

  /** A reloaded config (pruning uses its profiles' refill times). */
  configure(cfg: QuotaConfig): void {
    this.profiles = new Profiles(cfg);
  }

  handle(batch: RemoteBatch): RemoteAnswer[] {
    const store = this.counters.store;
    const out: RemoteAnswer[] = [];
    for (const op of batch.ops) {
      const p = this.profile(op.p);
      if (!p) {
        out.push(null);
        continue;
      }
      if (op.o === 'a') out.push(toWire(store.admit(op.k, p, op.t), p));
      else {
        const left = store.record(op.k, p, op.n, op.t);
        out.push(left === Infinity ? null : left);
      }
    }
    return out;
  }

  usage(): UsageEntry[] {
    return this.counters.store.list();
  }

  /** After the last worker exited: their last bytes are in the final snapshot. */
  close(): Promise<void> {
    return this.counters.close();
  }

  private profile(spec: string): Profile | null {
    const known = this.compiled.get(spec);
    if (known) return known;
    let s: ProfileSpec;
    try {
      s = JSON.parse(spec) as ProfileSpec;
    } catch {
      return null;
    }
    if (!s || typeof s.n !== 'string' || !Array.isArray(s.v)) return null;
    const def: ProfileConfig = { rate: s.r || undefined, burst: s.b, volume: s.v.map(([bytes, per, text]) => ({ bytes, per, text })) };
    let p: Profile | undefined;
    try {
      p = new Profiles({ timezone: s.z, profiles: { [s.n]: def }, users: {}, groups: {}, anonymous: null, default: null }).byName.get(s.n);
    } catch {
      return null; // an unknown time zone: the worker validated its config, so this is not ours
    }
    if (!p) return null;
    if (this.compiled.size >= MAX_SPECS) this.compiled.clear();
    this.compiled.set(spec, p);
    return p;
  }
}
