/** The member's index, under a symbol so that objects we do not own (sockets) can carry it. */
export const SLOT = Symbol('egressd.slot');

export interface Slotted {
  [SLOT]?: number;
}

/**
 * A set of things in flight (requests, timed upstream handlers, tunnel sockets) kept
 * in an array: each member knows its index, so add and delete are O(1) and nothing is
 * ever rehashed.
 *
 * Why not a Map or Set: under steady churn (one add and one delete per request, about
 * 64 live) V8's ordered hash tables fill with deleted entries and are copied into a new
 * table every few dozen requests. A table that survives two young collections is
 * promoted; once replaced it is dead old-generation memory that still points at the
 * members live at the copy. Those stay alive through every young collection until the
 * next full one, are promoted in turn with everything they reference, and the proxy's
 * old generation fills with whole finished requests: W1 went from ~0 to ~0.7 MB promoted
 * per young collection once a larger table had been left behind by another workload
 * (docs/benchmarks.md, session 10). An array only reallocates when it grows past its
 * largest size, and a removed member's slot is cleared at once.
 */
export class SlotList<T extends Slotted> implements Iterable<T> {
  private readonly items: T[] = [];

  get size(): number {
    return this.items.length;
  }

  add(item: T): void {
    if (this.has(item)) return;
    item[SLOT] = this.items.length;
    this.items.push(item);
  }

  has(item: T): boolean {
    const i = item[SLOT];
    return i !== undefined && i >= 0 && this.items[i] === item;
  }

  /** Remove `item`; the last member takes its slot. */
  delete(item: T): boolean {
    if (!this.has(item)) return false;
    const last = this.items.pop() as T;
    if (last !== item) {
      const i = item[SLOT] as number;
      this.items[i] = last;
      last[SLOT] = i;
    }
    item[SLOT] = -1;
    return true;
  }

  /** Members from the last to the first: deleting the current one while iterating is safe. */
  *[Symbol.iterator](): Iterator<T> {
    for (let i = this.items.length - 1; i >= 0; i--) {
      if (i < this.items.length) yield this.items[i] as T;
    }
  }
}
