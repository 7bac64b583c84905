import type { Server as HttpServer } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { bindServer, formatBound } from './bind.js';
import type { ProxyHeaderAcceptor } from './proxy-protocol-accept.js';

/**
 * A forward listener behind an L4 balancer: a net.Server that reads the PROXY protocol
 * header of each connection (ProxyHeaderAcceptor), then hands the socket, with the bytes
 * after the header put back, to the listener's node:http server — which never listens,
 * as for transparent listeners. The node:http server's 'connection' handler then admits
 * the socket through the client gate, by the client address the header named.
 */
export class ProxyProtocolListener {
  readonly server: Server;

  constructor(
    private readonly acceptor: ProxyHeaderAcceptor,
    private readonly http: HttpServer,
    private readonly log: () => Logger,
  ) {
    // allowHalfOpen and noDelay as node:http sets them on the sockets it accepts itself.
    this.server = createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.onConnection(socket));
    // node:http tracks connections (header timeouts, closeIdleConnections) from 'listening'.
    http.emit('listening');
  }

  async listen(host: string, port: number): Promise<AddressInfo> {
    const a = await bindServer(this.server, host, port);
    this.acceptor.label = formatBound(a);
    return a;
  }

  /** Stop accepting; connections still sending their header are closed. */
  close(): void {
    this.server.close();
    this.acceptor.close();
  }

  private onConnection(socket: Socket): void {
    socket.on('error', () => {}); // errors are reported by whoever uses the socket
    this.acceptor.accept(socket).then(
      (ok) => {
        if (!ok) return;
        this.http.emit('connection', socket);
        // Paused by the header read: node:http's 'data' listener does not resume it. On
        // the next tick, once the server has set the socket up (as transparent HTTP does).
        process.nextTick(() => socket.resume());
      },
      (err: unknown) => {
        socket.destroy();
        this.log().error({ err: String(err), listener: this.acceptor.label }, 'PROXY protocol listener: connection failed');
      },
    );
  }
}
