import { LRUCache } from 'lru-cache';

export interface LockoutOptions {
  /** Failures allowed before a lock; 0 disables lockout. */
  threshold: number;
  /** First lock length (ms); each further failure doubles it. */
  baseDelay: number;
  /** Longest lock (ms). */
  maxDelay: number;
  /** Failures are forgotten after this long without a new one (ms). */
  window: number;
  /** Keys tracked at most (oldest forgotten first), so a spray of names cannot exhaust memory. */
  maxKeys?: number;
}

interface State {
  failures: number;
  lockedUntil: number;
}

/** Checks under way for one key, and who waits for one of them to end. */
interface Checking {
  n: number;
  waiters: (() => void)[];
}

/**
 * Failed-attempt tracking with exponential backoff, per key (a user name, or a client
 * address: one instance each). After `threshold` failures the key is locked for baseDelay, then 2x, 4x…
 * up to maxDelay for each further failure. The clock is injectable for tests.
 */
export class Lockout {
  private readonly states: LRUCache<string, State>;
  private readonly checking = new Map<string, Checking>();

  constructor(
    private readonly opts: LockoutOptions,
    private readonly now: () => number = Date.now,
  ) {
    this.states = new LRUCache<string, State>({ max: opts.maxKeys ?? 100_000, perf: { now }, ttlResolution: 0 });
  }

  /** Milliseconds until `key` may try again; 0 when it is not locked. */
  retryAfter(key: string): number {
    if (this.opts.threshold === 0) return 0;
    const s = this.states.get(key);
    const left = s ? s.lockedUntil - this.now() : 0;
    return left > 0 ? left : 0;
  }

  /** Record a failure; returns the lock it caused (0 if none). */
  fail(key: string): number {
    const { threshold, baseDelay, maxDelay, window } = this.opts;
    if (threshold === 0) return 0;
    const t = this.now();
    const s = this.states.get(key) ?? { failures: 0, lockedUntil: 0 };
    s.failures++;
    let lock = 0;
    if (s.failures >= threshold) {
      lock = Math.min(maxDelay, baseDelay * 2 ** Math.min(30, s.failures - threshold));
      s.lockedUntil = t + lock;
    }
    // Remembered for the window after the last failure, and at least as long as the lock.
    this.states.set(key, s, { ttl: Math.max(window, s.lockedUntil - t) });
    return lock;
  }

  /** A success clears the key's failures. */
  succeed(key: string): void {
    this.states.delete(key);
  }

  failures(key: string): number {
    return this.states.get(key)?.failures ?? 0;
  }

  /**
   * May one more password check start for `key` now? Checks are slow (bcrypt, LDAP), so
   * without this a burst of concurrent guesses would all pass the lock test before the
   * first one fails. Only as many may run at once as could still fail without a lock
   * (`threshold - failures`, and one at a time once the key has been locked before):
   * the number of passwords ever checked stays within the threshold.
   */
  mayCheck(key: string): boolean {
    if (this.opts.threshold === 0) return true;
    const running = this.checking.get(key)?.n ?? 0;
    return running < Math.max(1, this.opts.threshold - this.failures(key));
  }

  /** A check for `key` started; call `done` exactly once when it has ended. */
  begin(key: string): () => void {
    if (this.opts.threshold === 0) return () => {};
    let c = this.checking.get(key);
    if (!c) this.checking.set(key, (c = { n: 0, waiters: [] }));
    c.n++;
    const entry = c;
    return () => {
      entry.n--;
      if (entry.n === 0) this.checking.delete(key);
      for (const w of entry.waiters.splice(0)) w();
    };
  }

  /** Resolves when one of `key`'s running checks ends (at once if none is running). */
  settled(key: string): Promise<void> {
    const c = this.checking.get(key);
    if (!c) return Promise.resolve();
    return new Promise((resolve) => c.waiters.push(resolve));
  }

  /** Keys tracked (failures or locks), at most `maxKeys`. */
  get size(): number {
    return this.states.size;
  }
}
