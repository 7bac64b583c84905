import { isIP } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { createRequire } from 'node:module';
import type { Agent as AgentType, buildConnector, Dispatcher } from 'undici';

// undici's index also loads fetch, WebSocket, EventSource and the cache (about 10 MiB
// of RSS in a proxy that uses none of them); the Agent alone is all we need.
const Agent = createRequire(import.meta.url)('undici/lib/dispatcher/agent.js') as typeof AgentType;
type Agent = AgentType;
import { performance } from 'node:perf_hooks';
import { ProxyError, toProxyError } from '../http/errors.js';
import type { Socket } from 'node:net';
import { handOver, newPhases, since, withPhases, type ConnectPhases } from './connect-phases.js';
import { PhaseClock } from './phase-timeouts.js';

/**
 * Opens the TCP path to an origin for the pool: straight to it (the Dialer, with the
 * egress guard), or through a parent proxy (a CONNECT tunnel for https origins).
 * https origins are then wrapped in TLS here.
 */
export type DialFn = (hostname: string, port: number, protocol: string, phases: ConnectPhases) => Promise<Socket>;

export interface PoolOptions {
  connectionsPerOrigin: number;
  keepAliveTimeout: number;
  headersTimeout: number;
  bodyTimeout: number;
  /** Bound on the upstream TLS handshake (TCP connect is bounded by the Dialer). */
  connectTimeout: number;
  /** TLS options for https origins (interception): the trusted CA bundle. */
  tls?: ConnectionOptions;
  /** Origins whose certificate is not verified (admin-listed exceptions). */
  insecure?: (host: string) => boolean;
}

/**
 * Keep-alive connection pools per origin (undici Agent), whose sockets are opened by
 * `dial` (our Dialer, so the egress guard applies to every new upstream connection, or
 * a parent proxy).
 */
export function createHttpPool(dial: DialFn, opts: PoolOptions): Agent {
  const connector: buildConnector.connector = (o, cb) => {
    const port = Number(o.port) || (o.protocol === 'https:' ? 443 : 80);
    const phases = newPhases();
    dial(o.hostname, port, o.protocol, phases).then(
      (socket) => {
        if (o.protocol !== 'https:') return handOver(phases, () => cb(null, socket));
        const t0 = performance.now();
        const servername = o.servername ?? o.hostname;
        const tls = tlsConnect({
          ...opts.tls,
          socket,
          // SNI is for names only (RFC 6066 §3); an IP origin is checked against its IP SAN.
          servername: isIP(servername) ? undefined : servername,
          host: o.hostname,
          rejectUnauthorized: !(opts.insecure?.(o.hostname) ?? false),
          ALPNProtocols: ['http/1.1'],
        });
        const timer = setTimeout(() => tls.destroy(new ProxyError('UPSTREAM_TIMEOUT', `TLS handshake with ${o.hostname} timed out`)), opts.connectTimeout);
        // Done or failed, the handshake took time: both log lines say how long.
        const ended = (): void => {
          clearTimeout(timer);
          phases.tlsMs = since(t0);
        };
        tls.once('secureConnect', () => {
          ended();
          handOver(phases, () => cb(null, tls));
        });
        tls.once('error', (err) => {
          ended();
          cb(withPhases(err, phases), null);
        });
      },
      (err: unknown) => cb(withPhases(toProxyError(err), phases), null),
    );
  };
  return new TimedAgent(new PhaseClock({ headersMs: opts.headersTimeout, bodyMs: opts.bodyTimeout }), {
    connect: connector,
    connections: opts.connectionsPerOrigin,
    keepAliveTimeout: opts.keepAliveTimeout,
    keepAliveMaxTimeout: opts.keepAliveTimeout,
    // Timed by the PhaseClock instead (see there): undici's per-phase timers cost a
    // third of the proxy's peak memory under load.
    headersTimeout: 0,
    bodyTimeout: 0,
    pipelining: 1,
    // Response bodies are streamed to the client with backpressure; never let undici buffer them.
    maxResponseSize: -1,
  });
}

/**
 * An undici Agent whose requests are timed by a PhaseClock. Its interval is unref'd and
 * stops once no request is left (a closed or destroyed pool errors all of them).
 */
class TimedAgent extends Agent {
  constructor(
    private readonly clock: PhaseClock,
    options: ConstructorParameters<typeof Agent>[0],
  ) {
    super(options);
  }

  override dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    return super.dispatch(options, this.clock.wrap(handler));
  }
}
