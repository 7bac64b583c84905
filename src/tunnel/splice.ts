import type { Socket } from 'node:net';
import { ProxyError, toProxyError } from '../http/errors.js';
import { tunnelCutError } from '../exchange/limit-stage.js';
import { now, type ProxyContext } from '../exchange/context.js';
import type { Runtime } from '../exchange/runtime.js';

/** The answer to a CONNECT that was accepted (RFC 9110 §9.3.6). */
export const ESTABLISHED = 'HTTP/1.1 200 Connection Established\r\n\r\n';

/** Live tunnels, so shutdown can wait for them and then cut what is left. */
export interface TunnelRegistry {
  add(sockets: Socket[]): void;
  delete(sockets: Socket[]): void;
}

/**
 * Relay bytes both ways between an established client and upstream socket (CONNECT
 * after 200, Upgrade after 101). A FIN from one side ends only the other side's writes
 * (half-close); idle tunnels are cut; the bytes counted are the tunnel's payload, not
 * the handshake heads; one log line is written when both sides have closed.
 *
 * `response` is what the client must receive first (200 / 101 head); `head` are bytes
 * the client already sent behind its request head, which belong to the upstream.
 */
export function splice(rt: Runtime, ctx: ProxyContext, client: Socket, upstream: Socket, response: string, head: Buffer, registry: TunnelRegistry): void {
  const pair = [client, upstream];
  registry.add(pair);
  client.write(response);
  const clientBase = client.bytesWritten;
  const upstreamBase = upstream.bytesWritten;
  if (head.length) upstream.write(head);

  const idle = rt.config.timeouts.tunnelIdle;
  if (idle > 0) {
    const onIdle = (): void => {
      if (!ctx.errorCode) {
        ctx.errorCode = 'TUNNEL_IDLE';
        ctx.errorReason = `no traffic for ${idle} ms`;
      }
      client.destroy();
      upstream.destroy();
    };
    client.setTimeout(idle, onIdle);
    upstream.setTimeout(idle, onIdle);
  }

  const onError = (side: 'client' | 'upstream') => (err: NodeJS.ErrnoException): void => {
    if (err instanceof ProxyError) ctx.fail(err);
    else if (!ctx.errorCode) {
      ctx.errorCode = side === 'upstream' ? toProxyError(err).code : 'CLIENT_ABORTED';
      ctx.errorReason = `${side} connection error: ${err.code ?? err.message}`;
    }
    client.destroy();
    upstream.destroy();
  };
  client.on('error', onError('client'));
  upstream.on('error', onError('upstream'));

  client.pipe(upstream);
  upstream.pipe(client);

  // Volume quota: bytes to the client are counted on a shared timer, and a tunnel that
  // used up its window is closed at the check that sees it (granularity quota.tunnelCheck).
  const ticket = ctx.quota;
  const meter = ticket && rt.quota
    ? rt.quota.meter(ticket, () => client.bytesWritten - clientBase, () => {
        const err = tunnelCutError(ticket, rt.config.quota.tunnelCheck);
        ctx.fail(err);
        ticket.hit = 'volume';
        rt.log.warn({ id: ctx.id, user: ctx.user, client: ctx.clientIp, url: ctx.url, quota: ticket.profile.name }, err.message);
        client.destroy();
        upstream.destroy();
      })
    : null;

  let closed = 0;
  const onClose = (): void => {
    if (++closed < 2) return;
    registry.delete(pair);
    meter?.stop();
    ctx.bytesIn = Math.max(0, upstream.bytesWritten - upstreamBase);
    ctx.bytesOut = Math.max(0, client.bytesWritten - clientBase);
    rt.accessLog.write(ctx, now());
  };
  client.once('close', onClose);
  upstream.once('close', onClose);
}
