/**
 * The client address of a connection, as every consumer must see it: the client gate,
 * auth.sources, policy `sources`, quota keys, the access log, X-Forwarded-For. Behind an
 * L4 balancer speaking the PROXY protocol, the TCP peer is the balancer; the header
 * names the real client, and the listener records it here once it is parsed
 * (server/proxy-protocol-accept.ts). Everywhere else the peer is the client.
 *
 * Kept on the socket under a symbol (as the gate's refusal and the tunnel origin are),
 * so it lives and dies with the connection, and keep-alive requests see it too.
 */

export interface ClientAddress {
  address: string;
  port: number;
}

const kClient = Symbol('egressd.clientAddress');

/** What the accessors need of a socket (net.Socket, tls.TLSSocket). */
export interface AddressedSocket {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

type Carrier = AddressedSocket & { [kClient]?: ClientAddress };

export function clientIpOf(socket: AddressedSocket): string {
  return (socket as Carrier)[kClient]?.address ?? socket.remoteAddress ?? '';
}

export function clientPortOf(socket: AddressedSocket): number {
  return (socket as Carrier)[kClient]?.port ?? socket.remotePort ?? 0;
}

export function clientAddressOf(socket: AddressedSocket): ClientAddress {
  return { address: clientIpOf(socket), port: clientPortOf(socket) };
}

/** Record the client a PROXY protocol header named for this connection. */
export function setClientAddress(socket: AddressedSocket, client: ClientAddress): void {
  (socket as Carrier)[kClient] = { address: client.address, port: client.port };
}

/**
 * A socket layered over another (the TLSSocket of an intercepted tunnel wraps the raw
 * client socket) speaks for the same client: its own remoteAddress is the balancer's.
 */
export function inheritClientAddress(outer: AddressedSocket, inner: AddressedSocket): void {
  const c = (inner as Carrier)[kClient];
  if (c) (outer as Carrier)[kClient] = c;
}
