/**
 * Heavy hitters in bounded memory: exact while there are at most `capacity` distinct
 * keys; beyond that, the least counted keys are dropped in batches (each batch halves
 * the table), so a key that stays in the top is counted exactly from its first
 * appearance after the last prune and the counts are lower bounds. Enough for "top
 * destinations" of a log with millions of distinct hosts.
 */
export class TopK<V extends { count: number }> {
  private readonly entries = new Map<string, V>();
  /** True once keys were dropped: counts are then lower bounds. */
  approximate = false;

  constructor(
    private readonly capacity: number,
    private readonly make: () => V,
  ) {}

  get(key: string): V {
    let v = this.entries.get(key);
    if (!v) {
      if (this.entries.size >= 2 * this.capacity) this.prune();
      v = this.make();
      this.entries.set(key, v);
    }
    return v;
  }

  top(n: number): [string, V][] {
    return [...this.entries].sort((a, b) => b[1].count - a[1].count || (a[0] < b[0] ? -1 : 1)).slice(0, n);
  }

  private prune(): void {
    this.approximate = true;
    const keep = this.top(this.capacity);
    this.entries.clear();
    for (const [k, v] of keep) this.entries.set(k, v);
  }
}
