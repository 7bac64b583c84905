import { performance } from 'node:perf_hooks';
import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { inheritClientAddress } from '../http/client-address.js';
import { toProxyError } from '../http/errors.js';
import { normaliseHost } from '../http/target.js';
import { now, type ProxyContext } from '../exchange/context.js';
import type { TunnelOrigin } from '../exchange/request-checks.js';
import type { Runtime } from '../exchange/runtime.js';
import { peekClientHello } from '../tls/peek-client-hello.js';
import type { TunnelRequest } from './connect.js';
import type { Interceptor } from './interceptor.js';
import { ESTABLISHED, splice, type TunnelRegistry } from './splice.js';

const MAX_HELLO = 16 * 1024;

const kOrigin = Symbol('egressd.tunnelOrigin');

/** Where the requests on a decrypted socket go (set by interception, read by the inner server). */
export function originOf(socket: Socket): TunnelOrigin | null {
  const s = socket as Socket & { [kOrigin]?: TunnelOrigin; [kUsed]?: boolean };
  const origin = s[kOrigin] ?? null;
  // Reading the origin means a request arrived on this decrypted connection.
  if (origin) s[kUsed] = true;
  return origin;
}

const kUsed = Symbol('egressd.tunnelUsed');

/** The inner servers decrypted sockets are handed to: plain node:http servers that never listen. */
export interface InnerServers {
  http: Server;
}

/**
 * A tunnel where interception may apply. The choice uses the SNI, so a CONNECT is
 * answered 200 first and the ClientHello peeked (a transparent client has sent its
 * ClientHello already, and gets no 200); then either the TLS is terminated with a leaf
 * for that name and every request inside goes through the normal exchange pipeline, or
 * the bytes are tunnelled untouched. Anything that is not TLS (plain HTTP, SSH, a
 * server-speaks-first protocol) falls back to a blind tunnel.
 *
 * Because 200 is sent before the origin is dialed, a destination that cannot be reached
 * shows up as an error page inside the decrypted connection, or as a closed tunnel.
 */
export async function interceptConnect(
  rt: Runtime,
  ctx: ProxyContext,
  client: Socket,
  t: TunnelRequest,
  icpt: Interceptor,
  inner: InnerServers,
  registry: TunnelRegistry,
): Promise<void> {
  const { host, port } = t;
  ctx.status = 200;
  let peek = t.hello;
  if (!peek) {
    client.write(ESTABLISHED);
    peek = await peekClientHello(client, rt.config.tls.helloTimeout, MAX_HELLO, t.head);
  }
  if (peek.kind === 'closed') return finish(rt, ctx, client, 'CLIENT_ABORTED', 'client closed the tunnel before sending anything');
  const sni = peek.kind === 'tls' && peek.sni ? normaliseHost(peek.sni) : undefined;
  const name = sni ?? host;
  if (peek.kind === 'tls' && icpt.choose(name, ctx.decision?.tls) === 'intercept') {
    return terminate(rt, ctx, client, peek.bytes, name, sni ?? null, port, icpt, inner);
  }
  // Tunnel untouched: dial now and replay what was peeked.
  ctx.tls = 'tunnel';
  ctx.sni = sni ?? null;
  let upstream: Socket;
  try {
    const tunnel = await rt.upstream.tunnel(host, port, ctx.decision?.route, { host: name, client: ctx.clientIp, user: ctx.user }, undefined, ctx);
    upstream = tunnel.socket;
    ctx.upstream = tunnel.upstream;
  } catch (err) {
    client.destroy();
    const pe = toProxyError(err);
    // A CONNECT client got its 200 already; a transparent one got nothing.
    if (t.hello) ctx.status = 0;
    return finish(rt, ctx, client, pe.code, pe.message);
  }
  if (client.destroyed) {
    upstream.destroy();
    return finish(rt, ctx, client, 'CLIENT_ABORTED', 'client left before the tunnel was established');
  }
  client.resume();
  splice(rt, ctx, client, upstream, '', peek.bytes, registry);
}

