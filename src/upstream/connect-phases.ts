import { performance } from 'node:perf_hooks';

/**
 * How long the parts of opening one upstream connection took, in ms (-1: that part did
 * not happen: an IP literal needs no DNS, plain HTTP no TLS). For the access log's
 * `timing` field.
 */
export interface ConnectPhases {
  dnsMs: number;
  connectMs: number;
  tlsMs: number;
}

export function newPhases(): ConnectPhases {
  return { dnsMs: -1, connectMs: -1, tlsMs: -1 };
}

export function since(t0: number): number {
  return performance.now() - t0;
}

/**
 * undici tells a dispatch handler nothing about the socket its request went out on. It
 * does write the first queued request onto a fresh connection synchronously inside the
 * connector's callback (client.js connect → resume → writeH1 → handler.onConnect), so
 * the pool parks the new connection's phases here for exactly that call and the
 * handler whose onConnect runs during it — the request that waited for the connection —
 * takes them. A request on a reused connection finds nothing.
 */
let handedOver: ConnectPhases | null = null;

export function handOver(phases: ConnectPhases, deliver: () => void): void {
  handedOver = phases;
  try {
    deliver();
  } finally {
    handedOver = null;
  }
}

/** The phases of the connection being handed to this request, once; null when it was reused. */
export function takeHandedOver(): ConnectPhases | null {
  const p = handedOver;
  handedOver = null;
  return p;
}

/** Is a new connection being handed over right now (false: the request went out on a reused one)? Does not take it. */
export function handingOver(): boolean {
  return handedOver !== null;
}

/**
 * A connection that failed never reaches a request's onConnect, so its phases (the
 * lookup, a connect refused or timed out, a failed handshake) travel on the error that
 * undici hands every request waiting for it.
 */
const PHASES = Symbol('egressd.connectPhases');

export function withPhases<E extends Error>(err: E, phases: ConnectPhases): E {
  (err as E & { [PHASES]?: ConnectPhases })[PHASES] = phases;
  return err;
}

/** The phases of the failed connection behind this error (or its cause); null when there was none. */
export function phasesOf(err: unknown): ConnectPhases | null {
  for (let e = err as { [PHASES]?: ConnectPhases; cause?: unknown } | undefined, depth = 0; e && depth < 4; e = e.cause as typeof e, depth++) {
    if (e[PHASES]) return e[PHASES];
  }
  return null;
}
