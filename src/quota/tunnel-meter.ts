import type { QuotaTicket } from './quotas.js';
import type { QuotaStore } from './store.js';

export interface Meter {
  /** Count what is left and stop metering (the tunnel closed). */
  stop(): void;
}

interface Entry {
  t: QuotaTicket;
  sent: () => number;
  cut: () => void;
  counted: number;
  done: boolean;
}

/**
 * Counts tunnel bytes against volume quotas on one shared timer instead of per chunk:
 * a tunnel is checked every `intervalMs` (default 1 s), so it can overshoot its quota
 * by at most what it transfers in one interval before it is cut. The timer runs only
 * while metered tunnels exist.
 */
export class TunnelMeters {
  private readonly entries = new Set<Entry>();
  private timer: NodeJS.Timeout | null = null;

  constructor(public store: QuotaStore, public intervalMs: number) {}

  add(t: QuotaTicket, sent: () => number, cut: () => void): Meter {
    const e: Entry = { t, sent, cut, counted: 0, done: false };
    this.entries.add(e);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
    return { stop: () => this.stop(e) };
  }

  private flush(e: Entry, check: boolean): void {
    const n = e.sent();
    const delta = n - e.counted;
    if (delta <= 0) return;
    e.counted = n;
    const left = this.store.record(e.t.key, e.t.profile, delta, Date.now());
    if (!check) return;
    if (typeof left === 'number') this.judge(e, left);
    else void left.then((l) => this.judge(e, l));
  }

  private judge(e: Entry, left: number): void {
    if (left > 0 || e.done) return;
    e.done = true;
    this.entries.delete(e);
    e.cut();
  }

  private tick(): void {
    for (const e of this.entries) this.flush(e, true);
    if (this.entries.size === 0) this.idle();
  }

  private stop(e: Entry): void {
    if (!this.entries.delete(e)) return;
    e.done = true;
    this.flush(e, false);
    if (this.entries.size === 0) this.idle();
  }

  private idle(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  close(): void {
    for (const e of [...this.entries]) this.stop(e);
    this.idle();
  }
}
