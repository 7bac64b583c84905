import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { IdGenerator } from '../exchange/context.js';
import type { Runtime } from '../exchange/runtime.js';
import type { CaDownload } from '../exchange/local-pages.js';
import type { AccessLog } from '../log/access-log.js';
import { readFileSync } from 'node:fs';
import { createSecureContext, rootCertificates } from 'node:tls';
import { compileHostList, type Policy } from '../policy/index.js';
import { buildAuth } from './build-auth.js';
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
  /** The interception CA for download, once loaded. */
  ca?: CaDownload | null;
  /** Test hook: a hosts file instead of /etc/hosts. */
  hostsFile?: string;
}

function readCaFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read tls.upstreamCaFiles entry ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Build every per-generation component from a validated config. Throws if a file it needs is unreadable. */
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
    // Origins of intercepted requests are verified against the system roots plus the
    // admin's extra bundles, with the host name checked (RFC 9110 §4.3.4).
    // One SecureContext for every upstream connection: building one per connection from
    // ~150 roots would cost milliseconds each.
    tls: { secureContext: createSecureContext({ ca: [...rootCertificates, ...config.tls.upstreamCaFiles.map(readCaFile)] }) },
    insecure: compileHostList(config.tls.insecureHosts),
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
    ca: shared.ca ?? null,
    ...buildAuth(config, shared.log),
  };
}
