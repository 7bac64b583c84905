import type { Socket } from 'node:net';
import { CidrSet } from '../http/cidr.js';
import { clientIpOf } from '../http/client-address.js';
import { ProxyError } from '../http/errors.js';

const kRefusal = Symbol('egressd.refusal');
type GatedSocket = Socket & { [kRefusal]?: ProxyError };

/**
 * Admission of client connections: the clients.allow CIDRs and the connection limits
 * (total and per client address). Judged once per connection; a refused connection
 * is not cut at once but answered on its first request, so the client reads a reason
 * instead of a reset. The request-head timeout bounds how long it can linger.
 */
export class ClientGate {
  private readonly perIp = new Map<string, number>();
  private total = 0;
  private allow: CidrSet;
  /** Verdicts per client address: a CIDR check costs microseconds, new connections come often. */
  private readonly allowed = new Map<string, boolean>();

  constructor(allow: readonly string[], private maxTotal: number, private maxPerIp: number) {
    this.allow = new CidrSet(allow);
  }

  configure(allow: readonly string[], maxTotal: number, maxPerIp: number): void {
    this.allow = new CidrSet(allow);
    this.allowed.clear();
    this.maxTotal = maxTotal;
    this.maxPerIp = maxPerIp;
  }

  get connections(): number {
    return this.total;
  }

  /**
   * Count and judge a connection by its client address: on a PROXY protocol listener,
   * the header has been read by now and names the client, not the balancer.
   */
  admit(socket: Socket): void {
    const ip = clientIpOf(socket);
    const n = (this.perIp.get(ip) ?? 0) + 1;
    this.perIp.set(ip, n);
    this.total++;
    socket.once('close', () => {
      this.total--;
      const left = (this.perIp.get(ip) ?? 1) - 1;
      if (left <= 0) this.perIp.delete(ip);
      else this.perIp.set(ip, left);
    });
    const s = socket as GatedSocket;
    if (this.allow.size > 0 && !this.isAllowed(ip)) {
      s[kRefusal] = new ProxyError('CLIENT_FORBIDDEN', `client address ${ip} is not allowed to use this proxy`);
    } else if (this.total > this.maxTotal) {
      s[kRefusal] = new ProxyError('TOO_MANY_CONNECTIONS', `proxy connection limit (${this.maxTotal}) reached`);
    } else if (n > this.maxPerIp) {
      s[kRefusal] = new ProxyError('TOO_MANY_CONNECTIONS', `connection limit per client (${this.maxPerIp}) reached for ${ip}`);
    }
  }

  private isAllowed(ip: string): boolean {
    let ok = this.allowed.get(ip);
    if (ok === undefined) {
      ok = this.allow.has(ip);
      if (this.allowed.size >= 10_000) this.allowed.clear();
      this.allowed.set(ip, ok);
    }
    return ok;
  }

  /** The reason this connection was refused at admission, if it was. */
  refusal(socket: Socket): ProxyError | undefined {
    return (socket as GatedSocket)[kRefusal];
  }
}
