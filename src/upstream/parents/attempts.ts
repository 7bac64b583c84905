import type { Dispatcher } from 'undici';
import { handingOver } from '../connect-phases.js';
import { replayable as mayReplay } from '../stale-retry.js';
import type { Parent } from './parent.js';

/**
 * Does a response carry a proxy's own error marker? RFC 9209 `Proxy-Status` with an
 * `error` parameter, Squid's `X-Squid-Error`, or egressd's `X-Egressd-Error`.
 */
export function parentMadeIt(raw: readonly Buffer[]): boolean {
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase();
    if (name === 'x-squid-error' || name === 'x-egressd-error') return true;
    if (name === 'proxy-status' && /;\s*error=/i.test(raw[i + 1]!.toString('latin1'))) return true;
  }
  return false;
}

export interface AttemptOptions {
  method: string;
  hasBody: boolean;
  /** Is the client still waiting? A retry for a client that left is pointless. */
  alive: () => boolean;
  /** Try the next parent (or direct); false when there is none left. */
  next: () => boolean;
  /**
   * Try the same parent again (a reused keep-alive connection it had closed); false
   * when this request has had its share of such retries.
   */
  again: () => boolean;
  now: () => number;
}

/**
 * One try of a request through one parent. Wraps the real response handler: it keeps
 * the parent's counters and passive health, and on a failure before any response head
 * hands the request to the next parent instead of the client. Retried: a failure to
 * connect (nothing was sent, any method), and a failure after sending for idempotent
 * requests without a body (a body stream cannot be replayed). A replayable request that
 * failed on a reused keep-alive connection first goes to the same parent again: the
 * parent closed an idle connection as the request went out (RFC 9112 §9.3.1), which is
 * no fault of the parent's and no reason to eject it.
 */
export class Attempt implements Dispatcher.DispatchHandler {
  private sent = false;
  private answered = false;
  private ended = false;
  /** The request went out on a connection the pool had used before. */
  private reused = false;

  constructor(
    private readonly inner: Dispatcher.DispatchHandler,
    private readonly parent: Parent,
    private readonly opts: AttemptOptions,
  ) {
    parent.begin(opts.now());
  }

  onConnect(abort: (err?: Error) => void): void {
    this.sent = true;
    this.reused = !handingOver();
    this.inner.onConnect?.(abort);
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.inner.onBodySent?.(chunkSize, totalBytesSent);
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode >= 200 && !this.answered) {
      this.answered = true;
      // A 5xx counts against the parent only when the parent says it made it itself;
      // the origin's own 5xx (relayed by a healthy parent) must not eject the parent.
      if (statusCode >= 500 && parentMadeIt(headers)) this.parent.failed(this.opts.now());
      else this.parent.succeeded();
    }
    return this.inner.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }

  onUpgrade(statusCode: number, headers: Buffer[] | string[] | null, socket: import('node:stream').Duplex): void {
    this.answered = true;
    this.parent.succeeded();
    this.finish();
    this.inner.onUpgrade?.(statusCode, headers, socket);
  }

  onData(chunk: Buffer): boolean {
    return this.inner.onData?.(chunk) ?? true;
  }

  onComplete(trailers: string[] | null): void {
    this.finish();
    this.inner.onComplete?.(trailers);
  }

  onError(err: Error): void {
    this.finish();
    if (!this.answered) {
      const replayable = !this.sent || mayReplay(this.opts.method, this.opts.hasBody);
      if (this.sent && this.reused && replayable && this.opts.alive() && this.opts.again()) return;
      this.parent.failed(this.opts.now());
      if (replayable && this.opts.alive() && this.opts.next()) return;
    }
    this.inner.onError?.(err);
  }

  private finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.parent.end();
  }
}
