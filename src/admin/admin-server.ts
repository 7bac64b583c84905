import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import { clientIpOf } from '../http/client-address.js';
import type { AccessRecord } from '../log/access-log.js';
import type { ApiAnswer } from './cache-api.js';
import { ROUTES, type RouteAnswer, type RouteContext, type RouteResult } from './admin-routes.js';
import { dashboardHtml } from './dashboard-page.js';
import { DashboardWindow } from './dashboard-window.js';
import { Metrics } from './metrics.js';
import type { ProxyView } from './proxy-view.js';
import { Uptime } from './status-api.js';

export interface AdminConfig {
  readonly listen: { readonly address: string; readonly port: number } | null;
  readonly token: string;
}

export interface AdminDeps {
  /** Read-only views of the proxy, built by server/. */
  view: ProxyView;
  log: Logger;
  /** proxy.name, for the dashboard's title. */
  name?: string;
  /**
   * false: count (metrics, dashboard) but do not listen. With workers, every worker
   * counts and one of them listens; its /metrics sums them all.
   */
  listens?: boolean;
}

/** Request bodies of the admin API are small JSON objects. */
const MAX_BODY = 64 * 1024;

/**
 * The admin listener, on its own address so it can be firewalled apart from the proxy
 * listeners: health and readiness, Prometheus metrics, status, reload, the cache API,
 * the dashboard, and the CA and PAC downloads (routes: admin-routes.ts). With a token
 * configured every request but the dashboard shell needs `Authorization: Bearer TOKEN`
 * (the schema requires one beyond loopback).
 */
export class AdminServer {
  private server: Server | null = null;
  private readonly ctx: RouteContext | null;

  constructor(
    private readonly config: AdminConfig,
    private readonly deps: AdminDeps,
  ) {
    // Without a listener nothing is counted: the access-log hook is not even installed.
    this.ctx = config.listen
      ? {
          view: deps.view,
          metrics: new Metrics(deps.view),
          window: new DashboardWindow(),
          uptime: new Uptime(),
          dashboard: dashboardHtml(deps.name ?? 'egressd'),
          readJson: (req) => readJson(req),
          log: deps.log,
        }
      : null;
  }

  /**
   * The access-log hook (one call per finished request or tunnel), or null when there
   * is no admin listener to show the numbers.
   */
  get recorder(): ((r: AccessRecord, now: number) => void) | null {
    const c = this.ctx;
    if (!c) return null;
    // `now` is performance.now(): with the time origin it is the wall clock, without
    // another clock read per request.
    const origin = performance.timeOrigin;
    return (r, now) => {
      c.metrics.record(r, now);
      c.window.record(r, origin + now);
    };
  }

  /** This process's metrics as prom-client JSON (the primary aggregates the workers'). */
  async metricsJson(): Promise<unknown[]> {
    return this.ctx ? this.ctx.metrics.registry.getMetricsAsJSON() : [];
  }

  async listen(): Promise<AddressInfo | null> {
    const l = this.config.listen;
    if (!l || this.deps.listens === false) return null;
    const server = createServer({ requestTimeout: 10_000, headersTimeout: 5000 }, (req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(Object.assign(new Error(`admin API (admin.listen): ${err.message}`), { code: err.code })));
      server.listen({ host: l.address.replace(/^\[|\]$/g, ''), port: l.port }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    this.server = server;
    const a = server.address() as AddressInfo;
    this.deps.log.info({ address: a.address, port: a.port }, `admin API listening on ${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
    return a;
  }

  get address(): AddressInfo | null {
    return (this.server?.address() as AddressInfo | null) ?? null;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = null;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '').split('?')[0]!;
    const route = ROUTES.get(path);
    if (!(route?.public && (req.method === 'GET' || req.method === 'HEAD')) && !this.authorised(req)) {
      this.deps.log.warn({ path, client: clientIpOf(req.socket) }, 'admin API request without a valid token refused');
      return this.send(res, { status: 401, body: { error: 'UNAUTHORIZED', message: 'a valid "Authorization: Bearer TOKEN" is required' } }, { 'www-authenticate': 'Bearer' });
    }
    if (!route || !this.ctx) return this.send(res, { status: 404, body: { error: 'NOT_FOUND', message: `no such endpoint: ${path}` } });
    const allowed = route.method === 'GET' ? req.method === 'GET' || req.method === 'HEAD' : req.method === route.method;
    if (!allowed) {
      const allow = route.method === 'GET' ? 'GET, HEAD' : route.method;
      return this.send(res, { status: 405, body: { error: 'METHOD_NOT_ALLOWED', message: `use ${route.method}` } }, { allow });
    }
    if (route.method === 'POST' && crossSite(req)) {
      // A web page in the admin's browser must not reload or purge through a loopback
      // listener that has no token: browsers send Origin/Sec-Fetch-Site (Fetch §3.1).
      this.deps.log.warn({ path, origin: req.headers.origin ?? null }, 'cross-site admin API request refused');
      return this.send(res, { status: 403, body: { error: 'CROSS_SITE', message: 'cross-site requests to the admin API are refused' } });
    }
    let answer: RouteResult;
    try {
      answer = route.run(this.ctx, req, res);
    } catch (err) {
      return this.fail(res, path, err);
    }
    if (answer === 'sent') return;
    Promise.resolve(answer).then(
      (a) => this.send(res, a),
      (err: unknown) => this.fail(res, path, err),
    );
  }

  /** A route that threw: a one-line reason to the client and the server log, never a crash. */
  private fail(res: ServerResponse, path: string, err: unknown): void {
    this.deps.log.error({ path, err: String(err) }, 'admin API request failed');
    this.send(res, { status: 500, body: { error: 'INTERNAL', message: `${path}: ${(err as Error)?.message ?? String(err)}` } });
  }

  private authorised(req: IncomingMessage): boolean {
    const token = this.config.token;
    if (!token) return true;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const a = Buffer.from(m[1]!.trim());
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private send(res: ServerResponse, a: RouteAnswer, extra: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    const isText = 'text' in a;
    const body = isText ? a.text : `${JSON.stringify((a as ApiAnswer).body)}\n`;
    const type = isText ? a.type : 'application/json';
    res.writeHead(a.status, { 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
    res.end(body);
  }
}

function crossSite(req: IncomingMessage): boolean {
  const site = req.headers['sec-fetch-site'];
  if (site !== undefined && site !== 'same-origin' && site !== 'none') return true;
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== req.headers.host;
  } catch {
    return true;
  }
}

function readJson(req: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`request body larger than ${MAX_BODY} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => {
      try {
        resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null'));
      } catch {
        reject(new Error('request body is not valid JSON'));
      }
    });
    req.on('error', reject);
  });
}
