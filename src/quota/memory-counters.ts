import { MemoryStore } from './memory-store.js';
import { readSnapshot, SnapshotWriter, type AtomicWrite, type QuotaLog } from './snapshot-file.js';

const PRUNE_MS = 60_000;

/**
 * The memory store with what keeps it across restarts and bounded: restored from the
 * snapshot file at start, written every `snapshot.interval` and at close, and pruned of
 * keys that hold nothing. Used by one process (`Quotas`), or by the primary on behalf of
 * every worker (`QuotaHost`): in both cases exactly one writer owns the snapshot file.
 */
export class MemoryCounters {
  readonly store = new MemoryStore();
  private readonly snapshot: SnapshotWriter | null = null;
  private readonly pruner: NodeJS.Timeout | null = null;

  constructor(
    snapshot: { file: string; interval: number },
    deps: { log: QuotaLog; write: AtomicWrite },
    maxRefillMs: () => number,
  ) {
    const mem = this.store;
    if (snapshot.file) {
      const data = readSnapshot(snapshot.file, deps.log);
      if (data) {
        mem.restore(data);
        deps.log.info({ file: snapshot.file, keys: mem.size, savedAt: data.savedAt }, 'quota counters restored from the snapshot');
      }
      this.snapshot = new SnapshotWriter(mem, snapshot.file, snapshot.interval, deps.write, deps.log, maxRefillMs);
    }
    // Without a periodic snapshot (which prunes as it saves), prune on a timer.
    if (!this.snapshot || snapshot.interval === 0) {
      this.pruner = setInterval(() => mem.prune(Date.now(), maxRefillMs()), PRUNE_MS);
      this.pruner.unref();
    }
  }

  /** Stop pruning and write the final snapshot. */
  async close(): Promise<void> {
    if (this.pruner) clearInterval(this.pruner);
    await this.snapshot?.close();
  }
}
