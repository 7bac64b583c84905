import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { SlotList } from '../util/slot-list.js';
import type { Config } from '../config/schema.js';
import { now, ProxyContext } from '../exchange/context.js';
import { handleRequest } from '../exchange/pipeline.js';
import { sendError, sendRawError } from '../exchange/respond.js';
import type { Runtime } from '../exchange/runtime.js';
import type { TransparentInfo } from '../exchange/transparent-target.js';
import { ProxyError } from '../http/errors.js';
import { handleConnect, type InterceptionDeps, type TunnelRegistry } from '../tunnel/connect.js';
import { originOf } from '../tunnel/intercept.js';
import { handleUpgrade } from '../tunnel/upgrade.js';
import { onClientIdle } from './body-idle.js';
import { handleClientError } from './client-error.js';
import type { ClientGate } from './client-gate.js';
import type { Generations } from './generations.js';

/** What the fronts need from the proxy that owns them; getters, so reloads show at once. */
export interface FrontDeps {
  runtime(): Runtime;
  /** The config the listeners were built from (limits and timeouts of node:http). */
  config(): Readonly<Config>;
  gate: ClientGate;
  draining(): boolean;
  interception(): InterceptionDeps | null;
  registry: TunnelRegistry;
  generations: Generations;
  /** Requests in flight and tunnel sockets, which shutdown waits for. */
  inflight: SlotList<ProxyContext>;
  /** Count a tunnel's client socket as open (status, metrics) and in flight (shutdown) until it closes. */
  trackTunnel(socket: Socket): void;
}

/**
 * The node:http servers requests arrive on (each forward listener's, a transparent
 * listener's, and the inner one for decrypted connections) and how each request or
 * tunnel is admitted and handed to the pipeline.
 */
export class HttpFront {
  constructor(private readonly d: FrontDeps) {}

  /**
   * The server decrypted sockets are handed to: never listens, same handlers, and the
   * destination of each request comes from the tunnel the socket belongs to.
   */
  inner(): Server {
    const server = this.httpServer();
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
      res.sendDate = false;
      const rt = this.d.runtime();
      this.track(rt, (done) => handleRequest(rt, req, res, originOf(req.socket), null, done));
    };
    server.on('request', onRequest);
    server.on('checkContinue', onRequest);
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => handleUpgrade(this.d.runtime(), req, socket, head, this.d.registry, originOf(socket)));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => handleClientError(this.d.runtime(), err, socket));
    // node:http tracks connections (request-head and keep-alive timeouts, and
    // closeIdleConnections at shutdown) from its 'listening' event; this server never
    // binds, so start the tracking the same way.
    server.emit('listening');
    return server;
  }

  /** A node:http server with the config's limits and timeouts (listeners and the inner server). */
  private httpServer(requireHostHeader = true): Server {
    const { timeouts, limits } = this.d.config();
    const server = createServer({
      requireHostHeader,
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: timeouts.requestHeaders,
      requestTimeout: 0, // bodies may take long (1 GiB uploads); idle time is bounded instead
      keepAliveTimeout: timeouts.clientIdle,
      connectionsCheckingInterval: Math.min(1000, timeouts.requestHeaders),
      noDelay: true,
      joinDuplicateHeaders: false,
    });
    server.setTimeout(timeouts.bodyIdle);
    server.on('timeout', onClientIdle);
    return server;
  }

  /**
   * Count a request as in flight until its response closes (for shutdown), holding its
   * generation's upstream open. `start` runs it and calls `done` when the response has
   * closed (one 'close' listener per response, the pipeline's).
   */
  private track(rt: Runtime, start: (done: () => void) => ProxyContext): void {
    const upstream = rt.upstream;
    this.d.generations.hold(upstream);
    // `done` runs on the response's 'close', which node emits asynchronously: ctx is set by then.
    const ctx = start(() => {
      this.d.inflight.delete(ctx);
      this.d.generations.release(upstream);
    });
    this.d.inflight.add(ctx);
  }

  /** A listener's node:http server; for a transparent one (`transparent` set), the one it hands HTTP to. */
  listener(transparent: TransparentInfo | null = null): Server {
    // Transparent: a request without Host gets our TRANSPARENT_NO_HOST and a log line,
    // not node's bare 400 (RFC 9112 §3.2 requires the 400 either way).
    const server = this.httpServer(!transparent);
    // A transparent listener admitted the socket before handing it over: count it once.
    if (!transparent) {
      server.on('connection', (socket: Socket) => {
        socket.on('error', () => {}); // errors are reported by whoever uses the socket
        this.d.gate.admit(socket);
      });
    }
    const onRequest = (req: IncomingMessage, res: ServerResponse): void => this.onRequest(req, res, transparent);
    server.on('request', onRequest);
    server.on('checkContinue', onRequest);
    server.on('connect', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onTunnel(req, socket, head, 'connect', transparent));
    server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => this.onTunnel(req, socket, head, 'upgrade', transparent));
    server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => handleClientError(this.d.runtime(), err, socket, transparent ? 'transparent' : 'forward'));
    return server;
  }

  private onRequest(req: IncomingMessage, res: ServerResponse, transparent: TransparentInfo | null): void {
    const rt = this.d.runtime();
    res.sendDate = false; // a proxy relays the origin's Date rather than inventing one
    const refusal = this.d.gate.refusal(req.socket) ?? (this.d.draining() ? new ProxyError('SHUTTING_DOWN', 'proxy is shutting down') : undefined);
    if (refusal) {
      const ctx = ProxyContext.of(rt.ids.next(), 'http', req.socket);
      if (transparent) ctx.mode = 'transparent';
      ctx.method = req.method ?? '';
      ctx.url = req.url ?? '';
      res.once('close', () => rt.accessLog.write(ctx, now()));
      sendError(rt, ctx, req, res, refusal, true);
      return;
    }
    this.track(rt, (done) => handleRequest(rt, req, res, null, transparent, done));
  }

  private onTunnel(req: IncomingMessage, socket: Socket, head: Buffer, kind: 'connect' | 'upgrade', transparent: TransparentInfo | null): void {
    const rt = this.d.runtime();
    const refusal =
      this.d.gate.refusal(socket) ??
      (this.d.draining() ? new ProxyError('SHUTTING_DOWN', 'proxy is shutting down') : undefined) ??
      // A redirected client talks to origins: one sending CONNECT knows of a proxy and should use a forward listener.
      (transparent && kind === 'connect' ? new ProxyError('BAD_REQUEST', 'CONNECT is not accepted on a transparent listener: use a forward listener') : undefined);
    if (refusal) {
      const ctx = ProxyContext.of(rt.ids.next(), kind, socket);
      if (transparent) ctx.mode = 'transparent';
      ctx.method = req.method ?? '';
      ctx.url = req.url ?? '';
      ctx.fail(refusal);
      ctx.status = refusal.status;
      sendRawError(socket, refusal, ctx.id, rt.via);
      rt.accessLog.write(ctx, now());
      return;
    }
    // Until the tunnel is spliced, the socket counts as in flight for shutdown.
    this.d.trackTunnel(socket);
    if (kind === 'connect') void handleConnect(rt, req, socket, head, this.d.registry, this.d.interception());
    else {
      // An upgrade is dispatched through the pool after its stages, like a request.
      this.d.generations.hold(rt.upstream);
      socket.once('close', () => this.d.generations.release(rt.upstream));
      handleUpgrade(rt, req, socket, head, this.d.registry, null, transparent);
    }
  }
}
