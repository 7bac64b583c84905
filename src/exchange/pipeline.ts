import type { IncomingMessage, ServerResponse } from 'node:http';
import { ProxyError, toProxyError } from '../http/errors.js';
import { formatAuthority } from '../http/target.js';
import { now, ProxyContext } from './context.js';
import { parseTarget, prepareHeaders, type Exchange } from './request-checks.js';
import { sendError } from './respond.js';
import { ResponseRelay } from './response-relay.js';
import type { Runtime } from './runtime.js';

/**
 * A stage fills the exchange or answers the client itself (returns true: stop), or
 * throws a ProxyError. The order is written here and nowhere else:
 *
 *   parse target → headers & loop/Max-Forwards → [identify → decide → limit → cache]
 *   → forward upstream (streaming) → log when the response closes
 *
 * The bracketed stages arrive with the auth, policy, quota and cache issues.
 */
type Stage = (x: Exchange) => boolean;
const STAGES: readonly Stage[] = [parseTarget, prepareHeaders];

/** Handle one HTTP request received by a forward listener. Never throws. */
export function handleRequest(rt: Runtime, req: IncomingMessage, res: ServerResponse): ProxyContext {
  const sock = req.socket;
  const ctx = new ProxyContext(rt.ids.next(), 'http', sock.remoteAddress ?? '', sock.remotePort ?? 0);
  ctx.method = req.method ?? '';
  ctx.url = req.url ?? '';
  const x: Exchange = { rt, ctx, req, res, headers: [] };
  let relay: ResponseRelay | null = null;
  res.once('close', () => {
    if (!res.writableFinished) {
      if (!ctx.errorCode) {
        ctx.errorCode = 'CLIENT_ABORTED';
        ctx.errorReason = 'client closed the connection before the response was complete';
      }
      relay?.abort();
    }
    rt.accessLog.write(ctx, now());
  });
  try {
    for (const stage of STAGES) if (stage(x)) return ctx;
    relay = forward(x);
  } catch (err) {
    const pe = err instanceof ProxyError ? err : toProxyError(err);
    // After a malformed request the connection's state is doubtful: close it.
    sendError(rt, ctx, req, res, pe, pe.code === 'BAD_REQUEST');
  }
  return ctx;
}

function hasBody(req: IncomingMessage): boolean {
  const cl = req.headers['content-length'];
  if (cl !== undefined) return cl !== '0';
  return req.headers['transfer-encoding'] !== undefined;
}

/** Send the request upstream through the pool and relay the response as it arrives. */
function forward(x: Exchange): ResponseRelay {
  const { rt, ctx, req, res } = x;
  const t = ctx.target!;
  const body = hasBody(req);
  // 100-continue is answered hop by hop, and only once the request is known to go out.
  if (body && req.headers.expect?.toLowerCase() === '100-continue') res.writeContinue();
  const origin = `http://${formatAuthority(t.host, t.port)}`;
  const relay = new ResponseRelay(rt, ctx, req, res);
  rt.pool.dispatch(
    { origin, path: t.path, method: req.method!, headers: x.headers, body: body ? req : null, blocking: false },
    relay,
  );
  return relay;
}
