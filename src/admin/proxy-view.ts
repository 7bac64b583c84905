import type { ServerResponse } from 'node:http';
import type { HttpCache } from '../cache/index.js';
import type { LeafFactoryStats } from '../tls/leaf-factory.js';
import type { GroupStatus } from '../upstream/parents/group.js';

/** One bound forward listener. */
export interface ListenerView {
  address: string;
  port: number;
  family: string;
  mode: string;
}

/** Connections, requests and tunnels open right now. */
export interface ActiveCounts {
  connections: number;
  requests: number;
  tunnels: number;
}

/** The interception CA as shown in the status (never the key). */
export interface CaView {
  subject: string;
  sha256: string;
}

/** Same shape as ProxyServer's ReloadResult (admin/ must not import server/). */
export type ReloadOutcome = { ok: true; generation: number } | { ok: false; problems: string[] };

/** One worker process as the primary sees it (workers > 1). */
export interface WorkerStatus {
  /** Slot 1..N: stable across restarts (a restarted worker takes its slot again). */
  id: number;
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  /** Times this slot's worker was restarted after dying unexpectedly. */
  restarts: number;
  ready: boolean;
}

/**
 * What the admin listener (run by worker 1 of several) asks the primary: numbers and
 * actions that span every worker. Answered over cluster IPC.
 */
export interface AdminCluster {
  /** /metrics of every worker, aggregated (prom-client's AggregatorRegistry), as exposition text. */
  metrics(): Promise<string>;
  workers(): Promise<WorkerStatus[]>;
  /** Reload every worker (validated by the primary first). */
  reload(): Promise<ReloadOutcome>;
  /** Purge every worker's cache; the answers of each. */
  purge(input: unknown): Promise<{ status: number; body: Record<string, unknown> }[]>;
}

/**
 * What the admin listener may see of the proxy: narrow, read-only getters built by
 * server/ (plus the reload trigger). Each is read at request or scrape time, so a
 * reload that swaps the Runtime is seen at once and nothing here holds a stale copy.
 */
export interface ProxyView {
  configFile(): string;
  generation(): number;
  /** Forward listeners bound so far. */
  listeners(): readonly ListenerView[];
  /** Every configured listener is bound and the proxy is not draining (readiness). */
  ready(): boolean;
  draining(): boolean;
  active(): ActiveCounts;
  /** Parent groups and their members' health (Upstream.status()). */
  parents(): GroupStatus[];
  /** The current generation's cache; null when disabled. */
  cache(): HttpCache | null;
  /** The interception CA, once interception is set up. */
  ca(): CaView | null;
  /** Leaf-certificate factory counters, once interception is set up. */
  leaves(): Readonly<LeafFactoryStats> | null;
  /** Validate the config file again and swap it in (ProxyServer.reload). */
  reload(): Promise<ReloadOutcome>;
  /**
   * The forward listener's own pages (CA download, PAC file), answered on `res`; `host`
   * is the Host header the client used to reach the admin listener. Returns the status.
   */
  localPage(path: string, method: string, host: string, res: ServerResponse): number;
  /** Set in a worker of several: what spans the workers is asked of the primary. */
  cluster?: AdminCluster;
}
