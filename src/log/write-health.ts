/** The events of a sonic-boom destination this module listens to. */
interface Emitter {
  on(event: 'error', f: (err: NodeJS.ErrnoException) => void): unknown;
  on(event: 'write', f: () => void): unknown;
  on(event: 'drop', f: (data: string | Buffer) => void): unknown;
}

function linesIn(data: string | Buffer): number {
  let n = 0;
  for (let i = data.indexOf('\n'); i >= 0; i = data.indexOf('\n', i + 1)) n++;
  return Math.max(n, 1);
}

/** How often a destination that keeps failing is reported again. */
const REMIND_MS = 60_000;

/**
 * Whether a log file can be written right now. A full disk (ENOSPC, EDQUOT) or a
 * vanished folder makes sonic-boom emit 'error' and keep the lines in memory; its next
 * write retries them, so once space is freed nothing is lost. Two things need to know
 * while it lasts: the report (once, then once a minute, and once when writes succeed
 * again), and every synchronous flush, because sonic-boom's flushSync() retries any
 * error other than EAGAIN forever, sleeping on the event loop: a SIGTERM or a rotation
 * on a full disk would hang the process.
 */
export class WriteHealth {
  /** The error of the last failed write, null once a write succeeded after it. */
  failure: NodeJS.ErrnoException | null = null;
  /** Lines refused because the memory bound (maxLength) was reached while failing. */
  dropped = 0;
  private reportedAt = 0;

  constructor(
    dest: unknown,
    private readonly report: (message: string, level: 'error' | 'info') => void,
    private readonly what = 'access log',
  ) {
    const e = dest as Partial<Emitter>;
    if (typeof e.on !== 'function') return; // a caller's stream (tests): its own business
    e.on('error', (err: NodeJS.ErrnoException) => this.failed(err));
    e.on('write', () => this.succeeded());
    // A write may carry many lines (the access log hands them over in batches).
    e.on('drop', (data) => (this.dropped += linesIn(data)));
  }

  get failing(): boolean {
    return this.failure !== null;
  }

  private failed(err: NodeJS.ErrnoException): void {
    this.failure = err;
    const now = Date.now();
    if (now - this.reportedAt < REMIND_MS) return;
    this.reportedAt = now;
    this.report(`${this.what} write failed: ${err.message}; lines are kept in memory and written when the file accepts them again`, 'error');
  }

  private succeeded(): void {
    if (this.failure === null) return;
    this.failure = null;
    this.reportedAt = 0;
    const lost = this.dropped ? `; ${this.dropped} lines were dropped meanwhile (memory bound)` : '';
    this.dropped = 0;
    this.report(`${this.what} writes succeed again${lost}`, 'info');
  }
}
