import type { AddressInfo } from 'node:net';
import type { BoundAddress } from '../server/proxy-server.js';

/** The environment variable that tells a forked worker its slot (1..N). */
export const SLOT_ENV = 'EGRESSD_WORKER_SLOT';

/** IPC message types between the primary and its workers (ipc-channel.ts). */
export const MSG = {
  // worker → primary
  config: 'config',
  ready: 'ready',
  quota: 'quota',
  quotaUsage: 'quota-usage',
  metricsAll: 'metrics-all',
  workers: 'workers',
  reloadAll: 'reload-all',
  purgeAll: 'purge-all',
  // primary → worker
  reload: 'reload',
  reopen: 'reopen',
  reopenAccess: 'reopen-access',
  metrics: 'metrics',
  purge: 'purge',
} as const;

/** A worker's listeners are bound (sent once per worker start). */
export interface ReadyNotice {
  addresses: BoundAddress[];
  admin: AddressInfo | null;
}
