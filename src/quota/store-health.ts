import type { QuotaLog } from './snapshot-file.js';

/**
 * Rate-limited reporting of a shared store going away and coming back: one warning
 * when it fails, then at most one reminder per `everyMs` with the number of failed
 * operations in between, and one line when it answers again. Never a line per request.
 */
export class StoreHealth {
  private down = false;
  private failures = 0;
  private lastLog = 0;

  constructor(
    private readonly log: QuotaLog,
    private readonly what: string,
    private readonly mode: 'open' | 'closed',
    private readonly everyMs = 30_000,
  ) {}

  get healthy(): boolean {
    return !this.down;
  }

  failed(err: unknown, now = Date.now()): void {
    this.failures++;
    const msg = (err as Error)?.message ?? String(err);
    if (!this.down) {
      this.down = true;
      this.lastLog = now;
      this.log.warn({ store: this.what, err: msg, onError: this.mode }, `quota store ${this.what} unreachable: failing ${this.mode} (${this.mode === 'open' ? 'requests pass unmetered' : 'requests are refused with 503'})`);
    } else if (now - this.lastLog >= this.everyMs) {
      this.log.warn({ store: this.what, err: msg, failures: this.failures, onError: this.mode }, `quota store ${this.what} still unreachable: failing ${this.mode}`);
      this.lastLog = now;
    }
  }

  ok(): void {
    if (!this.down) return;
    this.log.info({ store: this.what, failures: this.failures }, `quota store ${this.what} reachable again: quotas enforced`);
    this.down = false;
    this.failures = 0;
  }
}
