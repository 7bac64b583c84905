import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { Agent, Dispatcher } from 'undici';
import { ProxyError, toProxyError } from '../http/errors.js';
import { formatAuthority } from '../http/target.js';
import { performance } from 'node:perf_hooks';
import { since, type ConnectPhases } from './connect-phases.js';
import type { DialCancel, Dialer } from './dialer.js';
import { Attempt } from './parents/attempts.js';
import { MAX_STALE_RETRIES, replayable, StaleRetry } from './stale-retry.js';
import type { PickKey } from './parents/balancer.js';
import { connectThrough, refusedStatus } from './parents/connect-through.js';
import type { GroupStatus, ParentGroup } from './parents/group.js';
import type { HealthChecker } from './parents/health-check.js';
import type { Parent } from './parents/parent.js';

/** The name of the route that goes straight to the destination. */
export const DIRECT = 'direct';

export interface RoutedRequest {
  scheme: 'http' | 'https';
  host: string;
  port: number;
  path: string;
  method: string;
  /** Headers for upstream, as flat [name, value, …] pairs. */
  headers: string[];
  body: Readable | null;
  upgrade?: string;
  /** A policy rule's route, if it named one; else the config's default. */
  route: string | undefined;
  key: PickKey;
  /** Told which way the request went: "parent:<name>" (direct requests leave it to the handler). */
  setUpstream(label: string): void;
  alive(): boolean;
}

export interface Tunnel {
  socket: Socket;
  /** Where it goes: the destination address (direct) or "parent:<name>". */
  upstream: string;
}

/**
 * Where requests and tunnels leave egressd: straight to the destination, or through a
 * group of parent proxies (absolute-form requests for plain HTTP, CONNECT for tunnels
 * and for the origins of decrypted requests), with failover between the group's parents
 * and, if the group allows it, to direct when none of them can take the request.
 */
export class Upstream {
  constructor(
    private readonly dialer: Dialer,
    /** Direct pool: per-origin keep-alive connections. */
    readonly direct: Agent,
    private readonly groups: ReadonlyMap<string, ParentGroup>,
    private readonly defaultRoute: string,
    private readonly checkers: readonly HealthChecker[],
    private readonly connectTimeout: number,
  ) {}

  /** The group a request goes through, or null for direct. */
  groupFor(route: string | undefined): ParentGroup | null {
    const name = route ?? this.defaultRoute;
    return name === DIRECT ? null : (this.groups.get(name) ?? null);
  }

  /** Send a request upstream; `handler` sees one response (or one error), whatever was retried. */
  dispatch(r: RoutedRequest, handler: Dispatcher.DispatchHandler): void {
    const group = this.groupFor(r.route);
    if (!group) return this.dispatchDirect(r, handler);
    if (r.scheme === 'http' || r.upgrade) this.dialer.checkLiteral(r.host);
    const now = Date.now();
    const order = group.candidates(r.key, now);
    if (order.length === 0) {
      if (group.options.fallbackDirect) return this.dispatchDirect(r, handler);
      throw unavailable(group);
    }
    let i = 0;
    let staleRetries = 0;
    let member: (typeof order)[number] | undefined;
    const send = (): void => {
      const m = member!;
      const attempt = new Attempt(handler, m.parent, { method: r.method, hasBody: r.body !== null, alive: r.alive, next, again, now: Date.now });
      r.setUpstream(`parent:${m.parent.name}`);
      m.pool.dispatch(viaParent(r, m.parent), attempt);
    };
    // Each failure on a reused connection closes that connection: a few tries reach a fresh one.
    const again = (): boolean => {
      if (++staleRetries > MAX_STALE_RETRIES) return false;
      send();
      return true;
    };
    const next = (): boolean => {
      member = order[i++];
      if (!member) {
        if (!group.options.fallbackDirect) return false;
        r.setUpstream('');
        this.dispatchDirect(r, handler);
        return true;
      }
      send();
      return true;
    };
    next();
  }

  private dispatchDirect(r: RoutedRequest, handler: Dispatcher.DispatchHandler): void {
    const opts: Dispatcher.DispatchOptions = { origin: `${r.scheme}://${formatAuthority(r.host, r.port)}`, path: r.path, method: r.method as Dispatcher.HttpMethod, headers: r.headers, body: r.body, blocking: false };
    if (r.upgrade) opts.upgrade = r.upgrade;
    if (r.upgrade || !replayable(r.method, r.body !== null)) {
      this.direct.dispatch(opts, handler);
      return;
    }
    let retries = 0;
    const retry: StaleRetry = new StaleRetry(handler, () => {
      if (++retries > MAX_STALE_RETRIES || !r.alive()) return false;
      this.direct.dispatch(opts, retry);
      return true;
    });
    this.direct.dispatch(opts, retry);
  }

