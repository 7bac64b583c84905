import type { Socket } from 'node:net';
import type { TunnelRegistry } from '../tunnel/splice.js';

/**
 * The proxy's live tunnels. `sockets`: every socket of a tunnel (both ends once
 * spliced), which shutdown waits for and then cuts. `open`: tunnels by client socket
 * (CONNECT, upgrade, transparent TLS), for status and metrics.
 */
export class LiveTunnels implements TunnelRegistry {
  readonly sockets = new Set<Socket>();
  open = 0;

  add(sockets: Socket[]): void {
    for (const s of sockets) this.sockets.add(s);
  }

  delete(sockets: Socket[]): void {
    for (const s of sockets) this.sockets.delete(s);
  }

  /** A client socket that became a tunnel: counted until it closes. */
  readonly track = (socket: Socket): void => {
    this.sockets.add(socket);
    this.open++;
    socket.once('close', () => {
      this.sockets.delete(socket);
      this.open--;
    });
  };
}
