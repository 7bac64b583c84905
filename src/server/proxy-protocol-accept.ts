import type { Socket } from 'node:net';
import { CidrSet } from '../http/cidr.js';
import { setClientAddress } from '../http/client-address.js';
import { ProxyError, type ErrorCode } from '../http/errors.js';
import { formatAuthority } from '../http/target.js';
import type { Runtime } from '../exchange/runtime.js';
import { readPrefix } from './first-bytes.js';
import { parseProxyHeader, type ProxyHeaderResult, type ProxyProtocolVersion } from './proxy-protocol.js';

export interface AcceptorDeps {
  /** The current generation: its log, timeouts.requestHeaders and limits.maxConnections. */
  runtime(): Runtime;
  /** Connections the client gate counts now (admitted ones, all listeners). */
  connections(): number;
}

/**
 * The PROXY protocol step of a listener with `proxyProtocol` set, run on accept before
 * anything else sees the connection (the client gate included, so that admission judges
 * the real client): like HAProxy's `accept-proxy` with an ACL on the balancers.
 *
 *   peer in proxyFrom? ─ no → close (PROXY_PROTOCOL_FORBIDDEN)
 *   below limits.maxConnections, counting those still sending a header? ─ no → close (TOO_MANY_CONNECTIONS)
 *   read the header (timeouts.requestHeaders) ─ timeout → close (PROXY_PROTOCOL_TIMEOUT)
 *                                              └ malformed / wrong version → close (PROXY_PROTOCOL_INVALID)
 *   record the client it names (http/client-address.ts), give back the bytes after it
 *
 * The header is required from those peers: the spec forbids guessing whether one is
 * there, which would let anyone who can reach the port claim any address. Each refusal
 * is one server-log line at warn with its stable code, nothing is answered (the peer is
 * a balancer, not an HTTP client); a balancer that connects and closes without a byte
 * (a plain TCP health check) is logged at debug only.
 */
export class ProxyHeaderAcceptor {
  private readonly from: CidrSet;
  /** Connections whose header is still awaited: shutdown closes them (nothing was read for them yet). */
  private readonly reading = new Set<Socket>();
  /** The listener's bound address, for log lines (set once it is bound). */
  label = '';

  constructor(
    private readonly version: ProxyProtocolVersion,
    from: readonly string[],
    private readonly deps: AcceptorDeps,
  ) {
    this.from = new CidrSet(from);
  }

  /**
   * Resolves true once the header is read: the client address is recorded and the
   * socket is paused with the bytes after the header unshifted. False: the socket was
   * closed and the reason logged. Never rejects.
   */
  async accept(socket: Socket): Promise<boolean> {
    const rt = this.deps.runtime();
    // The TCP peer, on purpose: this is the balancer, and only balancers may speak first.
    const peer = socket.remoteAddress;
    if (peer === undefined) {
      // Reset before it could be accepted (HAProxy closes its health checks with an RST): nothing to judge.
      rt.log.debug({ listener: this.label }, 'PROXY protocol: connection reset before its peer address could be read');
      socket.destroy();
      return false;
    }
    if (!this.from.has(peer)) {
      return this.refuse(rt, socket, 'PROXY_PROTOCOL_FORBIDDEN', `${peer} is not in the listener's proxyFrom, so it may not send a PROXY protocol header`);
    }
    // Not yet admitted by the gate, but holding a socket all the same: they count.
    const max = rt.config.limits.maxConnections;
    if (this.deps.connections() + this.reading.size >= max) {
      return this.refuse(rt, socket, 'TOO_MANY_CONNECTIONS', `proxy connection limit (${max}) reached, ${this.reading.size} of them still sending their PROXY protocol header`);
    }
    const limit = rt.config.timeouts.requestHeaders;
    this.reading.add(socket);
    const r = await readPrefix<ProxyHeaderResult>(socket, limit, (bytes) => {
      const p = parseProxyHeader(bytes, this.version);
      return p.kind === 'incomplete' ? undefined : p;
    });
    const closedByUs = !this.reading.delete(socket);
    if (r.kind === 'timeout') return this.refuse(rt, socket, 'PROXY_PROTOCOL_TIMEOUT', `no complete PROXY protocol header within ${limit} ms (${r.bytes.length} bytes received)`);
    if (r.kind === 'closed') {
      if (closedByUs || r.bytes.length === 0) {
        if (!closedByUs) rt.log.debug({ peer: this.endpoint(socket), listener: this.label }, 'PROXY protocol: peer closed without sending a header (a TCP health check?)');
        socket.destroy();
        return false;
      }
      return this.refuse(rt, socket, 'PROXY_PROTOCOL_INVALID', `peer closed the connection inside the PROXY protocol header (${r.bytes.length} bytes received)`);
    }
    const h = r.value;
    if (h.kind !== 'header') return this.refuse(rt, socket, 'PROXY_PROTOCOL_INVALID', h.kind === 'invalid' ? h.reason : 'incomplete header');
    // LOCAL (a health check), UNKNOWN, AF_UNSPEC and AF_UNIX keep the connection's own address.
    if (h.source) setClientAddress(socket, h.source);
    const rest = r.bytes.subarray(h.length);
    if (rest.length > 0) socket.unshift(rest);
    return true;
  }

  /** Stop: close the connections whose header has not arrived. */
  close(): void {
    for (const s of this.reading) s.destroy();
    this.reading.clear();
  }

  private refuse(rt: Runtime, socket: Socket, code: ErrorCode, reason: string): false {
    const err = new ProxyError(code, reason);
    const peer = this.endpoint(socket);
    socket.destroy();
    rt.log.warn({ code: err.code, peer, listener: this.label, reason }, `PROXY protocol: ${reason}; connection closed`);
    return false;
  }

  private endpoint(socket: Socket): string {
    return formatAuthority(socket.remoteAddress ?? '', socket.remotePort ?? 0);
  }
}