  /** Open a tunnel to host:port (CONNECT that is not decrypted). */
  async tunnel(host: string, port: number, route: string | undefined, key: PickKey, signal?: DialCancel, phases?: ConnectPhases): Promise<Tunnel> {
    const group = this.groupFor(route);
    if (!group) return this.tunnelDirect(host, port, signal, phases);
    this.dialer.checkLiteral(host);
    const order = group.candidates(key, Date.now());
    let last: ProxyError = unavailable(group);
    for (const { parent } of order) {
      if (signal?.aborted) break;
      try {
        const socket = await this.tunnelVia(parent, host, port, signal, true, phases);
        return { socket, upstream: `parent:${parent.name}` };
      } catch (err) {
        last = toProxyError(err);
      }
    }
    if (group.options.fallbackDirect && !signal?.aborted) return this.tunnelDirect(host, port, signal, phases);
    throw last;
  }

  private async tunnelDirect(host: string, port: number, signal?: DialCancel, phases?: ConnectPhases): Promise<Tunnel> {
    const d = await this.dialer.dial(host, port, signal, true, phases);
    return { socket: d.socket, upstream: formatAuthority(d.address, port) };
  }

  /**
   * A tunnel through one parent, with its counters: active while the socket is open, a
   * failure if it cannot be opened (a 5xx answer counts; a 403 or 407 is the parent's
   * policy, not ill health).
   */
  async tunnelVia(parent: Parent, host: string, port: number, signal: DialCancel | undefined, halfOpen: boolean, phases?: ConnectPhases): Promise<Socket> {
    parent.begin(Date.now());
    let socket: Socket;
    try {
      socket = await openParentTunnel(this.dialer, parent, host, port, this.connectTimeout, signal, halfOpen, phases);
    } catch (err) {
      parent.end();
      const status = refusedStatus(err);
      if (status === undefined || status >= 500) parent.failed(Date.now());
      throw err;
    }
    parent.succeeded();
    socket.once('close', () => parent.end());
    return socket;
  }

  status(): GroupStatus[] {
    const now = Date.now();
    return [...this.groups.values()].map((g) => g.status(now));
  }

  start(): void {
    for (const c of this.checkers) c.start();
  }

  /** Stop health checks and close every pool once its requests are done. */
  async close(): Promise<void> {
    for (const c of this.checkers) c.stop();
    await Promise.all([this.direct.close(), ...[...this.groups.values()].flatMap((g) => g.members.map((m) => m.pool.close()))]);
  }

  async destroy(): Promise<void> {
    for (const c of this.checkers) c.stop();
    await Promise.all([this.direct.destroy(), ...[...this.groups.values()].flatMap((g) => g.members.map((m) => m.pool.destroy()))]);
  }
}

function unavailable(group: ParentGroup): ProxyError {
  return new ProxyError('PARENTS_UNAVAILABLE', `no parent proxy of group "${group.name}" is available (all down, ejected or at their connection limit)`);
}

/**
 * Plain HTTP (and upgrades) through a parent: absolute form to the parent's own pool
 * (RFC 9112 §3.2.2), with our credentials for it. Decrypted https requests keep their
 * origin: the parent's pool reaches it through a CONNECT tunnel.
 */
function viaParent(r: RoutedRequest, parent: Parent): Dispatcher.DispatchOptions {
  const base = { method: r.method as Dispatcher.HttpMethod, body: r.body, blocking: false, ...(r.upgrade ? { upgrade: r.upgrade } : {}) };
  if (r.scheme === 'https') return { ...base, origin: `https://${formatAuthority(r.host, r.port)}`, path: r.path, headers: r.headers };
  const headers = parent.spec.authorization ? [...r.headers, 'proxy-authorization', parent.spec.authorization] : r.headers;
  return { ...base, origin: parentOrigin(parent), path: `http://${formatAuthority(r.host, r.port, 80)}${r.path}`, headers };
}

/**
 * Dial a parent and ask it for a tunnel to host:port, without touching its counters
 * (the pools' connector uses this: the request's Attempt keeps them).
 */
export function openParentTunnel(dialer: Dialer, parent: Parent, host: string, port: number, timeoutMs: number, signal?: DialCancel, halfOpen = false, phases?: ConnectPhases): Promise<Socket> {
  const t0 = performance.now();
  return dialer.dialParent(parent.spec.host, parent.spec.port, signal, halfOpen, phases).then(async (d) => {
    const tunnel = await connectThrough(d.socket, formatAuthority(host, port), parent.name, parent.spec.authorization, timeoutMs);
    // Through a parent, "connect" lasts until its tunnel stands.
    if (phases) phases.connectMs = since(t0) - Math.max(0, phases.dnsMs);
    return tunnel;
  });
}

export function parentOrigin(parent: Parent): string {
  return `http://${formatAuthority(parent.spec.host, parent.spec.port)}`;
}
