import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { ProxyError, toProxyError } from '../http/errors.js';
import { formatAuthority, parseAuthority } from '../http/target.js';
import { now, ProxyContext } from '../exchange/context.js';
import { checkQuota } from '../exchange/limit-stage.js';
import { decideWithAuth, identify } from '../exchange/identify-stage.js';
import { sendRawError } from '../exchange/respond.js';
import type { Runtime } from '../exchange/runtime.js';
import { interceptConnect, type InnerServers } from './intercept.js';
import type { Interceptor } from './interceptor.js';
import { ESTABLISHED, splice, type TunnelRegistry } from './splice.js';

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
  const ctx = new ProxyContext(rt.ids.next(), 'connect', client.remoteAddress ?? '', client.remotePort ?? 0);
  ctx.method = 'CONNECT';
  ctx.tls = 'tunnel';
  ctx.url = req.url ?? '';
  const abort = new AbortController();
  const onEarlyClose = (): void => abort.abort();
  client.once('close', onEarlyClose);
  let upstream: Socket;
  try {
    const { host, port } = parseAuthority(ctx.url);
    ctx.url = formatAuthority(host, port);
    if (!rt.connectPorts.has(port)) {
      throw new ProxyError('PORT_FORBIDDEN', `CONNECT to port ${port} is not allowed (allowed: ${[...rt.connectPorts].join(', ')})`);
    }
    await identify(rt, ctx, req.headers, null);
    await decideWithAuth(rt, ctx, { host, port, scheme: 'https', method: 'CONNECT', clientIp: ctx.clientIp, user: ctx.user ?? undefined, groups: ctx.groups, headers: req.headers }, false);
    await checkQuota(rt, ctx);
    // The concurrency slot is held for the tunnel's life, decrypted or not.
    const ticket = ctx.quota;
    if (ticket?.held) {
      if (client.destroyed) rt.quota?.release(ticket);
      else client.once('close', () => rt.quota?.release(ticket));
    }
    if (interception?.interceptor.mayIntercept(ctx.decision?.tls)) {
      client.removeListener('close', onEarlyClose);
      return await interceptConnect(rt, ctx, client, head, host, port, interception.interceptor, interception.inner, registry);
    }
    const tunnel = await rt.upstream.tunnel(host, port, ctx.decision?.route, { host, client: ctx.clientIp, user: ctx.user }, abort.signal);
    upstream = tunnel.socket;
    ctx.upstream = tunnel.upstream;
  } catch (err) {
    client.removeListener('close', onEarlyClose);
    const pe = toProxyError(err);
    ctx.fail(pe);
    ctx.status = pe.status;
    if (!client.destroyed) sendRawError(client, pe, ctx.id, rt.via, pe.code === 'POLICY_DENIED' ? ctx.decision?.ruleId : undefined);
    rt.accessLog.write(ctx, now());
    return;
  }
  client.removeListener('close', onEarlyClose);
  if (client.destroyed) {
    upstream.destroy();
    ctx.errorCode = 'CLIENT_ABORTED';
    ctx.errorReason = 'client left before the tunnel was established';
    rt.accessLog.write(ctx, now());
    return;
  }
  ctx.status = 200;
  splice(rt, ctx, client, upstream, ESTABLISHED, head, registry);
}
