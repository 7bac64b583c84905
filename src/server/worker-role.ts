import type { AdminCluster } from '../admin/proxy-view.js';
import type { RemoteQuotaTransport } from '../quota/index.js';

/**
 * What a ProxyServer running as one worker of several (config `workers` > 1) is told by
 * the process that forked it (src/cluster/). Absent: a single process, the code path
 * of `workers: 1`, unchanged.
 */
export interface WorkerRole {
  /** Slot 1..N, stable across restarts; written as `worker` on every log line. */
  id: number;
  /** This worker runs the admin listener (slot 1): there is exactly one. */
  admin: boolean;
  /** The memory quota store's counters, kept by the primary. */
  quota: RemoteQuotaTransport;
  /** Metrics, status, reload and purge across every worker, for the admin listener. */
  cluster: AdminCluster;
}
