import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { forwardResponseHeaders, headerValue } from '../http/headers.js';
import { ProxyError, toProxyError } from '../http/errors.js';
import { formatAuthority } from '../http/target.js';
import { now, ProxyContext } from '../exchange/context.js';
import { parseTarget, prepareHeaders, type Exchange, type TunnelOrigin } from '../exchange/request-checks.js';
import { checkQuota } from '../exchange/limit-stage.js';
import { decideWithAuth, identify } from '../exchange/identify-stage.js';
import { requestFacts } from '../exchange/policy-stage.js';
import { routedRequest } from '../exchange/route.js';
import { sendError } from '../exchange/respond.js';
import { ResponseRelay } from '../exchange/response-relay.js';
import type { Runtime } from '../exchange/runtime.js';
import type { TransparentInfo } from '../exchange/transparent-target.js';
import { splice, type TunnelRegistry } from './splice.js';

/**
 * HTTP/1.1 Upgrade (WebSocket) through the forward proxy: the handshake goes through
 * the same checks as any request; on 101 the two sockets are spliced, any other
 * answer is relayed as a normal response.
 */
export function handleUpgrade(
  rt: Runtime,
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
  registry: TunnelRegistry,
  origin: TunnelOrigin | null = null,
  transparent: TransparentInfo | null = null,
): void {
  const ctx = ProxyContext.of(rt.ids.next(), 'upgrade', client);
  ctx.method = req.method ?? '';
  ctx.url = req.url ?? '';
  if (rt.logHeaders !== null) ctx.requestHeaders = rt.logHeaders.fromRequest(req.headers);
  // A ServerResponse on the raw socket lets refusals use the one error path.
  const res = new ServerResponse(req);
  res.assignSocket(client);
  res.shouldKeepAlive = false;
  res.sendDate = false;
  if (origin) {
    ctx.tls = 'intercepted';
    ctx.sni = origin.sni;
    if (origin.transparent) ctx.mode = 'transparent';
  } else if (transparent) ctx.mode = 'transparent';
  const x: Exchange = { rt, ctx, req, res, headers: [], relay: null, origin, tap: null, cacheHeaders: null, transparent };
  let spliced = false;
  // This ServerResponse is not managed by node's server, which would otherwise close
  // the socket after a Connection: close response: do it here once it is written.
  res.once('finish', () => {
    if (!spliced) client.end();
  });
  res.once('close', () => {
    if (spliced) return;
    // Not upgraded: an ordinary response, counted like any other (splice meters a tunnel).
    if (ctx.quota) rt.quota?.record(ctx.quota, ctx.bytesOut, Date.now());
    rt.accessLog.write(ctx, now());
  });
  const fail = (err: unknown): void => sendError(rt, ctx, req, res, err instanceof ProxyError ? err : toProxyError(err), true);
  const go = (): void => {
    const t = ctx.quota;
    // The concurrency slot is held for the upgraded connection's life.
    if (t?.held) {
      if (client.destroyed) rt.quota?.release(t);
      else client.once('close', () => rt.quota?.release(t));
    }
    try {
      dispatchUpgrade(x, client, head, registry, () => (spliced = true));
    } catch (err) {
      fail(err);
    }
  };
  // Same order as the pipeline: decide (policy), then limit (quota), then dispatch.
  const limit = (): void => {
    try {
      const pending = checkQuota(rt, ctx);
      if (pending) pending.then(go, fail);
      else go();
    } catch (err) {
      fail(err);
    }
  };
  try {
    if (parseTarget(x) || prepareHeaders(x)) return;
    // Same order as the pipeline: identify → decide → auth requirement → limit → dispatch.
    const decideNow = (): void | Promise<void> => decideWithAuth(rt, ctx, requestFacts(req, ctx), origin !== null);
    const who = identify(rt, ctx, req.headers, origin);
    const pending = who ? who.then(decideNow) : decideNow();
    if (pending) pending.then(limit, fail);
    else limit();
  } catch (err) {
    fail(err);
  }
}

function dispatchUpgrade(x: Exchange, client: Socket, head: Buffer, registry: TunnelRegistry, onSpliced: () => void): void {
  const { rt, ctx, req, res } = x;
  if (res.destroyed) return;
  const protocol = headerValue(req.rawHeaders, 'upgrade') ?? 'websocket';
  const relay = new UpgradeRelay(rt, ctx, req, res, client, head, registry, onSpliced);
  rt.upstream.dispatch(routedRequest(x, null, protocol), relay);
}

class UpgradeRelay extends ResponseRelay {
  constructor(
    private readonly runtime: Runtime,
    private readonly context: ProxyContext,
    req: IncomingMessage,
    private readonly response: ServerResponse,
    private readonly client: Socket,
    private readonly head: Buffer,
    private readonly registry: TunnelRegistry,
    private readonly onSpliced: () => void,
  ) {
    super(runtime, context, req, response);
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, upstream: Socket): void {
    const { context: ctx, client } = this;
    ctx.status = statusCode;
    ctx.upstream ??= formatAuthority(upstream.remoteAddress ?? "", upstream.remotePort ?? 0);
    this.onSpliced();
    this.response.detachSocket(client);
    const headers = forwardResponseHeaders(rawHeaders ?? [], this.runtime.via, true);
    let out = `HTTP/1.1 ${statusCode} Switching Protocols\r\n`;
    for (let i = 0; i < headers.length; i += 2) out += `${headers[i]}: ${headers[i + 1]}\r\n`;
    splice(this.runtime, ctx, client, upstream, `${out}\r\n`, this.head, this.registry);
  }
}
