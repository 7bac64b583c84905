import { CidrSet, type Cidr } from '../http/cidr.js';
import type { EvalContext } from './context.js';
import type { DomainSet } from './domain-set.js';
import type { Glob } from './glob.js';
import { formatHostPattern, type HostPattern } from './host.js';
import { describeLocalTime, scheduleMatches, type Schedule } from './schedule.js';

/** Outcome of one condition: no, yes, or "cannot tell without the destination IP". */
export const NO = 0;
export const YES = 1;
export const NEEDS_IP = 2;
export type Outcome = typeof NO | typeof YES | typeof NEEDS_IP;

export type ConditionName =
  | 'users'
  | 'groups'
  | 'sources'
  | 'hosts'
  | 'domainLists'
  | 'destinations'
  | 'ports'
  | 'schemes'
  | 'methods'
  | 'paths'
  | 'headers'
  | 'schedule';

/**
 * One compiled condition of a rule. `test` is the hot path; `describe` is only for
 * explain and may allocate freely.
 */
export interface Condition {
  readonly name: ConditionName;
  test(ctx: EvalContext): Outcome;
  describe(ctx: EvalContext, outcome: Outcome): string;
}

const q = JSON.stringify;
const yes = (b: boolean): Outcome => (b ? YES : NO);
const isIn = (o: Outcome, what: string, list: string): string => `${what} ${o === YES ? 'is in' : 'is not in'} [${list}]`;

export function usersCondition(users: readonly string[]): Condition {
  const set = new Set(users.map((u) => u.toLowerCase()));
  return {
    name: 'users',
    test: (ctx) => yes(ctx.user !== undefined && set.has(ctx.user)),
    describe: (ctx, o) => (ctx.user === undefined ? 'no authenticated user' : isIn(o, `user ${q(ctx.user)}`, users.join(', '))),
  };
}

export function groupsCondition(groups: readonly string[]): Condition {
  const set = new Set(groups.map((g) => g.toLowerCase()));
  return {
    name: 'groups',
    test: (ctx) => {
      for (const g of ctx.groups) if (set.has(g)) return YES;
      return NO;
    },
    describe: (ctx, o) => `groups [${ctx.groups.join(', ')}] ${o === YES ? 'include one of' : 'include none of'} [${groups.join(', ')}]`,
  };
}

function cidrCondition(name: 'sources' | 'destinations', cidrs: readonly Cidr[]): Condition {
  const set = new CidrSet(cidrs);
  const text = cidrs.map((c) => `${c.address}/${c.prefix}`).join(', ');
  if (name === 'sources') {
    return {
      name,
      test: (ctx) => {
        const key = ctx.clientKey;
        return yes(key !== undefined && set.hasKey(key));
      },
      describe: (ctx, o) => isIn(o, `client ${ctx.facts.clientIp}`, text),
    };
  }
  return {
    name,
    test: (ctx) => {
      const key = ctx.destKey;
      return key === undefined ? NEEDS_IP : yes(set.hasKey(key));
    },
    describe: (ctx, o) => (o === NEEDS_IP ? `destination IP not known yet (needs DNS) for [${text}]` : isIn(o, `destination ${ctx.destIp}`, text)),
  };
}
export const sourcesCondition = (cidrs: readonly Cidr[]): Condition => cidrCondition('sources', cidrs);
export const destinationsCondition = (cidrs: readonly Cidr[]): Condition => cidrCondition('destinations', cidrs);

/**
 * Full host matching, used for rules the host index cannot hold (real globs) and by
 * explain for every rule. Exact names and both suffix forms are hash lookups.
 */
export function hostsCondition(patterns: readonly HostPattern[]): Condition {
  const exact = new Set<string>();
  const subdomains = new Set<string>();
  const globs: Glob[] = [];
  for (const p of patterns) {
    if (p.kind === 'exact') exact.add(p.name);
    else if (p.kind === 'glob') globs.push(p.glob);
    else {
      subdomains.add(p.name);
      if (p.kind === 'domain') exact.add(p.name);
    }
  }
  const test = (ctx: EvalContext): Outcome => {
    const h = ctx.host;
    if (exact.has(h)) return YES;
    if (subdomains.size && !ctx.hostIsIp) {
      for (let i = h.indexOf('.'); i >= 0; i = h.indexOf('.', i + 1)) if (subdomains.has(h.slice(i + 1))) return YES;
    }
    for (const g of globs) if (g.test(h)) return YES;
    return NO;
  };
  return {
    name: 'hosts',
    test,
    describe: (ctx, o) => `host ${q(ctx.host)} ${o === YES ? 'matches' : 'matches none of'} [${patterns.map(formatHostPattern).join(', ')}]`,
  };
}

