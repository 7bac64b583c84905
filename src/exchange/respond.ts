import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { STATUS_CODES } from 'node:http';
import { ProxyError } from '../http/errors.js';
import { errorHtml, errorText, wantsHtml, type PageInfo } from '../http/pages.js';
import type { ProxyContext } from './context.js';
import type { Runtime } from './runtime.js';

function pageInfo(rt: Runtime, ctx: ProxyContext, err: ProxyError): PageInfo {
  return {
    status: err.status,
    code: err.code,
    reason: err.message,
    requestId: ctx.id,
    target: ctx.method && ctx.url ? `${ctx.method} ${ctx.url}` : undefined,
    adminContact: rt.config.proxy.adminContact || undefined,
    proxyName: rt.config.proxy.name,
    ruleId: err.code === 'POLICY_DENIED' ? ctx.decision?.ruleId : undefined,
  };
}

/**
 * The one place a refusal or failure becomes a response: an HTML page for browsers,
 * one line of text otherwise, with the reason in X-Egressd-Error too (browsers hide
 * CONNECT error bodies). If the response already started, the connection is cut so
 * the client sees a truncated transfer instead of a silently wrong body.
 */
export function sendError(rt: Runtime, ctx: ProxyContext, req: IncomingMessage, res: ServerResponse, err: ProxyError, close = false): void {
  ctx.fail(err);
  if (res.headersSent) {
    ctx.status ||= res.statusCode;
    res.destroy();
    return;
  }
  ctx.status = err.status;
  const info = pageInfo(rt, ctx, err);
  const html = req.method !== 'CONNECT' && wantsHtml(req.headers.accept);
  const body = html ? errorHtml(info) : errorText(info);
  const headers: Record<string, string | number> = {
    'content-type': html ? 'text/html; charset=utf-8' : 'text/plain; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-egressd-error': `${err.code}: ${oneLine(err.message)}`,
    'x-request-id': ctx.id,
  };
  if (rt.via) headers.via = rt.via;
  if (err.retryAfter !== undefined) headers['retry-after'] = err.retryAfter;
  if (info.ruleId) headers['x-egressd-rule'] = info.ruleId;
  if (err.headers) Object.assign(headers, err.headers);
  if (close) headers.connection = 'close';
  res.shouldKeepAlive &&= !close;
  res.writeHead(err.status, headers);
  res.end(req.method === 'HEAD' ? undefined : body);
}

/**
 * For sockets that have no ServerResponse (CONNECT, upgrade, refused connections):
 * write a complete response by hand and close. Only ever used on a socket nobody else
 * writes to.
 */
export function sendRawError(socket: Duplex, err: ProxyError, requestId: string, via: string | null, ruleId?: string): void {
  const rule = ruleId ? `, rule ${ruleId}` : '';
  const body = `${err.status} ${STATUS_CODES[err.status] ?? ''}: ${err.message} (${err.code}${rule}, request ${requestId})\n`;
  const head =
    `HTTP/1.1 ${err.status} ${STATUS_CODES[err.status] ?? 'Error'}\r\n` +
    'content-type: text/plain; charset=utf-8\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n` +
    `x-egressd-error: ${err.code}: ${oneLine(err.message)}\r\n` +
    `x-request-id: ${requestId}\r\n` +
    (via ? `via: ${via}\r\n` : '') +
    (err.retryAfter !== undefined ? `retry-after: ${err.retryAfter}\r\n` : '') +
    (ruleId ? `x-egressd-rule: ${ruleId}\r\n` : '') +
    extraHeaders(err) +
    'connection: close\r\n\r\n';
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.end(head + body);
}

function extraHeaders(err: ProxyError): string {
  if (!err.headers) return '';
  let out = '';
  for (const [k, v] of Object.entries(err.headers)) out += `${k}: ${oneLine(v)}\r\n`;
  return out;
}

function oneLine(s: string): string {
  // Header values must not carry CR/LF or other control bytes (RFC 9110 §5.5).
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\x00-\x1f\x7f]+/g, ' ').slice(0, 300);
}
