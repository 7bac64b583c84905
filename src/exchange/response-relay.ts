import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import type { Dispatcher } from 'undici';
import { forwardResponseHeaders } from '../http/headers.js';
import { isEarlyClose, ProxyError, toProxyError } from '../http/errors.js';
import { formatAuthority } from '../http/target.js';
import { decideResponse, decideResponseBytes, responseByteLimit } from '../policy/index.js';
import { phasesOf, takeHandedOver, type ConnectPhases } from '../upstream/connect-phases.js';
import type { ProxyContext } from './context.js';
import { sendError } from './respond.js';
import type { Runtime } from './runtime.js';

/**
 * A hook on the relayed response (the cache): it sees the head after the response-side
 * policy passed, every body chunk sent to the client, and the end or failure.
 */
export interface RelayTap {
  /**
   * Returns header fields to add to the response, or null when the tap answered the
   * client itself (a 304 that revalidated a stored response, stale-if-error): the
   * upstream body is then read and dropped.
   */
  onHeaders(status: number, statusText: string, headers: string[]): string[] | null;
  onData(chunk: Buffer): void;
  onComplete(): void;
  /**
   * The transfer failed or was cut. `answerable` when nothing was sent to the client
   * yet; returns true when the tap answered it (stale-if-error).
   */
  onError(err: Error, answerable: boolean): boolean;
}

function uncork(res: ServerResponse): void {
  res.uncork();
}

/**
 * undici dispatch handler that streams the upstream response into the client's
 * ServerResponse with backpressure: when the client is slow, undici stops reading
 * from the origin until the client drains.
 */
