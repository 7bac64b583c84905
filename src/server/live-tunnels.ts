import type { Socket } from 'node:net';
import type { TunnelRegistry } from '../tunnel/splice.js';
import { SlotList, type Slotted } from '../util/slot-list.js';

type TunnelSocket = Socket & Slotted;

/**
 * The proxy's live tunnels. `sockets`: every socket of a tunnel (both ends once
 * spliced), which shutdown waits for and then cuts. `open`: tunnels by client socket
 * (CONNECT, upgrade, transparent TLS), for status and metrics. A SlotList, not a Set:
 * a tunnel a second churns a Set's table, and the tables left behind keep whole
 * finished tunnels alive into the old generation (util/slot-list.ts).
 */
export class LiveTunnels implements TunnelRegistry {
  readonly sockets = new SlotList<TunnelSocket>();
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
