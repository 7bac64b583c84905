import type { Config } from '../config/schema.js';

/**
 * Settings a reload cannot apply to a running proxy: bound sockets, open log files,
 * stores built once (the CA and leaf caches when interception is first set up, the
 * cache tiers, the quota store), the admin listener. A reload takes the rest and says
 * which of these wait for the next restart.
 */
const RESTART_ONLY: ReadonlyArray<readonly [string, (c: Config) => unknown]> = [
  ['listeners', (c) => c.listeners],
  ['log', (c) => c.log],
  ['limits.maxHeaderSize', (c) => c.limits.maxHeaderSize],
  ['tls.ca', (c) => c.tls.ca],
  ['tls.leafCacheSize', (c) => c.tls.leafCacheSize],
  ['tls.leafDiskCacheSize', (c) => c.tls.leafDiskCacheSize],
  ['cache.enabled', (c) => c.cache.enabled],
  ['cache.memory', (c) => c.cache.memory],
  ['cache.disk', (c) => c.cache.disk],
  ['admin', (c) => c.admin],
  ['quota.store', (c) => c.quota.store],
  ['quota.snapshot', (c) => c.quota.snapshot],
  ['quota.redis.url', (c) => c.quota.redis.url],
  ['quota.redis.prefix', (c) => c.quota.redis.prefix],
];

/** The restart-only settings that differ between two configs, by their dotted names. */
export function keysNeedingRestart(old: Config, next: Config): string[] {
  return RESTART_ONLY.filter(([, get]) => JSON.stringify(get(old)) !== JSON.stringify(get(next))).map(([key]) => key);
}
