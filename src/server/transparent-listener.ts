import type { Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { clientIpOf } from '../http/client-address.js';
import { ProxyError, type ErrorCode } from '../http/errors.js';
import { formatAuthority, normaliseHost } from '../http/target.js';
import { now, ProxyContext } from '../exchange/context.js';
import type { Runtime } from '../exchange/runtime.js';
import type { TransparentInfo } from '../exchange/transparent-target.js';
import { runTunnel, type InterceptionDeps, type TunnelRegistry } from '../tunnel/connect.js';
import { peekClientHello } from '../tls/peek-client-hello.js';
import type { ClientGate } from './client-gate.js';
import { bindServer, formatBound } from './bind.js';
import { sniffFirstBytes } from './first-bytes.js';
import type { ProxyHeaderAcceptor } from './proxy-protocol-accept.js';

/** A ClientHello larger than this is not one (the same bound as for CONNECT). */
const MAX_HELLO = 16 * 1024;

export interface TransparentDeps {
  /** Admission (clients.allow, connection limits); the socket is counted here, once. */
  gate: ClientGate;
  /** The current generation: a reload swaps it, connections already running keep theirs. */
  runtime(): Runtime;
  interception(): InterceptionDeps | null;
  registry: TunnelRegistry;
  /** Count a TLS connection as an open tunnel (status, metrics) and in flight (shutdown) until it closes. */
  track(socket: Socket): void;
  draining(): boolean;
  /** The node:http server plain HTTP connections are handed to; it never listens. */
  http: HttpServer;
  /** With `proxyProtocol`: reads the balancer's header before admission and sniffing. */
  acceptor: ProxyHeaderAcceptor | null;
}

/**
 * A listener for connections a firewall redirected here (iptables/nftables REDIRECT;
 * docs/transparent.md). The client believes it talks to the origin, so the first bytes
 * say where it wants to go: a TLS ClientHello's SNI, or an HTTP request's Host header.
 * Nothing else is forwarded: without a name, the destination is unknown (Node cannot
 * read SO_ORIGINAL_DST), and sending the bytes anywhere would be forwarding blindly.
 *
 *   accept → [PROXY protocol header] → ClientGate.admit → sniff the first bytes (timeouts.requestHeaders)
 *     ├ HTTP → the node:http server (same handlers as a forward listener; origin-form
 *     │        targets are rebuilt from Host by the exchange pipeline)
 *     ├ TLS  → read the whole ClientHello → SNI → the tunnel pipeline (tunnel/connect.ts:
 *     │        identify by address → decide with host = SNI, port = tlsPort → limit →
 *     │        intercept or dial) without a 200
 *     └ else → close, one log line
 */
export class TransparentListener {
  readonly server: Server;
  readonly info: TransparentInfo;
  /** Connections still being sniffed: shutdown closes them (nothing was forwarded yet). */
  private readonly sniffing = new Set<Socket>();

  constructor(info: TransparentInfo, private readonly deps: TransparentDeps) {
    this.info = info;
    // allowHalfOpen as node:http sets it: a FIN from the client ends only its direction.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.onConnection(socket));
    // node:http tracks connections (header timeouts, closeIdleConnections) from 'listening'.
    deps.http.emit('listening');
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const a = await bindServer(this.server, host, port);
    if (this.deps.acceptor) this.deps.acceptor.label = formatBound(a);
    return a;
  }

  /** Stop accepting; connections not yet classified are closed. */
  close(): void {
    this.server.close();
    for (const s of this.sniffing) s.destroy();
    this.sniffing.clear();
    this.deps.acceptor?.close();
  }

  private onConnection(socket: Socket): void {
    socket.on('error', () => {}); // errors are reported by whoever uses the socket
    this.sniffing.add(socket);
    this.start(socket).catch((err: unknown) => {
      // Not expected (every path logs its own outcome); never let it take the process down.
      this.sniffing.delete(socket);
      socket.destroy();
      this.deps.runtime().log.error({ err: String(err), client: clientIpOf(socket) }, 'transparent connection failed');
    });
  }

  /** Behind a balancer, the header first: admission and every log line use the client it names. */
  private async start(socket: Socket): Promise<void> {
    const { acceptor } = this.deps;
    if (acceptor && !(await acceptor.accept(socket))) {
      this.sniffing.delete(socket);
      return;
    }
    this.deps.gate.admit(socket);
    await this.classify(socket);
  }

  private async classify(socket: Socket): Promise<void> {
    const rt = this.deps.runtime();
    const deadline = Date.now() + rt.config.timeouts.requestHeaders;
    const first = await sniffFirstBytes(socket, rt.config.timeouts.requestHeaders);
    if (first.kind === 'http') {
      this.sniffing.delete(socket);
      // The request is parsed by node:http from the start: give back what was read.
      socket.unshift(first.bytes);
      this.deps.http.emit('connection', socket);
      // Paused by the sniffing: node:http's 'data' listener does not resume it. On the
      // next tick, as httpolyglot and friends do, once the server has set the socket up.
      process.nextTick(() => socket.resume());
      return;
    }
    if (first.kind !== 'tls') {
      this.sniffing.delete(socket);
      return this.drop(rt, socket, first.kind === 'closed' ? 'CLIENT_ABORTED' : first.kind === 'timeout' ? 'REQUEST_TIMEOUT' : 'TRANSPARENT_UNKNOWN_PROTOCOL', this.why(first.kind, first.bytes, rt));
    }
    const hello = await peekClientHello(socket, Math.max(1, deadline - Date.now()), MAX_HELLO, first.bytes);
    this.sniffing.delete(socket);
    if (hello.kind !== 'tls') {
      const code = hello.kind === 'closed' ? 'CLIENT_ABORTED' : hello.kind === 'timeout' ? 'REQUEST_TIMEOUT' : 'TRANSPARENT_UNKNOWN_PROTOCOL';
      return this.drop(rt, socket, code, hello.kind === 'timeout' ? `incomplete TLS ClientHello after ${rt.config.timeouts.requestHeaders} ms` : `not a TLS ClientHello (${hello.kind === 'not-tls' ? hello.reason : hello.kind})`);
    }
    const sni = hello.sni ? normaliseHost(hello.sni) : undefined;
    if (!sni) {
      const why = hello.sni ? `the ClientHello's server name "${hello.sni.slice(0, 100)}" is not a valid host name` : 'the ClientHello has no server name (SNI)';
      return this.drop(rt, socket, 'TRANSPARENT_NO_SNI', `${why}, so the destination is unknown (transparent mode cannot see the original address)`);
    }
    const ctx = this.context(rt, socket);
    ctx.url = formatAuthority(sni, this.info.tlsPort);
    ctx.sni = sni;
    const refusal = this.deps.gate.refusal(socket) ?? (this.deps.draining() ? new ProxyError('SHUTTING_DOWN', 'proxy is shutting down') : undefined);
    if (refusal) return this.drop(rt, socket, refusal.code, refusal.message, ctx);
    // Until the tunnel is spliced, the socket counts as in flight for shutdown.
    this.deps.track(socket);
    const t = { host: sni, port: this.info.tlsPort, headers: {}, head: hello.bytes, hello };
    await runTunnel(rt, ctx, socket, t, this.deps.registry, this.deps.interception());
  }

  private why(kind: 'other' | 'timeout' | 'closed', bytes: Buffer, rt: Runtime): string {
    if (kind === 'closed') return bytes.length ? 'client closed the connection before its first bytes could be classified' : 'client closed the connection without sending anything';
    if (kind === 'timeout') return `client sent no recognisable HTTP request or TLS ClientHello within ${rt.config.timeouts.requestHeaders} ms`;
    // A short, printable prefix helps tell a scanner from a misrouted protocol.
    const sample = JSON.stringify(bytes.subarray(0, 16).toString('latin1'));
    return `neither HTTP nor TLS (first bytes ${sample}): closed, not forwarded`;
  }

  private context(rt: Runtime, socket: Socket): ProxyContext {
    const ctx = ProxyContext.of(rt.ids.next(), 'connect', socket);
    ctx.mode = 'transparent';
    ctx.method = 'CONNECT';
    ctx.tls = 'tunnel';
    return ctx;
  }

  /** Close a connection that will not be forwarded, with its log line. */
  private drop(rt: Runtime, socket: Socket, code: ErrorCode | 'CLIENT_ABORTED', reason: string, ctx = this.context(rt, socket)): void {
    // Status 0: closed without a response (a TLS client expects a ServerHello, not HTTP).
    ctx.errorCode = code;
    ctx.errorReason = reason;
    socket.destroy();
    rt.accessLog.write(ctx, now());
  }
}
