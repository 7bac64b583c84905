import { z } from 'zod';
import { timezoneError } from '../policy/schedule.js';
import { duration, parseSize, positiveDuration } from './units.js';

/**
 * The config's `quota` section: profiles (rate, burst, volume per calendar window,
 * concurrency), who gets which, the time zone of the windows, and the store. Profile
 * references are checked here so a typo is a file:line:col error, not a silent
 * "unlimited".
 */

const PROFILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const RATE = /^(\d+(?:\.\d+)?)\s*\/\s*(s|m|h)$/;
const RATE_PER: Record<string, number> = { s: 1, m: 60, h: 3600 };
/** Requests per second: a number, or "10/s", "600/m", "1000/h". */
const rate = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const m = typeof v === 'string' ? RATE.exec(v.trim()) : null;
  const n = typeof v === 'number' ? v : m ? Number(m[1]) / RATE_PER[m[2]!]! : NaN;
  if (!(n > 0) || !Number.isFinite(n)) {
    ctx.addIssue({ code: 'custom', message: `invalid rate ${JSON.stringify(v)} (use requests per second, or e.g. "10/s", "600/m", "1000/h")` });
    return z.NEVER;
  }
  return n;
});
const VOLUME = /^(.+?)\s+per\s+(hour|day|week|month)$/;
/** "2GiB per day": a size and a calendar window. */
const volumeLimit = z.string().transform((s, ctx) => {
  const m = VOLUME.exec(s.trim());
  const bytes = m ? parseSize(m[1]!) : undefined;
  if (!m || bytes === undefined || bytes <= 0) {
    ctx.addIssue({ code: 'custom', message: `invalid volume ${JSON.stringify(s)} (use "<size> per hour|day|week|month", e.g. "2GiB per day")` });
    return z.NEVER;
  }
  return { bytes, per: m[2] as 'hour' | 'day' | 'week' | 'month', text: s.trim() };
});
const quotaProfile = z
  .strictObject({
    rate: rate.optional(),
    /** Bucket size: requests allowed at once after a quiet spell. Default: one second of `rate`. */
    burst: z.number().int().min(1).optional(),
    volume: z.array(volumeLimit).default([]),
    concurrent: z.number().int().min(1).optional(),
  })
  .superRefine((p, ctx) => {
    if (p.burst !== undefined && p.rate === undefined) ctx.addIssue({ code: 'custom', path: ['burst'], message: '"burst" needs a "rate"' });
    const seen = new Set<string>();
    p.volume.forEach((v, i) => {
      if (seen.has(v.per)) ctx.addIssue({ code: 'custom', path: ['volume', i], message: `two volume limits per ${v.per}: keep one` });
      seen.add(v.per);
    });
  });
const profileRef = z.string().regex(PROFILE_NAME, 'profile names use letters, digits, ".", "_" and "-"');

export const quotaSection = z
  .strictObject({
    /** Named limits; users, groups, anonymous/default and policy rules refer to them. */
    profiles: z.record(profileRef, quotaProfile).default({}),
    /** user name → profile (case-insensitive names). */
    users: z.record(z.string().min(1), profileRef).default({}),
    /** group → profile; with several groups, the first listed here wins. */
    groups: z.record(z.string().min(1), profileRef).default({}),
    /** Profile for requests without a user (counted per client address); null: unlimited. */
    anonymous: profileRef.nullable().default(null),
    /** Profile for known users with no profile of their own or of a group; null: unlimited. */
    default: profileRef.nullable().default(null),
    /** IANA zone where calendar windows (day, week, month) start. */
    timezone: z.string().default('UTC').superRefine((tz, ctx) => {
      const err = timezoneError(tz);
      if (err) ctx.addIssue({ code: 'custom', message: err });
    }),
    store: z.enum(['memory', 'redis']).default('memory'),
    snapshot: z
      .strictObject({
        /** State file of the memory store (relative to this config); "" disables it. */
        file: z.string().default('quota-state.json'),
        /** How often it is written (and always at shutdown); 0: only at shutdown. */
        interval: duration.prefault('60s'),
      })
      .prefault({}),
    /** How often a tunnel's bytes are counted and checked against the volume. */
    tunnelCheck: positiveDuration.prefault('1s'),
    redis: z
      .strictObject({
        url: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').default('redis://127.0.0.1:6379'),
        prefix: z.string().default('egressd:quota:'),
        /** When Redis does not answer: "open" lets requests through unmetered, "closed" answers 503. */
        onError: z.enum(['open', 'closed']).default('open'),
        /** Per-command timeout. */
        timeout: positiveDuration.prefault('500ms'),
      })
      .prefault({}),
  })
  .superRefine((q, ctx) => {
    const known = Object.keys(q.profiles);
    const check = (name: string | null, path: (string | number)[]): void => {
      if (name !== null && !Object.hasOwn(q.profiles, name)) {
        ctx.addIssue({ code: 'custom', path, message: `unknown quota profile "${name}" (profiles: ${known.join(', ') || 'none defined'})` });
      }
    };
    for (const [u, p] of Object.entries(q.users)) check(p, ['users', u]);
    for (const [g, p] of Object.entries(q.groups)) check(p, ['groups', g]);
    check(q.anonymous, ['anonymous']);
    check(q.default, ['default']);
  });
