import type { CacheStats } from '../cache/index.js';
import type { LeafFactoryStats } from '../tls/leaf-factory.js';
import type { GroupStatus } from '../upstream/parents/group.js';
import type { ApiAnswer } from './cache-api.js';
import type { DashboardWindow, WindowSnapshot } from './dashboard-window.js';
import { parentRows } from './metrics.js';
import type { ActiveCounts, ListenerView, ProxyView, WorkerStatus } from './proxy-view.js';
import { VERSION } from './version.js';

/** GET /api/status: what `egressd status` prints (docs/admin-api.md). */
export interface StatusBody {
  version: string;
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  configFile: string;
  generation: number;
  ready: boolean;
  draining: boolean;
  listeners: ListenerView[];
  active: ActiveCounts;
  parents: GroupStatus[];
  cache: CacheStats | null;
  interception: { caSubject: string; caSha256: string; leaves: LeafFactoryStats | null } | null;
  /** With workers > 1: every worker (pid, uptime, restarts); `pid` above is the worker answering. */
  workers?: WorkerStatus[];
}

/** The process start, for uptime (the admin server is built with the proxy). */
export class Uptime {
  readonly startedAt = Date.now();
  seconds(): number {
    return Math.floor((Date.now() - this.startedAt) / 1000);
  }
}

export function statusBody(view: ProxyView, uptime: Uptime): StatusBody {
  const ca = view.ca();
  const leaves = view.leaves();
  return {
    version: VERSION,
    pid: process.pid,
    startedAt: new Date(uptime.startedAt).toISOString(),
    uptimeSeconds: uptime.seconds(),
    configFile: view.configFile(),
    generation: view.generation(),
    ready: view.ready(),
    draining: view.draining(),
    listeners: [...view.listeners()],
    active: view.active(),
    parents: view.parents(),
    cache: view.cache()?.stats() ?? null,
    interception: ca ? { caSubject: ca.subject, caSha256: ca.sha256, leaves: leaves ? { ...leaves } : null } : null,
  };
}

export function statusAnswer(view: ProxyView, uptime: Uptime): ApiAnswer | Promise<ApiAnswer> {
  const body = statusBody(view, uptime);
  if (!view.cluster) return { status: 200, body: { ...body } };
  return view.cluster.workers().then((workers) => ({ status: 200, body: { ...body, workers } }));
}

/** GET /api/dashboard: the sliding window plus the live facts the page shows. */
export type DashboardBody = WindowSnapshot & {
  generatedAt: string;
  version: string;
  uptimeSeconds: number;
  generation: number;
  active: ActiveCounts;
  cache: CacheStats | null;
  parents: ReturnType<typeof parentRows>;
};

export function dashboardAnswer(view: ProxyView, uptime: Uptime, window: DashboardWindow): ApiAnswer {
  const body: DashboardBody = {
    generatedAt: new Date().toISOString(),
    version: VERSION,
    uptimeSeconds: uptime.seconds(),
    generation: view.generation(),
    active: view.active(),
    cache: view.cache()?.stats() ?? null,
    parents: parentRows(view),
    ...window.snapshot(),
  };
  return { status: 200, body: { ...body } };
}

/** POST /api/reload: 200 with the new generation, or 422 with every problem (the old config stays). */
export async function reloadAnswer(view: ProxyView): Promise<ApiAnswer> {
  if (view.draining()) return { status: 503, body: { error: 'SHUTTING_DOWN', message: 'the proxy is shutting down' } };
  const r = await view.reload();
  if (r.ok) return { status: 200, body: { ok: true, generation: r.generation } };
  return { status: 422, body: { ok: false, error: 'RELOAD_REJECTED', message: 'the config is invalid; the running config stays in force', problems: r.problems } };
}
