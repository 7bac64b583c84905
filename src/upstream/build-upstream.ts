import type { z } from 'zod';
import type { upstreamSchema } from '../config/upstream-schema.js';
import { basicAuthorization, parseProxyUrl, type ProxyUrl } from '../http/proxy-url.js';
import { formatAuthority } from '../http/target.js';
import type { Dialer } from './dialer.js';
import { createHttpPool, type PoolOptions } from './http-pool.js';
import { ParentGroup } from './parents/group.js';
import { HealthChecker } from './parents/health-check.js';
import { Parent } from './parents/parent.js';
import { openParentTunnel, Upstream } from './router.js';

export type UpstreamConfig = z.output<typeof upstreamSchema>;

/**
 * Build the direct pool, every parent group (one keep-alive pool per parent) and their
 * health checkers from a validated config. Nothing starts until `Upstream.start()`.
 */
export function buildUpstream(cfg: UpstreamConfig, dialer: Dialer, pool: PoolOptions, connectTimeout: number): Upstream {
  const direct = createHttpPool((host, port, _protocol, phases) => dialer.dial(host, port, undefined, false, phases).then((d) => d.socket), pool);
  const groups = new Map<string, ParentGroup>();
  const checkers: HealthChecker[] = [];
  for (const [name, g] of Object.entries(cfg.groups)) {
    const members = g.parents.map((entry) => {
      const e = typeof entry === 'string' ? { url: entry, weight: 1, maxConnections: 256 } : entry;
      const u = parseProxyUrl(e.url) as ProxyUrl; // validated by the schema
      const parent = new Parent(
        { name: ('name' in e && e.name) || formatAuthority(u.host, u.port), host: u.host, port: u.port, authorization: basicAuthorization(u), weight: e.weight, maxConnections: e.maxConnections },
        g.eject,
      );
      // Plain HTTP goes to the parent itself (absolute form); https origins of decrypted
      // requests are reached through a CONNECT tunnel it opens.
      const parentPool = createHttpPool(
        (host, port, protocol, phases) =>
          protocol === 'https:'
            ? openParentTunnel(dialer, parent, host, port, connectTimeout, undefined, false, phases)
            : dialer.dialParent(parent.spec.host, parent.spec.port, undefined, false, phases).then((d) => d.socket),
        pool,
      );
      return { parent, pool: parentPool };
    });
    groups.set(name, new ParentGroup(name, members, { strategy: g.strategy, fallbackDirect: g.fallbackDirect, maxAttempts: g.maxAttempts }));
    checkers.push(new HealthChecker(members.map((m) => m.parent), dialer, g.health));
  }
  return new Upstream(dialer, direct, groups, cfg.default, checkers, connectTimeout);
}
