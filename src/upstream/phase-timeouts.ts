import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { SLOT, SlotList } from '../util/slot-list.js';

// undici's own error classes: the codes (UND_ERR_HEADERS_TIMEOUT, UND_ERR_BODY_TIMEOUT)
// keep their meaning everywhere errors are mapped, retried and logged.
const { HeadersTimeoutError, BodyTimeoutError } = createRequire(import.meta.url)('undici/lib/core/errors.js') as {
  HeadersTimeoutError: new (message: string) => Error;
  BodyTimeoutError: new (message: string) => Error;
};

export interface PhaseLimits {
  /** Time the origin has for its response head once the request is sent (0: none). */
  headersMs: number;
  /** Time the origin may stay silent within its response body (0: none). */
  bodyMs: number;
}

/**
 * The upstream header and body timeouts, kept here instead of by undici. undici times
 * each phase of a request with its own timer object, a new one each time the phase
 * changes (head, body, keep-alive): three per request, and the head and body ones
 * live until undici's half-second timer tick, long enough to be promoted to the old
 * generation. Under W1 they were about half of all promoted bytes; with them gone the
 * proxy's peak RSS fell from ~140 to ~95 MB and p99 halved (docs/benchmarks.md).
 *
 * Here a request in flight carries a deadline (a number) and sits in a SlotList; one
 * interval per pool, a tenth of the shortest limit (10 ms to 1 s), ends those past
 * their deadline. Nothing is allocated per phase.
 */
export class PhaseClock {
  private readonly watched = new SlotList<TimedHandler>();
  private timer: NodeJS.Timeout | null = null;
  private readonly tickMs: number;

  constructor(readonly limits: PhaseLimits) {
    const shortest = Math.min(...[limits.headersMs, limits.bodyMs].filter((v) => v > 0), 10_000);
    this.tickMs = Math.min(1000, Math.max(10, Math.floor(shortest / 10)));
  }

  /** Wrap a dispatch handler so its request is timed. */
  wrap(handler: Dispatcher.DispatchHandler): Dispatcher.DispatchHandler {
    if (this.limits.headersMs <= 0 && this.limits.bodyMs <= 0) return handler;
    return new TimedHandler(handler, this);
  }

  watch(h: TimedHandler): void {
    this.watched.add(h);
    if (this.timer === null) {
      this.timer = setInterval(() => this.sweep(), this.tickMs);
      this.timer.unref();
    }
  }

  unwatch(h: TimedHandler): void {
    this.watched.delete(h);
  }

  /** Requests being timed (tests, metrics). */
  get size(): number {
    return this.watched.size;
  }

  private stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private sweep(): void {
    if (this.watched.size === 0) return this.stop();
    const now = performance.now();
    for (const h of this.watched) {
      if (h.deadline <= now) {
        this.watched.delete(h);
        h.expire();
      }
    }
  }
}

const enum Phase {
  /** Connected, the request (and its body) still going out: the client's side is timed. */
  Sending,
  Head,
  Body,
  /** The client is not reading (backpressure): the origin waits on us. */
  Paused,
  Done,
}

/**
 * One request's phases as undici reports them: sent (onRequestSent) → head (onHeaders;
 * a 1xx head restarts the head deadline) → body (each chunk moves the deadline; a pause for
 * a slow client stops it) → done. While the request body is still going out the
 * upstream is not timed: a stalled upload is the client's silence, which the client
 * connection's own idle timer handles.
 */
class TimedHandler implements Dispatcher.DispatchHandler {
  deadline = Infinity;
  [SLOT] = -1;
  private phase = Phase.Sending;
  private abort: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private readonly resumed = (): void => {
    if (this.phase === Phase.Paused) this.arm(Phase.Body);
    this.resumeUpstream?.();
  };

  constructor(
    private readonly inner: Dispatcher.DispatchHandler,
    private readonly clock: PhaseClock,
  ) {}

  private arm(phase: Phase): void {
    this.phase = phase;
    const ms = phase === Phase.Head ? this.clock.limits.headersMs : phase === Phase.Body ? this.clock.limits.bodyMs : 0;
    if (ms > 0) {
      this.deadline = performance.now() + ms;
      this.clock.watch(this);
    } else {
      this.deadline = Infinity;
      this.clock.unwatch(this);
    }
  }

  expire(): void {
    const { headersMs, bodyMs } = this.clock.limits;
    const err = this.phase === Phase.Head
      ? new HeadersTimeoutError(`no complete response head within ${headersMs} ms of the request (timeouts.upstreamHeaders)`)
      : new BodyTimeoutError(`no response body data for ${bodyMs} ms (timeouts.bodyIdle)`);
    this.phase = Phase.Done;
    this.abort?.(err);
  }

  onConnect(abort: (err?: Error) => void, context?: unknown): void {
    this.abort = abort;
    (this.inner.onConnect as ((a: (err?: Error) => void, c?: unknown) => void) | undefined)?.(abort, context);
  }

  onBodySent(chunk: number, total: number): void {
    this.inner.onBodySent?.(chunk, total);
  }

  onRequestSent(): void {
    if (this.phase === Phase.Sending) this.arm(Phase.Head);
    (this.inner as { onRequestSent?: () => void }).onRequestSent?.();
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode >= 200) {
      this.resumeUpstream = resume;
      this.arm(Phase.Body);
    } else if (this.phase === Phase.Head) {
      this.arm(Phase.Head); // an interim head (103 Early Hints): the origin is there, wait for the final one
    }
    const go = this.inner.onHeaders?.(statusCode, headers, statusCode >= 200 ? this.resumed : resume, statusText) ?? true;
    if (!go && this.phase === Phase.Body) this.arm(Phase.Paused);
    return go;
  }

  onData(chunk: Buffer): boolean {
    if (this.phase === Phase.Body && this.clock.limits.bodyMs > 0) this.deadline = performance.now() + this.clock.limits.bodyMs;
    const go = this.inner.onData?.(chunk) ?? true;
    if (!go && this.phase === Phase.Body) this.arm(Phase.Paused);
    return go;
  }

  onComplete(trailers: string[] | null): void {
    this.finish();
    this.inner.onComplete?.(trailers);
  }

  onError(err: Error): void {
    this.finish();
    this.inner.onError?.(err);
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: Duplex): void {
    // After the switch the connection is a tunnel, with its own idle timeout.
    this.finish();
    this.inner.onUpgrade?.(statusCode, headers, socket);
  }

  private finish(): void {
    this.phase = Phase.Done;
    this.deadline = Infinity;
    this.clock.unwatch(this);
  }
}
