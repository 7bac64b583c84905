import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { IdGenerator } from '../exchange/context.js';
import type { Runtime } from '../exchange/runtime.js';
import type { AccessLog } from '../log/access-log.js';
import type { Policy } from '../policy/index.js';
import { AddressGuard } from '../upstream/address-guard.js';
import { Dialer, type SelfEndpoints } from '../upstream/dialer.js';
import { DnsCache } from '../upstream/dns-cache.js';
import { createHttpPool } from '../upstream/http-pool.js';

/** What outlives a reload: the logs, the id sequence and the set of our own endpoints. */
export interface Shared {
  accessLog: AccessLog;
  log: Logger;
  ids: IdGenerator;
  self: SelfEndpoints;
  /** Test hook: a hosts file instead of /etc/hosts. */
  hostsFile?: string;
}

/** Build every per-generation component from a validated config. */
export function buildRuntime(loaded: LoadedConfig, shared: Shared, generation: number, policy: Policy | null): Runtime {
  const { config } = loaded;
  const { egress, timeouts, limits, proxy } = config;
  const dns = new DnsCache({ ...egress.dns, family: egress.family, hostsFile: shared.hostsFile });
  const guard = new AddressGuard(egress.allowPrivate);
  const dialer = new Dialer(dns, guard, shared.self, timeouts.upstreamConnect);
  const pool = createHttpPool(dialer, {
    connectionsPerOrigin: limits.upstreamConnectionsPerOrigin,
    keepAliveTimeout: timeouts.upstreamKeepAlive,
    headersTimeout: timeouts.upstreamHeaders,
    bodyTimeout: timeouts.bodyIdle,
    connectTimeout: timeouts.upstreamConnect,
  });
  return {
    config,
    generation,
    dialer,
    pool,
    accessLog: shared.accessLog,
    log: shared.log,
    ids: shared.ids,
    via: proxy.via ? `1.1 ${proxy.name}` : null,
    connectPorts: new Set(proxy.connectPorts),
    policy,
  };
}
