/**
 * Collapsed forwarding: while one request for a key is in flight (the leader), later
 * misses for the same key (followers) wait for its outcome instead of going upstream.
 * A follower waits at most `waitMs`; when the leader's response turns out not to be
 * stored (uncacheable, an error, an aborted transfer) followers send their own request.
 */
export type FlightOutcome = 'stored' | 'uncacheable' | 'failed' | 'timeout';

export class Flight {
  private waiters: ((o: FlightOutcome) => void)[] = [];
  private outcome: FlightOutcome | null = null;

  constructor(
    private readonly flights: Flights,
    readonly key: string,
  ) {}

  /** The leader's result; followers are released once. */
  settle(o: Exclude<FlightOutcome, 'timeout'>): void {
    if (this.outcome) return;
    this.outcome = o;
    this.flights.end(this);
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f(o);
  }

  wait(ms: number): Promise<FlightOutcome> {
    if (this.outcome) return Promise.resolve(this.outcome);
    return new Promise((resolve) => {
      let done = false;
      const timer = setTimeout(() => {
        done = true;
        resolve('timeout');
      }, ms);
      timer.unref();
      this.waiters.push((o) => {
        if (done) return;
        clearTimeout(timer);
        resolve(o);
      });
    });
  }
}

export class Flights {
  private readonly map = new Map<string, Flight>();

  get(key: string): Flight | undefined {
    return this.map.get(key);
  }

  /** Become the leader for `key`. */
  start(key: string): Flight {
    const f = new Flight(this, key);
    this.map.set(key, f);
    return f;
  }

  end(f: Flight): void {
    if (this.map.get(f.key) === f) this.map.delete(f.key);
  }

  get size(): number {
    return this.map.size;
  }
}
