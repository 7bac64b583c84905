import type { IncomingMessage, ServerResponse } from 'node:http';
import { forwardRequestHeaders } from '../http/headers.js';
import { ProxyError } from '../http/errors.js';
import { formatAuthority, normaliseHost, parseAbsoluteTarget, type Target } from '../http/target.js';
import type { ProxyContext } from './context.js';
import { serveLocal } from './local-pages.js';
import { targetUrl, transparentTarget, type TransparentInfo } from './transparent-target.js';
import type { RelayTap, ResponseRelay } from './response-relay.js';
import type { Runtime } from './runtime.js';

/** State shared by the stages of one exchange. */
export interface Exchange {
  readonly rt: Runtime;
  readonly ctx: ProxyContext;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  /** Headers to send upstream, built once by `prepareHeaders`. */
  headers: string[];
  /** The upstream request in flight, once forwarded (so a client abort can stop it). */
  relay: ResponseRelay | null;
  /** Set for requests decrypted inside an intercepted tunnel: where they go. */
  origin: TunnelOrigin | null;
  /** Set by the cache stage: watches the relayed response (store, revalidate, invalidate). */
  tap: RelayTap | null;
  /** Set by the cache stage for uncached responses: X-Cache / Cache-Status fields to add. */
  cacheHeaders: readonly string[] | null;
  /** Set for requests on a transparent listener: origin-form targets are rebuilt from Host. */
  transparent: TransparentInfo | null;
}

/** The destination of an intercepted tunnel (SNI or CONNECT host, and CONNECT port). */
export interface TunnelOrigin {
  host: string;
  port: number;
  /** The ClientHello server name, when the client sent one. */
  sni: string | null;
  /** Who opened the tunnel: every decrypted request inside it carries this identity. */
  user: string | null;
  groups: readonly string[];
  /** The tunnel came through a transparent listener (its requests are logged with mode: transparent). */
  transparent?: boolean;
}

/** Absolute-form targets are proxied; origin-form means someone browsed to the proxy itself. */
export function parseTarget(x: Exchange): boolean {
  // node's parser accepts an HTTP/0.9-style line without a version; nobody should send it.
  if (x.req.httpVersionMajor < 1) throw new ProxyError('BAD_REQUEST', 'request line has no HTTP version (HTTP/0.9 is not supported)');
  const url = x.req.url ?? '';
  if (x.origin) return originFormInTunnel(x, x.origin, url);
  let t: Target;
  if (x.transparent && (url.startsWith('/') || url === '*')) {
    t = transparentTarget(url, x.req.headers.host, x.transparent);
    x.ctx.url = targetUrl(t);
  } else if (url.startsWith('/') || url === '*') {
    x.ctx.kind = 'local';
    x.ctx.url = url;
    x.ctx.status = serveLocal(x.rt, url, x.req.method ?? 'GET', x.req.headers.host ?? '', x.res);
    return true;
  } else {
    t = parseAbsoluteTarget(url);
  }
  x.ctx.target = t;
  // The reserved onboarding name (tls.onboardingHost) is answered here, whatever it
  // resolves to; so is a redirected client that names the transparent listener itself.
  const reserved = x.rt.config.tls.onboardingHost;
  if ((reserved !== '' && t.host === reserved) || (x.transparent && t.port === x.req.socket.localPort && t.host === x.req.socket.localAddress)) {
    x.ctx.kind = 'local';
    x.ctx.status = serveLocal(x.rt, t.path, x.req.method ?? 'GET', '', x.res);
    return true;
  }
  return false;
}

/**
 * A request inside an intercepted tunnel is in origin form; its destination is the
 * tunnel's. A Host naming another site (domain fronting) is refused: policy decided on
 * the tunnel's name and the request must not go elsewhere.
 */
function originFormInTunnel(x: Exchange, origin: TunnelOrigin, url: string): boolean {
  if (!url.startsWith('/')) throw new ProxyError('BAD_TARGET', 'requests inside a TLS tunnel must be in origin form');
  const hostHeader = x.req.headers.host;
  if (hostHeader !== undefined) {
    const m = /^(\[[^\]]+\]|[^:]+)(?::\d+)?$/.exec(hostHeader);
    const named = m ? normaliseHost(m[1]!) : undefined;
    if (named !== origin.host) {
      throw new ProxyError('BAD_TARGET', `Host "${hostHeader}" does not match the TLS server name "${origin.host}"`);
    }
  }
  x.ctx.target = { scheme: 'https', host: origin.host, port: origin.port, path: url };
  x.ctx.url = `https://${formatAuthority(origin.host, origin.port, 443)}${url}`;
  return false;
}

/** Copy headers once, minus hop-by-hop fields, and refuse forwarding loops (RFC 9110 §7.6.3). */
export function prepareHeaders(x: Exchange): boolean {
  // RFC 9112 §6.3: a request whose final transfer coding is not chunked has no
  // determinable length: 400 and close (node's parser would read it until the client
  // closes, so the request would hang, or its tail be taken as body).
  const te = x.req.headers['transfer-encoding'];
  if (te !== undefined && !/(^|,)\s*chunked\s*$/i.test(te)) {
    throw new ProxyError('BAD_REQUEST', `Transfer-Encoding "${te.slice(0, 64)}" does not end with chunked (RFC 9112 §6.3)`);
  }
  const t = x.ctx.target!;
  const { proxy } = x.rt.config;
  const out = forwardRequestHeaders(
    x.req.rawHeaders,
    { host: formatAuthority(t.host, t.port, t.scheme === 'https' ? 443 : 80), via: x.rt.via, xff: proxy.xForwardedFor, clientIp: x.ctx.clientIp },
    proxy.name,
  );
  if (out.loop) throw new ProxyError('LOOP_DETECTED', `request already passed through ${proxy.name} (Via): forwarding loop`);
  x.headers = out.headers;
  const method = x.req.method;
  if ((method === 'TRACE' || method === 'OPTIONS') && out.maxForwards !== undefined) return maxForwards(x, out.maxForwards);
  return false;
}

/**
 * RFC 9110 §7.6.2: a TRACE or OPTIONS with Max-Forwards 0 is answered here; otherwise
 * the value is decremented before forwarding.
 */
function maxForwards(x: Exchange, value: number): boolean {
  if (value > 0) {
    for (let i = 0; i < x.headers.length; i += 2) {
      if (x.headers[i]!.toLowerCase() === 'max-forwards') x.headers[i + 1] = String(value - 1);
    }
    return false;
  }
  x.ctx.status = 200;
  if (x.req.method === 'OPTIONS') {
    x.res.writeHead(200, { allow: 'GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS, TRACE, CONNECT', 'content-length': 0 });
    x.res.end();
    return true;
  }
  // §9.3.8: echo the request as received, minus fields likely to carry credentials.
  const sensitive = new Set(['proxy-authorization', 'authorization', 'cookie']);
  const raw = x.req.rawHeaders;
  let head = `${x.req.method} ${x.req.url} HTTP/${x.req.httpVersion}\r\n`;
  for (let i = 0; i < raw.length; i += 2) if (!sensitive.has(raw[i]!.toLowerCase())) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  head += '\r\n';
  x.res.writeHead(200, { 'content-type': 'message/http', 'content-length': Buffer.byteLength(head) });
  x.res.end(head);
  return true;
}
