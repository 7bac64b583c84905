import type { Socket } from 'node:net';
import { ProxyError, type ErrorCode } from '../http/errors.js';
import { now, ProxyContext } from '../exchange/context.js';
import { sendRawError } from '../exchange/respond.js';
import type { Runtime } from '../exchange/runtime.js';

/** llhttp / node error codes for requests that could not be parsed → our codes. */
function classify(err: NodeJS.ErrnoException): { code: ErrorCode; reason: string } | null {
  switch (err.code) {
    case 'HPE_HEADER_OVERFLOW':
      return { code: 'HEADERS_TOO_LARGE', reason: 'request header section is too large' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
    case 'HPE_HEADERS_TIMEOUT':
      return { code: 'REQUEST_TIMEOUT', reason: 'request head not received in time' };
    case 'ECONNRESET':
    case 'EPIPE':
    // The client closed mid-request: the exchange in progress logs it (CLIENT_ABORTED).
    case 'HPE_INVALID_EOF_STATE':
      return null;
    default: {
      const detail = (err as { reason?: string }).reason ?? err.message;
      return { code: 'BAD_REQUEST', reason: `malformed request: ${detail} (${err.code ?? 'parse error'})` };
    }
  }
}

/**
 * node:http's 'clientError': the request could not be parsed, so no ServerResponse
 * exists. Answer with a raw response (Connection: close) and log one line.
 */
export function handleClientError(rt: Runtime, err: NodeJS.ErrnoException, socket: Socket, mode: ProxyContext['mode'] = 'forward'): void {
  const c = classify(err);
  const ctx = ProxyContext.of(rt.ids.next(), 'http', socket);
  ctx.mode = mode;
  if (!c) {
    socket.destroy();
    return;
  }
  const pe = new ProxyError(c.code, c.reason);
  ctx.fail(pe);
  ctx.status = pe.status;
  // A response to this socket may already be in progress (pipelining); then just cut it.
  if ((socket as { _httpMessage?: unknown })._httpMessage) socket.destroy();
  else sendRawError(socket, pe, ctx.id, rt.via);
  rt.accessLog.write(ctx, now());
}
