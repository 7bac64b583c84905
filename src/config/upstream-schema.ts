import { z } from 'zod';
import { parseProxyUrl } from '../http/proxy-url.js';
import { STRATEGIES } from '../upstream/parents/balancer.js';
import { positiveDuration } from './units.js';

const NAME = /^[A-Za-z0-9._-]+$/;

const proxyUrl = z.string().superRefine((s, ctx) => {
  const r = parseProxyUrl(s);
  if (typeof r === 'string') ctx.addIssue({ code: 'custom', message: r });
});

const parent = z.union([
  proxyUrl,
  z.strictObject({
    url: proxyUrl,
    /** Name in logs and status (default host:port). */
    name: z.string().regex(NAME, 'letters, digits, ".", "_" and "-" only').optional(),
    weight: z.number().int().min(1).max(1000).default(1),
    /** Requests and tunnels in progress through this parent at most. */
    maxConnections: z.number().int().min(1).default(256),
  }),
]);

const group = z.strictObject({
  strategy: z.enum(STRATEGIES).default('round-robin'),
  parents: z.array(parent).min(1),
  /** Go direct when no parent of the group can take a request (Squid's prefer_direct off + no never_direct). */
  fallbackDirect: z.boolean().default(false),
  /** Parents tried for one request before giving up. */
  maxAttempts: z.number().int().min(1).default(3),
  health: z
    .strictObject({
      check: z.enum(['none', 'tcp', 'http']).default('tcp'),
      /** For check: http, the URL requested through the parent. */
      url: z.string().url().optional(),
      interval: positiveDuration.prefault('10s'),
      timeout: positiveDuration.prefault('3s'),
      rise: z.number().int().min(1).default(2),
      fall: z.number().int().min(1).default(2),
    })
    .prefault({})
    .superRefine((h, ctx) => {
      if (h.check === 'http' && !h.url) ctx.addIssue({ code: 'custom', path: ['url'], message: 'check: http needs a url to request through the parent' });
    }),
  /** Passive checks: consecutive failures eject a parent for a backoff that doubles up to max. */
  eject: z
    .strictObject({
      failures: z.number().int().min(1).default(3),
      base: positiveDuration.prefault('5s'),
      max: positiveDuration.prefault('5m'),
    })
    .prefault({}),
});

export const upstreamSchema = z
  .strictObject({
    /** "direct" or the name of a group: where requests go unless a policy rule routes them. */
    default: z.string().default('direct'),
    groups: z.record(z.string().regex(NAME, 'group names use letters, digits, ".", "_" and "-"'), group).default({}),
  })
  .prefault({})
  .superRefine((u, ctx) => {
    if (u.default !== 'direct' && !(u.default in u.groups)) {
      ctx.addIssue({ code: 'custom', path: ['default'], message: `unknown parent group "${u.default}" (groups: ${Object.keys(u.groups).join(', ') || 'none'}; or "direct")` });
    }
    if ('direct' in u.groups) ctx.addIssue({ code: 'custom', path: ['groups', 'direct'], message: '"direct" is reserved for the direct route' });
  });
