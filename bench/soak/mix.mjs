// The soak's request mix (bench/soak.sh): what each kind of request sends and what counts
// as its success. Every request carries the soak user's credentials (auth.required is on).
// Used by client.mjs; run by hand, never in CI.
//
// Host names (resolved by egressd through the soak's own hosts file, never by the client):
//   plain.soak      the plain-HTTP origin
//   tunnel.soak     the HTTPS origin, CONNECT passed through untouched: the client trusts
//                   only the origin CA, so an intercepted tunnel would fail its handshake
//   intercept.soak  the HTTPS origin, decrypted by egressd (tls.include): the client trusts
//                   only egressd's CA, so a tunnel that is not intercepted would fail
//   denied.soak     denied by the policy rule "soak-deny" (403, X-Egressd-Rule: soak-deny)
import http from 'node:http';
import { createSecureContext } from 'node:tls';
import { ProxyAgent, request } from 'undici';

/** Kinds, their weight in the mix, and the connection they use ("keep-alive" or "new"). */
export const KINDS = [
  { kind: 'http-keepalive', weight: 4, conn: 'keep-alive', via: 'plain', path: '/small', status: 200, bytes: 1024 },
  { kind: 'http-new-64k', weight: 1, conn: 'new', via: 'plain-new', path: '/64k', status: 200, bytes: 65536 },
  { kind: 'http-slow', weight: 1, conn: 'keep-alive', via: 'plain', path: '/slow', status: 200, bytes: 1024 },
  { kind: 'http-cached', weight: 2, conn: 'keep-alive', via: 'plain', path: '/cached', status: 200, bytes: 4096, cached: true },
  { kind: 'http-denied', weight: 1, conn: 'keep-alive', via: 'denied', path: '/small', status: 403, rule: 'soak-deny' },
  { kind: 'tunnel-keepalive', weight: 2, conn: 'keep-alive', via: 'tunnel', path: '/small', status: 200, bytes: 1024 },
  { kind: 'tunnel-new-64k', weight: 1, conn: 'new', via: 'tunnel', path: '/64k', status: 200, bytes: 65536 },
  { kind: 'intercept-keepalive', weight: 2, conn: 'keep-alive', via: 'intercept', path: '/small', status: 200, bytes: 1024 },
  { kind: 'intercept-new', weight: 1, conn: 'new', via: 'intercept', path: '/small', status: 200, bytes: 1024 },
  { kind: 'intercept-cached', weight: 1, conn: 'keep-alive', via: 'intercept', path: '/cached', status: 200, bytes: 4096, cached: true },
  { kind: 'connect-denied', weight: 1, conn: 'new', via: 'connect-denied', path: '', status: 403, rule: 'soak-deny' },
];

/** A deterministic order of kinds, each appearing `weight` times, shuffled by `seed`. */
export function schedule(seed) {
  const list = KINDS.flatMap((k) => Array(k.weight).fill(k));
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = list.length - 1; i > 0; i--) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    const j = s % (i + 1);
    [list[i], list[j]] = [list[j], list[i]];
  }
  return list;
}

/** A request's outcome: ok, or the error kind (for the per-minute error table). */
class Mismatch extends Error {}

/**
 * Builds the senders. `o`: { proxyPort, httpPort, httpsPort, token (Basic header value),
 * originCa (PEM), egressdCa (PEM), timeoutMs }.
 */