async function terminate(rt: Runtime, ctx: ProxyContext, client: Socket, hello: Buffer, name: string, sni: string | null, port: number, icpt: Interceptor, inner: InnerServers): Promise<void> {
  // The tunnel's tlsMs is the handshake with the client, certificate issuance included.
  const t0 = performance.now();
  let leaf;
  try {
    leaf = await icpt.leaves.get(name);
  } catch (err) {
    client.destroy();
    return finish(rt, ctx, client, 'TLS_HANDSHAKE_FAILED', `cannot issue a certificate for ${name}: ${(err as Error).message}`);
  }
  ctx.tls = 'intercepted';
  ctx.sni = sni;
  client.unshift(hello);
  const tls = new TLSSocket(client, { isServer: true, secureContext: leaf.secureContext, ALPNProtocols: ['http/1.1'] });
  // Its remoteAddress is the raw socket's peer (a balancer, with the PROXY protocol): the decrypted requests come from the client.
  inheritClientAddress(tls, client);
  // The identity established at CONNECT goes with the socket to every decrypted request.
  const origin: TunnelOrigin = { host: name, port, sni, user: ctx.user, groups: ctx.groups };
  if (ctx.mode === 'transparent') origin.transparent = true;
  (tls as TLSSocket & { [kOrigin]?: TunnelOrigin })[kOrigin] = origin;
  let secure = false;
  // The ClientHello arrived, but a client that then stalls must not hold the socket
  // (and a leaf handshake's state) forever: the same bound as waiting for the hello.
  const limit = rt.config.tls.helloTimeout;
  const stalled = setTimeout(() => {
    ctx.errorCode = 'TLS_HANDSHAKE_TIMEOUT';
    ctx.errorReason = `client did not complete the TLS handshake for ${name} within ${limit} ms`;
    tls.destroy();
  }, limit);
  tls.once('secure', () => {
    secure = true;
    ctx.tlsMs = performance.now() - t0;
    clearTimeout(stalled);
    inner.http.emit('connection', tls);
  });
  tls.on('error', (err: NodeJS.ErrnoException) => {
    if (secure) return; // the inner server reports errors of requests in progress
    const code = err.code ?? '';
    // The client sent a fatal alert about our certificate: pinned app or untrusted CA.
    if (/ALERT_(UNKNOWN_CA|BAD_CERTIFICATE|CERTIFICATE_UNKNOWN|UNSUPPORTED_CERTIFICATE|ACCESS_DENIED)/.test(code)) {
      const learned = icpt.recordRejection(name);
      ctx.errorCode = 'TLS_CLIENT_REJECTED';
      ctx.errorReason = `client rejected the interception certificate for ${name} (${code})${learned ? '; host now tunnelled untouched' : ''}`;
    } else if (!ctx.errorCode) {
      ctx.errorCode = 'TLS_HANDSHAKE_FAILED';
      ctx.errorReason = `TLS handshake with the client failed for ${name}: ${code || err.message}`;
    }
    tls.destroy();
  });
  // The raw socket came from node:http with allowHalfOpen: a client FIN before any
  // request would otherwise leave this side open until a timeout.
  tls.on('end', () => {
    // Deferred: an alert read together with the FIN is reported just after 'end'.
    if (!secure || !(tls as TLSSocket & { [kUsed]?: boolean })[kUsed]) setImmediate(() => tls.destroy());
  });
  const base = { in: client.bytesRead, out: client.bytesWritten };
  // The TLS socket owns the connection now (it may take over the raw socket's handle):
  // its 'close' is the end of the tunnel.
  tls.once('close', () => {
    clearTimeout(stalled);
    client.destroy();
    const used = (tls as TLSSocket & { [kUsed]?: boolean })[kUsed] === true;
    if (!secure && !ctx.errorCode) {
      // Walked away mid-handshake after seeing our certificate, without an alert: what
      // Node, Go and Java clients do when they do not trust it. Not counted towards
      // learning: a client closing right after its own handshake can look the same.
      ctx.errorCode = 'TLS_CLIENT_REJECTED';
      ctx.errorReason = `client closed the connection during the TLS handshake, after receiving our certificate: it probably does not trust the interception certificate for ${name}`;
    } else if (!used && !ctx.errorCode) {
      // Not counted towards learning: browsers open spare connections they never use.
      ctx.errorCode = 'TLS_NO_REQUEST';
      ctx.errorReason = `client closed the decrypted connection for ${name} without sending a request (an unused preconnection, or a client that rejected the certificate after the handshake)`;
    }
    ctx.bytesIn = client.bytesRead - base.in;
    ctx.bytesOut = client.bytesWritten - base.out;
    rt.accessLog.write(ctx, now());
  });
}

function finish(rt: Runtime, ctx: ProxyContext, client: Socket, code: string, reason: string): void {
  ctx.errorCode = code;
  ctx.errorReason = reason;
  if (!client.destroyed) client.destroy();
  rt.accessLog.write(ctx, now());
}

