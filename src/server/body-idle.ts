import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/**
 * `timeouts.bodyIdle` on a client connection (node:http `server.setTimeout`). Node
 * destroys a socket whose 'timeout' nobody handles, which made an origin that went
 * silent mid-body look like the client's fault: the client socket is idle too, its
 * timer fired first and the log said CLIENT_ABORTED. With this listener installed the
 * decision is ours:
 *
 * - the request was read to the end and nothing waits to be written to the client: the
 *   proxy is waiting for its upstream, whose own timers (upstreamHeaders, bodyIdle) end
 *   the exchange with UPSTREAM_TIMEOUT and the right response (504, or a cut);
 * - otherwise (a stalled upload, a client that stopped reading, an idle keep-alive or
 *   tunnel socket): the client is the silent party, close it as node would.
 */
export function onClientIdle(socket: Socket): void {
  // node:http keeps the response being written on the socket (its own bookkeeping).
  const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (res && !res.writableEnded && res.req?.complete && socket.writableLength === 0 && res.writableLength === 0) return;
  socket.destroy();
}
