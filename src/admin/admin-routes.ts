import type { IncomingMessage, ServerResponse } from 'node:http';
import { cachePurge, cacheStats, type ApiAnswer } from './cache-api.js';
import type { DashboardWindow } from './dashboard-window.js';
import type { Metrics } from './metrics.js';
import type { ProxyView } from './proxy-view.js';
import { dashboardAnswer, reloadAnswer, statusAnswer, type Uptime } from './status-api.js';

/** What a route may answer with: JSON, or raw text (health, metrics, the page). */
export type RouteAnswer = ApiAnswer | { status: number; type: string; text: string };

export interface RouteContext {
  view: ProxyView;
  metrics: Metrics;
  window: DashboardWindow;
  uptime: Uptime;
  dashboard: string;
  /** The request's JSON body (POST routes), bounded. */
  readJson(req: IncomingMessage): Promise<unknown>;
  log: { info(obj: object, msg: string): void };
}

/** A route answers, or has answered on `res` itself ('sent'). */
export type RouteResult = RouteAnswer | Promise<RouteAnswer> | 'sent';

export interface Route {
  /** GET routes answer HEAD too (node:http drops the body). */
  method: 'GET' | 'POST';
  /** Served without the bearer token: the dashboard shell holds no data. */
  public?: boolean;
  run(c: RouteContext, req: IncomingMessage, res: ServerResponse): RouteResult;
}

const text = (status: number, body: string): RouteAnswer => ({ status, type: 'text/plain; charset=utf-8', text: body });

/** The forward listener's pages that the admin listener serves too (same code: exchange/local-pages.ts). */
const LOCAL_PAGES = ['/egressd-ca.crt', '/egressd-ca.pem', '/egressd-ca.der', '/proxy.pac', '/wpad.dat'];

const local: Route = {
  method: 'GET',
  run(c, req, res) {
    c.view.localPage((req.url ?? '/').split('?')[0]!, req.method ?? 'GET', req.headers.host ?? '', res);
    return 'sent';
  },
};

/** One answer for every worker's purge: the first refusal, or the purged counts summed. */
function mergePurges(answers: ApiAnswer[]): ApiAnswer {
  const bad = answers.find((a) => a.status !== 200);
  if (bad || answers.length === 0) return bad ?? { status: 503, body: { error: 'NO_WORKERS', message: 'no worker answered' } };
  const purged = answers.reduce((n, a) => n + Number(a.body.purged ?? 0), 0);
  return { status: 200, body: { ...answers[0]!.body, purged, workers: answers.length } };
}

/** Every admin endpoint, by path (docs/admin-api.md). */
export const ROUTES: ReadonlyMap<string, Route> = new Map<string, Route>([
  ['/', { method: 'GET', public: true, run: (c) => ({ status: 200, type: 'text/html; charset=utf-8', text: c.dashboard }) }],
  // The device onboarding page (CA, fingerprint, PAC URL, install steps), as the forward
  // listener serves it at "/": public, it holds nothing secret.
  ['/onboarding', { method: 'GET', public: true, run: (c, req, res) => (c.view.localPage('/', req.method ?? 'GET', req.headers.host ?? '', res), 'sent') }],
  // Liveness: the event loop answers. Nothing else is checked, so a probe never
  // restarts a proxy that is merely busy or draining.
  ['/healthz', { method: 'GET', run: () => text(200, 'ok\n') }],
  // Readiness: take this instance out of a balancer while it starts or drains.
  [
    '/readyz',
    {
      method: 'GET',
      run: (c) => {
        if (c.view.draining()) return text(503, 'not ready: draining\n');
        return c.view.ready() ? text(200, 'ready\n') : text(503, 'not ready: listeners not bound\n');
      },
    },
  ],
  // With workers, every worker's counters summed (the primary collects them).
  ['/metrics', { method: 'GET', run: async (c) => ({ status: 200, type: c.metrics.contentType, text: await (c.view.cluster ? c.view.cluster.metrics() : c.metrics.scrape()) }) }],
  ['/api/status', { method: 'GET', run: (c) => statusAnswer(c.view, c.uptime) }],
  ['/api/dashboard', { method: 'GET', run: (c) => dashboardAnswer(c.view, c.uptime, c.window) }],
  [
    '/api/reload',
    {
      method: 'POST',
      run: async (c) => {
        c.log.info({}, 'config reload requested through the admin API');
        return reloadAnswer(c.view);
      },
    },
  ],
  ['/api/cache/stats', { method: 'GET', run: (c) => cacheStats(c.view.cache()) }],
  [
    '/api/cache/purge',
    {
      method: 'POST',
      run: async (c, req) => {
        let input: unknown;
        try {
          input = await c.readJson(req);
        } catch (e) {
          return { status: 400, body: { error: 'BAD_REQUEST', message: (e as Error).message } };
        }
        // With workers each has its own memory tier: purge them all (the disk tier is shared).
        const answer = c.view.cluster ? mergePurges(await c.view.cluster.purge(input)) : cachePurge(c.view.cache(), input);
        if (answer.status === 200) c.log.info({ ...answer.body }, 'cache purged');
        return answer;
      },
    },
  ],
  ...LOCAL_PAGES.map((p) => [p, local] as [string, Route]),
]);
