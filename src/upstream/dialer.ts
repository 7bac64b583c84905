import { connect, isIP, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { canonicalIp } from '../http/cidr.js';
import { ProxyError, toProxyError } from '../http/errors.js';
import { performance } from 'node:perf_hooks';
import type { AddressGuard } from './address-guard.js';
import { since, type ConnectPhases } from './connect-phases.js';
import type { DnsCache } from './dns-cache.js';

/**
 * What calls a dial off: the abort half of an AbortSignal (which fits it as is), or
 * anything shaped like it — a tunnel passes its client socket's close (tunnel/connect.ts),
 * which spares an AbortController and its EventTarget per CONNECT.
 */
export interface DialCancel {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/** A socket's close as a DialCancel: a tunnel's dial is called off when its client leaves. */
export class CancelOnClose implements DialCancel {
  constructor(private readonly socket: Socket) {}
  get aborted(): boolean {
    return this.socket.destroyed;
  }
  addEventListener(_type: 'abort', listener: () => void): void {
    this.socket.once('close', listener);
  }
  removeEventListener(_type: 'abort', listener: () => void): void {
    this.socket.removeListener('close', listener);
  }
}

export interface Dialed {
  socket: Socket;
  /** The address actually connected to (the one that passed the guard). */
  address: string;
}

const ANY4 = '0.0.0.0';
const ANY6 = canonicalIp('::');
const LOOPBACK6 = canonicalIp('::1');

/**
 * Endpoints the proxy itself listens on (forward, transparent and admin listeners):
 * connecting there would loop through egressd, or hand a client the admin API.
 * Addresses are compared in one canonical spelling, so "::ffff:7f00:1" and
 * "0:0:0:0:0:ffff:127.0.0.1" are 127.0.0.1 here as they are to the kernel.
 */
export class SelfEndpoints {
  private readonly exact = new Set<string>();
  private readonly wildcardPorts = new Set<number>();
  /** Every port we listen on, whatever the address: the cheap first test. */
  private readonly ports = new Set<number>();

  add(address: string, port: number): void {
    const a = canonicalIp(address);
    this.ports.add(port);
    if (a === ANY4 || a === ANY6) this.wildcardPorts.add(port);
    else this.exact.add(`${a}|${port}`);
  }

  has(address: string, port: number): boolean {
    if (!this.ports.has(port)) return false;
    const a = canonicalIp(address);
    if (this.exact.has(`${a}|${port}`)) return true;
    // The unspecified address as a destination means "this host" (RFC 1122 §3.2.1.3;
    // Linux connects 0.0.0.0 and :: to a local address), whatever address we bound.
    if (a === ANY4 || a === ANY6) return true;
    if (!this.wildcardPorts.has(port)) return false;
    if (a.startsWith('127.') || a === LOOPBACK6) return true;
    return Object.values(networkInterfaces()).some((list) => list?.some((i) => canonicalIp(i.address) === a));
  }
}

/**
 * Opens TCP connections to destinations: resolve once, check every address against
 * the guard, then connect to an address that passed — never re-resolve in between,
 * so DNS rebinding cannot swap the checked address for another.
 */
export class Dialer {
  /** Last address each host was dialed at, for log lines (no guard or DNS work per request). */
  private readonly lastAddress = new Map<string, string>();

  constructor(
    private readonly dns: DnsCache,
    private readonly guard: AddressGuard,
    private readonly self: SelfEndpoints,
    private readonly connectTimeout: number,
  ) {}

  /**
   * `halfOpen`: keep our write side open after the peer's FIN (tunnels relay a
   * half-close instead of turning it into a full close).
   */
  async dial(host: string, port: number, signal?: DialCancel, halfOpen = false, phases?: ConnectPhases): Promise<Dialed> {
    const t0 = performance.now();
    const all = await this.dns.resolve(host);
    return this.connectTimed(host, port, this.guard.filter(host, all), signal, halfOpen, phases, t0);
  }

  /**
   * A parent proxy from the config: resolved and connected like a destination, but not
   * subject to the private-address guard (parents usually live on internal addresses and
   * the admin named them). Connecting to ourselves is still refused.
   */
  async dialParent(host: string, port: number, signal?: DialCancel, halfOpen = false, phases?: ConnectPhases): Promise<Dialed> {
    const t0 = performance.now();
    return this.connectTimed(host, port, await this.dns.resolve(host), signal, halfOpen, phases, t0);
  }

  /** The destination guard alone, for routes where a parent resolves the name: IP literals are checked. */
  checkLiteral(host: string): void {
    if (isIP(host)) this.guard.filter(host, [host]);
  }

  /** connectFirst, noting in `phases` how long the lookup (started at t0) and the connect took. */
  private async connectTimed(host: string, port: number, addresses: readonly string[], signal: DialCancel | undefined, halfOpen: boolean, phases: ConnectPhases | undefined, t0: number): Promise<Dialed> {
    if (!phases) return this.connectFirst(host, port, addresses, signal, halfOpen);
    const t1 = performance.now();
    if (!isIP(host)) phases.dnsMs = t1 - t0;
    try {
      return await this.connectFirst(host, port, addresses, signal, halfOpen);
    } finally {
      // A refused or timed-out connect took time too: the log line says how long.
      phases.connectMs = since(t1);
    }
  }

  private async connectFirst(host: string, port: number, addresses: readonly string[], signal: DialCancel | undefined, halfOpen: boolean): Promise<Dialed> {
    let last: ProxyError | undefined;
    for (const address of addresses) {
      if (this.self.has(address, port)) {
        throw new ProxyError('LOOP_DETECTED', `destination ${host}:${port} is this proxy itself`);
      }
      try {
        const socket = await this.connectOne(address, port, signal, halfOpen);
        if (this.lastAddress.size > 10_000) this.lastAddress.clear();
        this.lastAddress.set(host, address);
        return { socket, address };
      } catch (err) {
        last = toProxyError(err);
        if (signal?.aborted) break;
      }
    }
    throw last ?? new ProxyError('UPSTREAM_UNREACHABLE', `no address to connect to for ${host}`);
  }

  /** Resolve and return the first address the guard permits (what `dial` tries first). */
  async resolvePermitted(host: string): Promise<string> {
    return this.guard.filter(host, await this.dns.resolve(host))[0]!;
  }

  /** The address `host` was last connected to, for logs; undefined if never. */
  addressOf(host: string): string | undefined {
    return this.lastAddress.get(host);
  }

  private connectOne(address: string, port: number, signal: DialCancel | undefined, halfOpen: boolean): Promise<Socket> {
    // A client that left already: do not open a connection only to close it.
    if (signal?.aborted) return Promise.reject(new ProxyError('UPSTREAM_RESET', 'client went away while connecting'));
    return new Promise((resolve, reject) => {
      const socket = connect({ host: address, port, family: isIP(address), noDelay: true, allowHalfOpen: halfOpen });
      const timer = setTimeout(() => fail(new ProxyError('UPSTREAM_TIMEOUT', `connect to ${address}:${port} timed out`)), this.connectTimeout);
      const onAbort = (): void => fail(new ProxyError('UPSTREAM_RESET', 'client went away while connecting'));
      signal?.addEventListener('abort', onAbort);
      const cleanup = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        socket.removeListener('error', fail);
        socket.removeListener('connect', ok);
      };
      function ok(): void {
        cleanup();
        resolve(socket);
      }
      function fail(err: Error): void {
        cleanup();
        socket.on('error', () => {}); // late errors after destroy must not crash the process
        socket.destroy();
        reject(err);
      }
      socket.once('connect', ok);
      socket.once('error', fail);
    });
  }
}
