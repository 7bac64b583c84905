import { z } from 'zod';
import { size } from '../config/units.js';
import { parseCidr, type Cidr } from '../http/cidr.js';
import { normaliseDomainEntry } from './domain-set.js';
import { compileValueGlob } from './glob.js';
import { parseHostPattern, type HostPattern } from './host.js';
import { parsePathGlob } from './path.js';
import { parseDays, parseHours, timezoneError } from './schedule.js';

/**
 * Schema of one policy file (`version: 1`). Leaf values are parsed here (globs, CIDRs,
 * ports, hours), so every mistake is reported with the line and column of the value;
 * cross-references (list names, duplicate ids, the final default) are checked by the
 * compiler, which also knows positions. Unknown keys are errors everywhere.
 */

const modeSchema = z.enum(['enforce', 'report']);

/** A non-empty list: an empty condition list would silently never match. */
function list<T extends z.ZodType>(item: T) {
  return z.array(item).min(1, 'list at least one value, or leave the condition out to match anything');
}

/** A string leaf parsed by `parse`, which returns the value (never a string) or an error message. */
function parsed<T>(parse: (s: string) => T | string) {
  return z.string().transform((s, ctx): T => {
    const v = parse(s);
    if (typeof v === 'string') {
      ctx.addIssue({ code: 'custom', message: v });
      return z.NEVER;
    }
    return v;
  });
}

const cidr = parsed<Cidr>((s) => parseCidr(s) ?? `invalid CIDR or IP address "${s}"`);
const hostPattern = parsed<HostPattern>(parseHostPattern);
const pathGlob = parsed(parsePathGlob);
const days = parsed<number>(parseDays);
const hours = parsed<[number, number]>(parseHours);
const timezone = z.string().superRefine((tz, ctx) => {
  const err = timezoneError(tz);
  if (err) ctx.addIssue({ code: 'custom', message: err });
});

/** 443, or an inclusive range "8000-8999". */
const port = z.union([z.number(), z.string()]).transform((v, ctx): [number, number] => {
  const m = typeof v === 'number' ? [String(v), String(v), String(v)] : /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(v.trim());
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2] ?? m[1]) : NaN;
  if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 1 || hi > 65535 || lo > hi) {
    ctx.addIssue({ code: 'custom', message: `invalid port or port range ${JSON.stringify(v)} (use e.g. 443 or "8000-8999")` });
    return z.NEVER;
  }
  return [lo, hi];
});

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/; // RFC 9110 §5.6.2
const method = z
  .string()
  .regex(TOKEN, 'not a valid HTTP method')
  .transform((m) => m.toUpperCase());

/** Header value matcher: a glob, a list of globs (OR), or `{ regex: "..." }`. Case-insensitive. */
const headerValue = z
  .union([z.string(), z.array(z.string()).min(1), z.strictObject({ regex: z.string() })], {
    error: 'expected a glob, a list of globs, or { regex: "..." }',
  })
  .transform((v, ctx): { source: string; res: RegExp[] } => {
    if (typeof v === 'string') return { source: v, res: [compileValueGlob(v)] };
    if (Array.isArray(v)) return { source: v.join(' | '), res: v.map(compileValueGlob) };
    try {
      return { source: `/${v.regex}/i`, res: [new RegExp(v.regex, 'i')] };
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: `invalid regular expression: ${(err as Error).message}` });
      return z.NEVER;
    }
  });

const schedule = z.strictObject({
  /** IANA zone, required: "08:00" means nothing without one. */
  timezone,
  days: list(days)
    .optional()
    .transform((ds) => (ds ? ds.reduce((a, b) => a | b, 0) : 0x7f)),
  hours: list(hours).optional().default([]),
});

const response = z
  .strictObject({
    /** Media type globs to refuse, e.g. "video/*", "application/x-msdownload". */
    denyContentTypes: list(z.string().min(1)).optional(),
    /** Largest body allowed, e.g. 100MiB; checked on Content-Length and on the streamed count. */
    maxSize: size.optional(),
    reason: z.string().optional(),
    mode: modeSchema.optional(),
  })
  .refine((r) => r.denyContentTypes !== undefined || r.maxSize !== undefined, {
    message: 'give denyContentTypes and/or maxSize',
  });

const ID = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const LIST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