export function domainListsCondition(lists: readonly { name: string; set: DomainSet }[]): Condition {
  return {
    name: 'domainLists',
    test: (ctx) => {
      for (const l of lists) if (l.set.has(ctx.host, ctx.hostIsIp)) return YES;
      return NO;
    },
    describe: (ctx) => {
      for (const l of lists) {
        const entry = l.set.matchOf(ctx.host, ctx.hostIsIp);
        if (entry !== undefined) return `host ${q(ctx.host)} is in list ${q(l.name)} (entry ${q(entry)})`;
      }
      return `host ${q(ctx.host)} is in none of the lists [${lists.map((l) => l.name).join(', ')}]`;
    },
  };
}

export function portsCondition(ranges: readonly (readonly [number, number])[]): Condition {
  const text = ranges.map(([lo, hi]) => (lo === hi ? String(lo) : `${lo}-${hi}`)).join(', ');
  // Flat [lo, hi, lo, hi, ...]: destructuring pairs in the hot loop costs an iterator each.
  const flat = Int32Array.from(ranges.flat());
  return {
    name: 'ports',
    test: (ctx) => {
      const p = ctx.facts.port;
      for (let i = 0; i < flat.length; i += 2) if (p >= flat[i]! && p <= flat[i + 1]!) return YES;
      return NO;
    },
    describe: (ctx, o) => isIn(o, `port ${ctx.facts.port}`, text),
  };
}

export function schemesCondition(schemes: readonly string[]): Condition {
  return {
    name: 'schemes',
    test: (ctx) => yes(schemes.includes(ctx.facts.scheme)),
    describe: (ctx, o) => isIn(o, `scheme ${ctx.facts.scheme}`, schemes.join(', ')),
  };
}

export function methodsCondition(methods: readonly string[]): Condition {
  const set = new Set(methods);
  return {
    name: 'methods',
    test: (ctx) => yes(set.has(ctx.facts.method)),
    describe: (ctx, o) => isIn(o, `method ${ctx.facts.method}`, methods.join(', ')),
  };
}

/**
 * URL path globs. The path is unknown for a CONNECT that is not intercepted: the rule
 * then matches or not as its `onUnknownPath` says (default "skip": a path rule only
 * applies where the path can be seen; intercept the host to enforce it on HTTPS).
 */
export function pathsCondition(globs: readonly Glob[], onUnknownPath: 'match' | 'skip'): Condition {
  const text = globs.map((g) => g.source).join(', ');
  return {
    name: 'paths',
    test: (ctx) => {
      const p = ctx.path;
      if (p === undefined) return onUnknownPath === 'match' ? YES : NO;
      for (const g of globs) if (g.test(p)) return YES;
      return NO;
    },
    describe: (ctx, o) =>
      ctx.path === undefined
        ? `path unknown (CONNECT without interception): onUnknownPath ${onUnknownPath}`
        : `path ${q(ctx.path)} ${o === YES ? 'matches' : 'matches none of'} [${text}]`,
  };
}

export interface HeaderMatcher {
  /** Lowercase header name. */
  name: string;
  source: string;
  res: readonly RegExp[];
}

/** Every listed header must match (AND); a header's alternatives are OR; absent never matches. */
export function headersCondition(headers: readonly HeaderMatcher[]): Condition {
  const one = (ctx: EvalContext, h: HeaderMatcher): boolean => {
    const v = ctx.facts.headers?.[h.name];
    if (v === undefined) return false;
    if (typeof v === 'string') {
      for (const re of h.res) if (re.test(v)) return true;
      return false;
    }
    for (const value of v) for (const re of h.res) if (re.test(value)) return true;
    return false;
  };
  return {
    name: 'headers',
    test: (ctx) => {
      for (const h of headers) if (!one(ctx, h)) return NO;
      return YES;
    },
    describe: (ctx) =>
      headers
        .map((h) => {
          const v = ctx.facts.headers?.[h.name];
          const shown = v === undefined ? 'absent' : q(typeof v === 'string' ? v : v.join(', '));
          return `${h.name} ${shown} ${one(ctx, h) ? 'matches' : 'does not match'} ${h.source}`;
        })
        .join('; '),
  };
}

export function scheduleCondition(schedule: Schedule, source: string): Condition {
  return {
    name: 'schedule',
    test: (ctx) => yes(scheduleMatches(schedule, ctx.now)),
    describe: (ctx, o) => `local time ${describeLocalTime(schedule, ctx.now)} is ${o === YES ? 'within' : 'outside'} ${source}`,
  };
}
