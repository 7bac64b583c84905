import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProxyError, toProxyError } from '../http/errors.js';
import { now, ProxyContext } from './context.js';
import { parseTarget, prepareHeaders, type Exchange, type TunnelOrigin } from './request-checks.js';
import { sendError } from './respond.js';
import { checkQuota } from './limit-stage.js';
import { decideWithAuth, identify } from './identify-stage.js';
import { requestFacts } from './policy-stage.js';
import { ResponseRelay } from './response-relay.js';
import { routedRequest } from './route.js';
import { lookupCache } from './cache-stage.js';
import type { Runtime } from './runtime.js';
import type { TransparentInfo } from './transparent-target.js';

/**
 * A stage fills the exchange or answers the client itself (returns true: stop), or
 * throws a ProxyError; a stage that must wait (DNS for a policy rule) returns a
 * promise of the same. The order is written here and nowhere else:
 *
 *   parse target → headers & loop/Max-Forwards → identify → decide (policy, then
 *   the auth requirement) → limit (quota: rate, volume, concurrency) → cache (a hit
 *   answers here) → forward upstream (streaming; response-side policy checks; the
 *   cache tap stores the body) → count bytes to the client against the volume quota
 *   and log, when the response closes
 *
 * Auth is split around the policy on purpose: identify only uses credentials the
 * client sent (or its address) and never challenges, so user/group rules can see the
 * user; after the decision, an anonymous request whose rule needs a user (rule
 * `auth: required`, or auth.required unless the rule says `auth: none`) gets the 407.
 * A wrong password is a 407 at identify. Limit comes after decide because a policy
 * rule may select the quota profile, and a request the policy denies costs no token;
 * the cache comes after limit, so a hit counts against the rate too. CONNECT
 * (tunnel/connect.ts) and upgrades (tunnel/upgrade.ts) follow the same order.
 */
type Stage = (x: Exchange) => boolean | Promise<boolean>;
const STAGES: readonly Stage[] = [parseTarget, prepareHeaders, identifyStage, decidePolicy, limitQuota, lookupCache];

function identifyStage(x: Exchange): boolean | Promise<boolean> {
  const pending = identify(x.rt, x.ctx, x.req.headers, x.origin);
  return pending ? pending.then(() => false) : false;
}

function decidePolicy(x: Exchange): boolean | Promise<boolean> {
  const pending = decideWithAuth(x.rt, x.ctx, requestFacts(x.req, x.ctx), x.origin !== null);
  return pending ? pending.then(() => false) : false;
}

function limitQuota(x: Exchange): boolean | Promise<boolean> {
  const pending = checkQuota(x.rt, x.ctx);
  return pending ? pending.then(() => releaseIfGone(x)) : false;
}

/** The client left while the store answered: its close handler has run, free the slot here. */
function releaseIfGone(x: Exchange): boolean {
  if (x.res.closed && x.ctx.quota) x.rt.quota?.release(x.ctx.quota);
  return false;
}

/**
 * Handle one HTTP request received by a listener (forward or transparent: `transparent`
 * set) or decrypted inside a tunnel (`origin` set). Never throws. `done` is called
 * once the response has closed and the request is logged.
 */
export function handleRequest(
  rt: Runtime,
  req: IncomingMessage,
  res: ServerResponse,
  origin: TunnelOrigin | null = null,
  transparent: TransparentInfo | null = null,
  done: (() => void) | null = null,
): ProxyContext {
  const sock = req.socket;
  const ctx = ProxyContext.of(rt.ids.next(), 'http', sock);
  ctx.method = req.method ?? '';
  ctx.url = req.url ?? '';
  if (origin) {
    ctx.tls = 'intercepted';
    ctx.sni = origin.sni;
    if (origin.transparent) ctx.mode = 'transparent';
  } else if (transparent) ctx.mode = 'transparent';
  if (rt.logHeaders !== null) ctx.requestHeaders = rt.logHeaders.fromRequest(req.headers);
  const x: Exchange = { rt, ctx, req, res, headers: [], relay: null, origin, tap: null, cacheHeaders: null, transparent };
  res.once('close', () => {
    if (!res.writableFinished) {
      if (!ctx.errorCode) {
        ctx.errorCode = 'CLIENT_ABORTED';
        ctx.errorReason = 'client closed the connection before the response was complete';
      }
      x.relay?.abort();
    }
    try {
      const q = ctx.quota;
      if (q !== null) {
        // Volume counts what reached the client (RFC-agnostic: body bytes relayed).
        rt.quota?.record(q, ctx.bytesOut, Date.now());
        rt.quota?.release(q);
      }
      rt.accessLog.write(ctx, now());
    } finally {
      // Shutdown waits for this request until it is released, whatever happened above.
      done?.();
    }
  });
  runStages(x, 0);
  return ctx;
}

/** Run stages from `from` on; synchronous until a stage returns a promise. */
function runStages(x: Exchange, from: number): void {
  try {
    for (let i = from; i < STAGES.length; i++) {
      const r = STAGES[i]!(x);
      if (r === true) return;
      if (r !== false) {
        r.then(
          (done) => done || runStages(x, i + 1),
          (err: unknown) => fail(x, err),
        );
        return;
      }
    }
    // The client may have left while a stage waited.
    if (!x.res.destroyed) x.relay = forward(x);
    else x.tap?.onError(new Error('client closed the connection'), false);
  } catch (err) {
    fail(x, err);
  }
}

function fail(x: Exchange, err: unknown): void {
  // A tap set by the cache stage never sees a response now: release its flight.
  x.tap?.onError(err as Error, false);
  const pe = err instanceof ProxyError ? err : toProxyError(err);
  // After a malformed request the connection's state is doubtful: close it.
  if (!x.res.destroyed) sendError(x.rt, x.ctx, x.req, x.res, pe, pe.code === 'BAD_REQUEST');
}

function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** Send the request upstream through the pool and relay the response as it arrives. */
function forward(x: Exchange): ResponseRelay {
  const { rt, ctx, req, res } = x;
  const body = hasBody(req);
  // 100-continue is answered hop by hop, and only once the request is known to go out.
  if (body && req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
  const relay = new ResponseRelay(rt, ctx, req, res, x.tap, x.cacheHeaders);
  rt.upstream.dispatch(routedRequest(x, body ? req : null), relay);
  return relay;
}