export const ruleSchema = z
  .strictObject({
    id: z.string().regex(ID, 'rule ids use letters, digits, ".", "_", ":" and "-"'),
    users: list(z.string().min(1)).optional(),
    groups: list(z.string().min(1)).optional(),
    sources: list(cidr).optional(),
    hosts: list(hostPattern).optional(),
    domainLists: list(z.string()).optional(),
    destinations: list(cidr).optional(),
    ports: list(port).optional(),
    schemes: list(z.enum(['http', 'https'])).optional(),
    methods: list(method).optional(),
    paths: list(pathGlob).optional(),
    /** What a `paths` rule does when the path is unknown (CONNECT not intercepted). */
    onUnknownPath: z.enum(['match', 'skip']).optional(),
    headers: z.record(z.string(), headerValue).optional(),
    schedule: schedule.optional(),
    /** intercept and tunnel are shorthands for allow with `tls: intercept|tunnel`. */
    action: z.enum(['allow', 'deny', 'intercept', 'tunnel']),
    tls: z.enum(['intercept', 'tunnel']).optional(),
    /** Where an allowed request leaves: "direct" or a parent group of the config's `upstream.groups`. */
    route: z.string().regex(/^[A-Za-z0-9._-]+$/, 'a parent group name or "direct"').optional(),
    reason: z.string().optional(),
    mode: modeSchema.optional(),
    response: response.optional(),
    /** Quota profile (config `quota.profiles`) for requests this rule allows. */
    quota: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'profile names use letters, digits, ".", "_" and "-"').optional(),
    /**
     * Whether the rule's verdict needs an authenticated user: "required" challenges an
     * anonymous client with 407 first, "none" applies the verdict to anonymous clients
     * even when auth.required is set. Absent: the config's auth.required decides.
     */
    auth: z.enum(['required', 'none']).optional(),
  })
  .superRefine((r, ctx) => {
    if (r.quota !== undefined && r.action === 'deny') {
      ctx.addIssue({ code: 'custom', path: ['quota'], message: 'a quota profile belongs on rules that allow' });
    }
    if (r.tls !== undefined && r.action !== 'allow') {
      ctx.addIssue({ code: 'custom', path: ['tls'], message: `"tls" goes with action allow (action ${r.action} already decides)` });
    }
    if (r.route !== undefined && r.action === 'deny') {
      ctx.addIssue({ code: 'custom', path: ['route'], message: 'a route belongs on a rule that allows' });
    }
    if (r.response !== undefined && r.action === 'deny') {
      ctx.addIssue({ code: 'custom', path: ['response'], message: 'response limits belong on rules that allow' });
    }
    if (r.onUnknownPath !== undefined && r.paths === undefined) {
      ctx.addIssue({ code: 'custom', path: ['onUnknownPath'], message: 'onUnknownPath only applies to a rule with "paths"' });
    }
    if (r.headers && Object.keys(r.headers).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['headers'], message: 'list at least one header, or leave the condition out' });
    }
    // Checked here rather than as the record's key schema, whose message zod replaces
    // with a generic "Invalid key in record".
    for (const name of Object.keys(r.headers ?? {})) {
      if (!TOKEN.test(name)) ctx.addIssue({ code: 'custom', path: ['headers', name], message: `"${name}" is not a valid header name` });
    }
  });

const domainEntry = z.string().transform((s, ctx): string => {
  const d = normaliseDomainEntry(s.trim());
  if (d !== undefined) return d;
  ctx.addIssue({ code: 'custom', message: `invalid domain "${s}"` });
  return z.NEVER;
});

const listSchema = z
  .strictObject({
    /** One domain per line, relative to the policy file. */
    file: z.string().min(1).optional(),
    /** Or inline, for short lists. */
    domains: list(domainEntry).optional(),
  })
  .refine((l) => (l.file === undefined) !== (l.domains === undefined), { message: 'give either "file" or "domains"' });

export const policyFileSchema = z.strictObject({
  version: z.literal(1, { error: 'must be 1 (the policy file format version)' }),
  /** Default mode for the rules of this file. */
  mode: modeSchema.optional(),
  lists: z.record(z.string().regex(LIST_NAME, 'list names use letters, digits, ".", "_" and "-"'), listSchema).optional(),
  rules: z.array(ruleSchema).min(1, 'a policy file needs at least one rule'),
});

export type PolicyDocument = z.output<typeof policyFileSchema>;
export type RuleDocument = z.output<typeof ruleSchema>;
