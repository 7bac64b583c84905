import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { ProxyError, toProxyError } from '../http/errors.js';
import { formatAuthority, parseAuthority } from '../http/target.js';
import { now, ProxyContext } from '../exchange/context.js';
import { checkQuota } from '../exchange/limit-stage.js';
import { decideWithAuth, identify } from '../exchange/identify-stage.js';
import { sendRawError } from '../exchange/respond.js';
import type { Runtime } from '../exchange/runtime.js';
import type { PeekResult } from '../tls/index.js';
import { interceptConnect, type InnerServers } from './intercept.js';
import type { Interceptor } from './interceptor.js';
import { ESTABLISHED, splice, type TunnelRegistry } from './splice.js';
import { CancelOnClose } from '../upstream/dialer.js';

export type { TunnelRegistry } from './splice.js';


/** Interception, when configured: the component and the servers decrypted sockets go to. */
export interface InterceptionDeps {
  interceptor: Interceptor;
  inner: InnerServers;
}

/**
 * CONNECT (RFC 9110 §9.3.6): check the target, dial it through the egress guard,
 * answer 200, then splice bytes both ways. Half-close is passed on (a FIN from one
 * side ends the other side's writes only), idle tunnels are cut, bytes are counted.
 *
 * Order: parse target → port check → identify → decide (policy, then the auth
 * requirement: 407 for an anonymous client whose rule needs a user) → limit (quota)
 * → intercept? (peek SNI, see intercept.ts) → dial → splice (bytes to the client
 * metered against the volume quota every quota.tunnelCheck) → log at close.
 */
export async function handleConnect(
  rt: Runtime,
  req: IncomingMessage,
  client: Socket,
  head: Buffer,
  registry: TunnelRegistry,
  interception: InterceptionDeps | null = null,
): Promise<void> {
  const ctx = ProxyContext.of(rt.ids.next(), 'connect', client);
  ctx.method = 'CONNECT';
  ctx.tls = 'tunnel';
  ctx.url = req.url ?? '';
  if (rt.logHeaders !== null) ctx.requestHeaders = rt.logHeaders.fromRequest(req.headers);
  let target: { host: string; port: number };
  try {
    target = parseAuthority(ctx.url);
    ctx.url = formatAuthority(target.host, target.port);
    if (!rt.connectPorts.has(target.port)) {
      throw new ProxyError('PORT_FORBIDDEN', `CONNECT to port ${target.port} is not allowed (allowed: ${[...rt.connectPorts].join(', ')})`);
    }
  } catch (err) {
    refuse(rt, ctx, client, err, null);
    return;
  }
  return runTunnel(rt, ctx, client, { ...target, headers: req.headers, head, hello: null }, registry, interception);
}

/** What a tunnel is for: from a CONNECT request, or from a transparent client's ClientHello. */
export interface TunnelRequest {
  host: string;
  port: number;
  /** The CONNECT request's fields (policy header conditions); none for transparent TLS. */
  headers: IncomingHttpHeaders;
  /** Bytes the client sent behind the CONNECT head; they belong to the upstream. */
  head: Buffer;
  /**
   * Transparent TLS: the ClientHello, already read to learn the SNI. The client dialled
   * the origin, not a proxy, so it gets no 200 and a refusal can only close it.
   */
  hello: PeekResult | null;
}

/**
 * The tunnel pipeline shared by CONNECT and transparent TLS: identify → decide (policy,
 * then the auth requirement) → limit (quota) → intercept (see intercept.ts) or dial →
 * splice → log at close. `ctx` carries the kind, url and mode already.
 */
export async function runTunnel(
  rt: Runtime,
  ctx: ProxyContext,
  client: Socket,
  t: TunnelRequest,
  registry: TunnelRegistry,
  interception: InterceptionDeps | null,
): Promise<void> {
  const { host, port } = t;
  const gone = new CancelOnClose(client);
  let upstream: Socket;
  try {
    // A stage answers synchronously unless it must wait (a credential store, DNS for a
    // policy rule, a shared quota store): only a promise is awaited.
    let pending = identify(rt, ctx, t.headers, null);
    if (pending) await pending;
    pending = decideWithAuth(rt, ctx, { host, port, scheme: 'https', method: 'CONNECT', clientIp: ctx.clientIp, user: ctx.user ?? undefined, groups: ctx.groups, headers: t.headers }, false);
    if (pending) await pending;
    pending = checkQuota(rt, ctx);
    if (pending) await pending;
    // The concurrency slot is held for the tunnel's life, decrypted or not.
    const ticket = ctx.quota;
    if (ticket?.held) {
      if (client.destroyed) rt.quota?.release(ticket);
      else client.once('close', () => rt.quota?.release(ticket));
    }
    if (interception?.interceptor.mayIntercept(ctx.decision?.tls)) {
      return await interceptConnect(rt, ctx, client, t, interception.interceptor, interception.inner, registry);
    }
    const tunnel = await rt.upstream.tunnel(host, port, ctx.decision?.route, { host, client: ctx.clientIp, user: ctx.user }, gone, ctx);
    upstream = tunnel.socket;
    ctx.upstream = tunnel.upstream;
  } catch (err) {
    refuse(rt, ctx, client, err, t.hello);
    return;
  }
  if (client.destroyed) {
    upstream.destroy();
    ctx.errorCode = 'CLIENT_ABORTED';
    ctx.errorReason = 'client left before the tunnel was established';
    rt.accessLog.write(ctx, now());
    return;
  }
  ctx.status = 200;
  // Transparent: the ClientHello read for its SNI goes upstream first, and no 200.
  if (t.hello) {
    client.resume();
    splice(rt, ctx, client, upstream, '', t.hello.bytes, registry);
  } else splice(rt, ctx, client, upstream, ESTABLISHED, t.head, registry);
}

/**
 * A refused tunnel: a CONNECT client reads the reason (plain text, with the rule); a
 * transparent TLS client expects a ServerHello, so it is only closed. The log line says why.
 */
function refuse(rt: Runtime, ctx: ProxyContext, client: Socket, err: unknown, hello: PeekResult | null): void {
  const pe = toProxyError(err);
  ctx.fail(pe);
  // Status 0 in the log: the transparent client was closed without a response.
  ctx.status = hello ? 0 : pe.status;
  if (hello) client.destroy();
  else if (!client.destroyed) sendRawError(client, pe, ctx.id, rt.via, pe.code === 'POLICY_DENIED' ? ctx.decision?.ruleId : undefined);
  rt.accessLog.write(ctx, now());
}
