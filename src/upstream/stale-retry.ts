import type { Dispatcher } from 'undici';
import { handingOver } from './connect-phases.js';

/** RFC 9110 §9.2.2: methods whose repetition has the same effect as one request. */
const IDEMPOTENT: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** May a request that went out be sent again? Idempotent, and no body (a body stream cannot be replayed). */
export function replayable(method: string, hasBody: boolean): boolean {
  return !hasBody && IDEMPOTENT.has(method);
}

/** Tries of one request after its reused keep-alive connections were found closed. */
export const MAX_STALE_RETRIES = 2;

/** undici's and the kernel's ways of saying the connection was closed under the request. */
const CLOSED = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

/**
 * The direct pool's answer to the keep-alive race: an origin may close an idle
 * connection just as a request goes out on it (RFC 9112 §9.3.1), and undici reports the
 * closed socket before any response. A replayable request (the caller wraps only
 * those, and never an upgrade) that failed so on a reused connection is sent again,
 * on another connection, by `resend`; everything else reaches the handler as it
 * happened. A timeout is not a closed connection: it is not retried.
 */
export class StaleRetry implements Dispatcher.DispatchHandler {
  /** The current try went out on a connection the pool had used before. */
  private reused = false;
  private answered = false;

  constructor(
    private readonly inner: Dispatcher.DispatchHandler,
    /** Send the request again (with this handler); false when it may not be. */
    private readonly resend: () => boolean,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.reused = !handingOver();
    this.inner.onConnect?.(abort);
  }

  onBodySent(chunkSize: number, totalBytesSent: number): void {
    this.inner.onBodySent?.(chunkSize, totalBytesSent);
  }

  onHeaders(statusCode: number, headers: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode >= 200) this.answered = true;
    return this.inner.onHeaders?.(statusCode, headers, resume, statusText) ?? true;
  }

  onData(chunk: Buffer): boolean {
    return this.inner.onData?.(chunk) ?? true;
  }

  onComplete(trailers: string[] | null): void {
    this.inner.onComplete?.(trailers);
  }

  onError(err: Error): void {
    const code = (err as { code?: string }).code;
    if (!this.answered && this.reused && code !== undefined && CLOSED.has(code) && this.resend()) return;
    this.inner.onError?.(err);
  }
}