export class ResponseRelay implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resume: (() => void) | null = null;
  private readonly onDrain = (): void => this.resume?.();
  /** Streamed-size limit of the allowing rule (Infinity: none). */
  private byteLimit = Infinity;
  /** Set when the policy refused the response and we aborted the upstream ourselves. */
  private refused = false;
  /** The client went away; abort the upstream request as soon as undici allows. */
  private clientGone = false;
  /** The tap answered the client; the upstream response is drained and ignored. */
  private tapped = false;
  /** When the request went out on its upstream connection (time to first byte). */
  private sentAt = 0;

  constructor(
    private readonly rt: Runtime,
    private readonly ctx: ProxyContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly tap: RelayTap | null = null,
    private readonly extraHeaders: readonly string[] | null = null,
  ) {}

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    const fresh = takeHandedOver();
    if (fresh !== null) this.notePhases(fresh);
    this.sentAt = performance.now();
    // The client may have left before undici got this far.
    if (this.clientGone) abort(new Error('client closed the connection'));
  }

  // undici 7 passes the chunk itself (lib/core/request.js), though its typings say a size.
  onBodySent(chunk: number | Buffer | string): void {
    this.ctx.bytesIn += typeof chunk === 'number' ? chunk : chunk.length;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    const ctx = this.ctx;
    if (ctx.ttfbMs < 0) ctx.ttfbMs = performance.now() - this.sentAt;
    // 1xx informational responses (103 Early Hints) are not relayed; undici rejects 100.
    if (statusCode < 200) return true;
    this.resume = resume;
    ctx.status = statusCode;
    if (this.rt.logHeaders !== null) ctx.responseHeaders = this.rt.logHeaders.fromResponse(rawHeaders);
    const t = ctx.target!;
    // A parent route has already named the parent.
    if (ctx.upstream === null) ctx.upstream = formatAuthority(this.rt.dialer.addressOf(t.host) ?? t.host, t.port);
    const res = this.res;
    if (res.destroyed) {
      // Returning false would only pause undici, holding the upstream socket forever.
      this.abortUpstream?.(new Error('client closed the connection'));
      return false;
    }
    // The origin answered before the whole upload arrived (e.g. 413): the rest of the
    // client's body will never be read, so this connection cannot be reused.
    if (!this.req.complete) res.shouldKeepAlive = false;
    if (ctx.decision?.response && !this.responseAllowed(rawHeaders)) return false;
    const headers = forwardResponseHeaders(rawHeaders, this.rt.via);
    if (this.tap) {
      const extra = this.tap.onHeaders(statusCode, statusText, headers);
      if (extra === null) {
        this.tapped = true;
        return true;
      }
      for (const h of extra) headers.push(h);
    } else if (this.extraHeaders) {
      for (const h of this.extraHeaders) headers.push(h);
    }
    // Head, a small body and its end usually arrive in one tick: one write, not three.
    res.cork();
    process.nextTick(uncork, res);
    res.writeHead(statusCode, statusText, headers);
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.tapped) return true;
    if (this.res.destroyed) {
      this.abortUpstream?.(new Error('client closed the connection'));
      return false;
    }
    this.ctx.bytesOut += chunk.length;
    if (this.ctx.bytesOut > this.byteLimit) this.overLimit();
    this.tap?.onData(chunk);
    const ok = this.res.write(chunk);
    if (!ok) this.res.once('drain', this.onDrain);
    return ok;
  }

  onComplete(trailers: string[] | Buffer[] | null): void {
    if (this.tapped) return;
    // A transfer cut by the policy's size limit is not complete.
    if (!this.refused) this.tap?.onComplete();
    if (trailers && trailers.length) {
      const t: Record<string, string> = {};
      for (let i = 0; i < trailers.length; i += 2) t[String(trailers[i])] = String(trailers[i + 1]);
      this.res.addTrailers(t);
    }
    this.res.end();
  }

  private notePhases(p: ConnectPhases): void {
    this.ctx.dnsMs = p.dnsMs;
    this.ctx.connectMs = p.connectMs;
    this.ctx.tlsMs = p.tlsMs;
  }

  onError(err: Error): void {
    if (this.tapped) return;
    const failed = phasesOf(err);
    if (failed !== null) this.notePhases(failed);
    const answerable = !this.refused && !this.res.headersSent && !this.res.destroyed && !this.clientGone;
    if (this.tap?.onError(err, answerable)) return;
    // Our own abort after a response-side policy refusal: already answered and logged.
    if (this.refused) return;
    // RFC 9110 §8.6: a 304 may carry the Content-Length of the representation it
    // stands for, with no body; undici 7 treats that as a length mismatch.
    const noBody = this.ctx.status === 304 || this.ctx.status === 204;
    if (noBody && (err as { code?: string }).code === 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH' && this.res.headersSent) {
      this.res.end();
      return;
    }
    const pe = this.res.headersSent && isEarlyClose(err)
      ? new ProxyError('UPSTREAM_PROTOCOL', 'destination closed the connection before the end of the response body (RFC 9112 §8: incomplete message)', { cause: err })
      : toProxyError(err);
    if (this.res.destroyed) {
      // The client left first; the upstream error is a consequence, not the cause.
      if (!this.ctx.errorCode) this.ctx.fail(pe);
      return;
    }
    // A request that was read to the end is destroyed too (autoDestroy): only an
    // incomplete one means the client gave up on its upload.
    if (this.req.destroyed && !this.req.complete && !this.res.headersSent) {
      this.ctx.fail(new ProxyError('BAD_REQUEST', 'client aborted the request body'));
      this.res.destroy();
      return;
    }
    sendError(this.rt, this.ctx, this.req, this.res, pe, true);
  }

  /**
   * Response-side policy (content type, Content-Length) before anything is relayed. A
   * refusal becomes the block page instead of the origin's response.
   */
  private responseAllowed(rawHeaders: Buffer[]): boolean {
    const ctx = this.ctx;
    let contentType: string | undefined;
    let contentLength: number | undefined;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1').toLowerCase();
      if (name === 'content-type') contentType = rawHeaders[i + 1]!.toString('latin1');
      else if (name === 'content-length') contentLength = Number(rawHeaders[i + 1]!.toString('latin1'));
    }
    const d = decideResponse(ctx.decision!, { contentType, contentLength });
    ctx.decision = d;
    if (d.action === 'allow') {
      this.byteLimit = d.wouldDeny ? Infinity : responseByteLimit(d);
      return true;
    }
    // The block page first: aborting makes undici report an error at once, and that
    // error is ours, not the origin's (see onError).
    sendError(this.rt, ctx, this.req, this.res, new ProxyError('POLICY_DENIED', d.reason), true);
    this.refused = true;
    this.abortUpstream?.(new Error('response refused by policy'));
    return false;
  }

  /** The streamed body passed the rule's size limit: enforce (cut) or report once. */
  private overLimit(): void {
    const ctx = this.ctx;
    const d = decideResponseBytes(ctx.decision!, ctx.bytesOut);
    ctx.decision = d;
    this.byteLimit = Infinity;
    if (d.action === 'deny') {
      ctx.fail(new ProxyError('POLICY_DENIED', d.reason));
      this.refused = true;
      this.abortUpstream?.(new Error('response refused by policy'));
      this.res.destroy();
    }
  }

  /** The client went away: stop the upstream request so the origin sees the abort. */
  abort(): void {
    this.clientGone = true;
    // An aborted transfer is never stored.
    this.tap?.onError(new Error('client closed the connection'), false);
    this.abortUpstream?.(new Error('client closed the connection'));
  }
}