export function makeSenders(o) {
  const proxy = `http://127.0.0.1:${o.proxyPort}`;
  const plainBase = `http://plain.soak:${o.httpPort}`;
  // One TLS context per CA, built once: a `ca` option would parse the PEM again for
  // every new connection, which costs the client more than the handshake.
  const originCtx = createSecureContext({ ca: o.originCa });
  const egressdCtx = createSecureContext({ ca: o.egressdCa });
  const tls = (name, secureContext) => ({ uri: proxy, token: o.token, requestTls: { secureContext, servername: name } });
  const agents = {
    plain: new ProxyAgent({ uri: proxy, token: o.token, proxyTunnel: false }),
    tunnel: new ProxyAgent(tls('tunnel.soak', originCtx)),
    intercept: new ProxyAgent(tls('intercept.soak', egressdCtx)),
  };
  const opts = { tunnel: tls('tunnel.soak', originCtx), intercept: tls('intercept.soak', egressdCtx) };
  const urlOf = (k) => {
    if (k.via === 'tunnel') return `https://tunnel.soak:${o.httpsPort}${k.path}`;
    if (k.via === 'intercept') return `https://intercept.soak:${o.httpsPort}${k.path}`;
    if (k.via === 'denied') return `http://denied.soak:${o.httpPort}${k.path}`;
    return `${plainBase}${k.path}`;
  };

  /** undici through ProxyAgent: keep-alive agents shared, or a fresh agent (new connection). */
  async function viaUndici(k) {
    const fresh = k.conn === 'new' ? new ProxyAgent(opts[k.via]) : null;
    try {
      const res = await request(urlOf(k), { dispatcher: fresh ?? (k.via === 'denied' ? agents.plain : agents[k.via]), signal: AbortSignal.timeout(o.timeoutMs) });
      const body = Buffer.from(await res.body.arrayBuffer());
      return check(k, res.statusCode, res.headers, body.length);
    } finally {
      if (fresh) await fresh.close();
    }
  }

  /** node:http with no agent: absolute-URI GET on a new connection, closed after it. */
  function viaNodeHttp(k) {
    return new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: o.proxyPort, path: urlOf(k), agent: false, headers: { host: `plain.soak:${o.httpPort}`, 'proxy-authorization': o.token, connection: 'close' } }, (res) => {
        let n = 0;
        res.on('data', (c) => { n += c.length; });
        res.on('end', () => {
          try { resolve(check(k, res.statusCode, res.headers, n)); } catch (e) { reject(e); }
        });
        res.on('error', reject);
      });
      onTimeout(req, o.timeoutMs);
      req.on('error', reject);
    });
  }

  /** A CONNECT the policy refuses: node:http reports any CONNECT answer as 'connect'. */
  function connectDenied(k) {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: o.proxyPort, method: 'CONNECT', path: `denied.soak:${o.httpsPort}`, agent: false, headers: { host: `denied.soak:${o.httpsPort}`, 'proxy-authorization': o.token } });
      req.on('connect', (res, socket) => {
        socket.destroy();
        try { resolve(check(k, res.statusCode, res.headers, -1)); } catch (e) { reject(e); }
      });
      onTimeout(req, o.timeoutMs);
      req.on('error', reject);
      req.end();
    });
  }

  const send = (k) => (k.via === 'plain-new' ? viaNodeHttp(k) : k.via === 'connect-denied' ? connectDenied(k) : viaUndici(k));
  const close = () => Promise.all(Object.values(agents).map((a) => a.close()));
  return { send, close };
}

/**
 * node:http's `timeout` is an idle timer; this one bounds the whole request, and says
 * whether the TCP connection to the proxy was ever established (a proxy that does not
 * accept new connections shows up as "timeout connecting").
 */
function onTimeout(req, ms) {
  let connected = false;
  req.once('socket', (s) => s.once('connect', () => { connected = true; }));
  const t = setTimeout(() => req.destroy(Object.assign(new Error(`no answer within ${ms} ms`), { code: 'TIMEOUT', phase: connected ? 'after connect' : 'connecting' })), ms);
  req.once('close', () => clearTimeout(t));
}

/** Throws a Mismatch unless the answer is what the kind expects; returns { cacheHit }. */
function check(k, status, headers, length) {
  if (status !== k.status) throw new Mismatch(`status ${status}`);
  if (k.rule && headers['x-egressd-rule'] !== k.rule) throw new Mismatch(`rule ${headers['x-egressd-rule'] ?? 'none'}`);
  if (k.bytes !== undefined && length !== k.bytes) throw new Mismatch(`length ${length}`);
  const xc = String(headers['x-cache'] ?? '');
  return { cacheHit: k.cached ? /HIT/i.test(xc) : null };
}

/** A short error kind for the tables: the mismatch, or the error code. */
export function errorKind(err) {
  if (err instanceof Mismatch) return err.message;
  if (err?.code === 'TIMEOUT') return `timeout ${err.phase}`;
  if (err?.name === 'TimeoutError') return 'timeout';
  return err?.code ?? err?.name ?? 'error';
}
