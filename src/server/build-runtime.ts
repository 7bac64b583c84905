import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { IdGenerator } from '../exchange/context.js';
import type { Runtime } from '../exchange/runtime.js';
import type { CaDownload } from '../exchange/local-pages.js';
import type { AccessLog } from '../log/access-log.js';
import { HeaderFields } from '../log/header-fields.js';
import type { Quotas } from '../quota/index.js';
import { readFileSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import { upstreamRoots } from '../tls/system-roots.js';
import { compileHostList, type Policy } from '../policy/index.js';
import { buildAuth } from './build-auth.js';
import type { PasswordCheck } from '../auth/index.js';
import { AddressGuard } from '../upstream/address-guard.js';
import { Dialer, type SelfEndpoints } from '../upstream/dialer.js';
import { DnsCache } from '../upstream/dns-cache.js';
import { buildUpstream } from '../upstream/build-upstream.js';
import { DiskStore, HttpCache, MemoryStore, TieredStore, type CacheStore } from '../cache/index.js';
import type { CacheStatus } from '../cache/status.js';
import type { Config } from '../config/schema.js';

/** What outlives a reload: the logs, the id sequence and the set of our own endpoints. */
export interface Shared {
  accessLog: AccessLog;
  log: Logger;
  ids: IdGenerator;
  self: SelfEndpoints;
  /** The interception CA for download, once loaded. */
  ca?: CaDownload | null;
  /** The cache's store and counters, built once: cached responses survive a reload. */
  cache?: { store: CacheStore; counts: Record<CacheStatus, number> } | null;
  /** Quota counters and slots, built once per process. */
  quota?: Quotas | null;
  /** bcrypt off the event loop, one worker thread per process (started at the first check). */
  passwords?: PasswordCheck;
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
  const roots = upstreamRoots(config.tls.upstreamRoots);
  if (config.tls.upstreamRoots === 'system' && roots.source === 'bundled') {
    shared.log.warn("no system CA bundle found (SSL_CERT_FILE or the distribution's bundle): origins are verified against Node's bundled roots");
  }
  const pool = {
    connectionsPerOrigin: limits.upstreamConnectionsPerOrigin,
    keepAliveTimeout: timeouts.upstreamKeepAlive,
    headersTimeout: timeouts.upstreamHeaders,
    bodyTimeout: timeouts.bodyIdle,
    connectTimeout: timeouts.upstreamConnect,
    // Origins of intercepted requests are verified against the system roots (or Node's
    // bundled ones, per tls.upstreamRoots) plus the
    // admin's extra bundles, with the host name checked (RFC 9110 §4.3.4).
    // One SecureContext for every upstream connection: building one per connection from
    // ~150 roots would cost milliseconds each.
    tls: { secureContext: createSecureContext({ ca: [...roots.pems, ...config.tls.upstreamCaFiles.map(readCaFile)] }) },
    insecure: compileHostList(config.tls.insecureHosts),
  };
  const upstream = buildUpstream(config.upstream, dialer, pool, timeouts.upstreamConnect);
  return {
    config,
    generation,
    dialer,
    upstream,
    accessLog: shared.accessLog,
    log: shared.log,
    ids: shared.ids,
    via: proxy.via ? `1.1 ${proxy.name}` : null,
    connectPorts: new Set(proxy.connectPorts),
    policy,
    // No profile: no quota stage work at all on the hot path.
    quota: Object.keys(config.quota.profiles).length ? shared.quota ?? null : null,
    ca: shared.ca ?? null,
    cache: config.cache.enabled && shared.cache ? new HttpCache(cacheOptions(config), shared.cache.store, shared.log, shared.cache.counts) : null,
    ...buildAuth(config, shared.log, shared.passwords),
    logHeaders: HeaderFields.build({ ...config.log.headers, redact: config.log.redact.headers }),
  };
}

function cacheOptions(config: Config): ConstructorParameters<typeof HttpCache>[0] {
  const c = config.cache;
  return {
    maxObjectSize: c.memory.maxObjectSize,
    maxTtl: c.maxTtl,
    heuristicFraction: c.heuristicFraction,
    allowSetCookie: c.allowSetCookie,
    staleIfUnreachable: c.staleIfUnreachable,
    coalesce: c.coalesce,
    rules: c.rules,
  };
}

/** The store for the config's cache section: memory, with the disk tier behind it when configured. */
export function buildCacheStore(config: Config, log: Logger): CacheStore | null {
  const c = config.cache;
  if (!c.enabled) return null;
  const memory = new MemoryStore(c.memory.maxSize);
  return c.disk ? new TieredStore(memory, new DiskStore(c.disk.dir, c.disk.maxSize, log)) : memory;
}
