import { ConfigError, type Problem } from '../config/yaml-source.js';
import {
  destinationsCondition,
  domainListsCondition,
  groupsCondition,
  headersCondition,
  hostsCondition,
  methodsCondition,
  pathsCondition,
  portsCondition,
  scheduleCondition,
  schemesCondition,
  sourcesCondition,
  usersCondition,
  type Condition,
} from './conditions.js';
import type { DomainSet } from './domain-set.js';
import { compileValueGlob } from './glob.js';
import { RuleIndex, type HostIndexing } from './rule-index.js';
import { ZoneClock } from './schedule.js';
import type { PolicyDocument, RuleDocument } from './schema.js';
import type { Decision, Mode, NeedsDestIp, ResponseLimits, TlsChoice } from './types.js';

/** One validated policy file, ready to compile. */
export interface PolicySource {
  /** File name, for messages and explain. */
  file: string;
  document: PolicyDocument;
  /** The file's `lists`, loaded, by name. */
  lists: ReadonlyMap<string, DomainSet>;
  /** Position of a value in the file, for semantic problems; line 1 col 1 without it. */
  locate?: (path: readonly PropertyKey[]) => { line: number; col: number };
}

export interface CompiledRule {
  /** Position in the whole policy (all files, in order). */
  readonly index: number;
  readonly id: string;
  readonly file: string;
  readonly line: number;
  readonly mode: Mode;
  readonly action: 'allow' | 'deny';
  readonly tls?: TlsChoice;
  readonly route?: string;
  /** Position of `route` in its file, for checking it names a configured group. */
  readonly routeAt?: { line: number; col: number };
  readonly reason: string;
  /** The full host condition. */
  readonly hosts?: Condition;
  /**
   * How decide treats `hosts`: "exact" — reaching the rule through the host index
   * proves it; "filter" or "none" — it must be evaluated.
   */
  readonly hostIndexed: HostIndexing;
  /** Every other condition, cheapest first; `destinations` last since it may need DNS. */
  readonly conditions: readonly Condition[];
  /** Precomputed verdicts, so an ordinary decision allocates nothing. */
  readonly decision: Decision;
  readonly needsIp: NeedsDestIp;
}

/** A compiled policy: immutable, safe to share between in-flight requests across reloads. */
export interface Policy {
  readonly files: readonly string[];
  readonly rules: readonly CompiledRule[];
  readonly index: RuleIndex;
  /** True when some rule has `destinations`: decide may answer "needs-ip". */
  readonly usesDestIp: boolean;
}

/** Compile validated policy files, in order. Throws ConfigError listing every problem. */
export function compilePolicy(sources: readonly PolicySource[]): Policy {
  const problems: Problem[] = [];
  const policy = compileCollecting(sources, problems, true);
  if (problems.length) throw new ConfigError(problems);
  return policy;
}

/**
 * Compile, appending problems instead of throwing. `complete` is false when some file
 * failed to parse: checks about the whole rule list (final default, reachability) would
 * then report noise.
 */
export function compileCollecting(sources: readonly PolicySource[], problems: Problem[], complete: boolean): Policy {
  const rules: CompiledRule[] = [];
  const index = new RuleIndex();
  const clocks = new Map<string, ZoneClock>();
  const firstId = new Map<string, Problem>();
  const at = (src: PolicySource, path: readonly PropertyKey[], message: string): Problem => ({
    file: src.file,
    ...(src.locate?.(path) ?? { line: 1, col: 1 }),
    message,
  });

  for (const src of sources) {
    const doc = src.document;
    doc.rules.forEach((r, i) => {
      const where = at(src, ['rules', i], '');
      const first = firstId.get(r.id);
      if (first) {
        const place = placeOf(first.file, first.line, src.file);
        problems.push(at(src, ['rules', i, 'id'], `duplicate rule id "${r.id}" (first defined at ${place})`));
      } else firstId.set(r.id, where);

      const lists: { name: string; set: DomainSet }[] = [];
      r.domainLists?.forEach((name, j) => {
        const set = src.lists.get(name);
        if (set) lists.push({ name, set });
        else {
          const declared = [...src.lists.keys()];
          const hint = declared.length ? `declared in this file: ${declared.join(', ')}` : 'this file declares no "lists"';
          problems.push(at(src, ['rules', i, 'domainLists', j], `unknown list "${name}" (${hint})`));
        }
      });

      const ruleIndex = rules.length;
      const hostIndexed = index.add(ruleIndex, r);
      rules.push(compileRule(r, ruleIndex, doc.mode ?? 'enforce', where, hostIndexed, lists, clocks, r.route ? src.locate?.(['rules', i, 'route']) : undefined));
    });
  }

  if (complete) checkReachability(rules, sources, problems, at);
  return Object.freeze({
    files: Object.freeze(sources.map((s) => s.file)),
    rules: Object.freeze(rules),
    index,
    usesDestIp: rules.some((r) => r.conditions.some((c) => c.name === 'destinations')),
  });
}

function compileRule(
  r: RuleDocument,
  index: number,
  fileMode: Mode,
  where: Problem,
  hostIndexed: HostIndexing,
  lists: { name: string; set: DomainSet }[],
  clocks: Map<string, ZoneClock>,
  routeAt?: { line: number; col: number },
): CompiledRule {
  const action = r.action === 'deny' ? 'deny' : 'allow';
  const tls: TlsChoice | undefined = r.action === 'intercept' || r.action === 'tunnel' ? r.action : r.tls;
  const mode = r.mode ?? fileMode;
  const reason = r.reason ?? `${action === 'deny' ? 'denied' : 'allowed'} by rule "${r.id}"`;

  // Cheapest and most selective first; destinations last, since it may need DNS.
  const conditions: Condition[] = [];
  if (r.ports) conditions.push(portsCondition(r.ports));
  if (r.schemes) conditions.push(schemesCondition(r.schemes));
  if (r.methods) conditions.push(methodsCondition(r.methods));
  if (r.users) conditions.push(usersCondition(r.users));
  if (r.groups) conditions.push(groupsCondition(r.groups));
  if (r.sources) conditions.push(sourcesCondition(r.sources));
  if (r.domainLists) conditions.push(domainListsCondition(lists));
  if (r.headers) {
    const headers = Object.entries(r.headers).map(([name, v]) => ({ name: name.toLowerCase(), source: v.source, res: v.res }));
    conditions.push(headersCondition(headers));
  }
  if (r.paths) conditions.push(pathsCondition(r.paths, r.onUnknownPath ?? 'skip'));
  if (r.schedule) {
    const s = r.schedule;
    let clock = clocks.get(s.timezone);
    if (!clock) clocks.set(s.timezone, (clock = new ZoneClock(s.timezone)));
    const text = `${formatDays(s.days)}${s.hours.length ? ` ${s.hours.map(formatRange).join(', ')}` : ''} ${s.timezone}`;
    conditions.push(scheduleCondition({ clock, days: s.days, hours: s.hours }, text));
  }
  if (r.destinations) conditions.push(destinationsCondition(r.destinations));

  let response: ResponseLimits | undefined;
  if (r.response) {
    const globs = r.response.denyContentTypes ?? [];
    response = Object.freeze({
      ruleId: r.id,
      mode: r.response.mode ?? mode,
      reason: r.response.reason ?? `response refused by rule "${r.id}"`,
      denyContentTypes: globs.map(compileValueGlob),
      denyContentTypeGlobs: globs,
      ...(r.response.maxSize !== undefined ? { maxSize: r.response.maxSize } : {}),
    });
  }

  const decision: Decision = Object.freeze({
    action,
    ruleId: r.id,
    reason,
    mode,
    ...(action === 'allow' && tls ? { tls } : {}),
    ...(r.route ? { route: r.route } : {}),
    ...(action === 'allow' && response ? { response } : {}),
    ...(action === 'allow' && r.quota ? { quota: r.quota } : {}),
    ...(r.auth ? { auth: r.auth } : {}),
  });
  return {
    index,
    id: r.id,
    file: where.file,
    line: where.line,
    mode,
    action,
    ...(tls ? { tls } : {}),
    ...(r.route ? { route: r.route, routeAt: routeAt ?? { line: where.line, col: 1 } } : {}),
    reason,
    ...(r.hosts ? { hosts: hostsCondition(r.hosts) } : {}),
    hostIndexed,
    conditions,
    decision,
    needsIp: Object.freeze({ action: 'needs-ip', ruleId: r.id }),
  };
}

/**
 * Like Squid's http_access, the list must end with an explicit default: a rule with no
 * conditions in enforce mode. Rules after such a rule could never match, which is
 * almost always a file loaded in the wrong order, so that is an error too.
 */
function checkReachability(
  rules: readonly CompiledRule[],
  sources: readonly PolicySource[],
  problems: Problem[],
  at: (src: PolicySource, path: readonly PropertyKey[], message: string) => Problem,
): void {
  const locate = (rule: CompiledRule): Problem => {
    let n = rule.index;
    for (const src of sources) {
      if (n < src.document.rules.length) return at(src, ['rules', n], '');
      n -= src.document.rules.length;
    }
    return { file: rule.file, line: rule.line, col: 1, message: '' };
  };
  const catchAll = rules.findIndex((r) => r.mode === 'enforce' && !r.hosts && r.conditions.length === 0);
  if (catchAll < 0) {
    const last = rules[rules.length - 1];
    const p = last ? locate(last) : { file: sources[sources.length - 1]?.file ?? '', line: 1, col: 1, message: '' };
    problems.push({
      ...p,
      message:
        'the policy must end with a default rule that has no conditions and is in enforce mode, e.g. "- id: default / action: allow"',
    });
    return;
  }
  const next = rules[catchAll + 1];
  if (next) {
    const u = rules[catchAll]!;
    problems.push({
      ...locate(next),
      message: `rule "${next.id}" can never match: rule "${u.id}" (${placeOf(u.file, u.line, next.file)}) above it has no conditions and matches every request`,
    });
  }
}

/** "line 3" within the same file, "other.yaml:3" across files. */
function placeOf(file: string, line: number, from: string): string {
  return file === from ? `line ${line}` : `${file}:${line}`;
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];
function formatDays(mask: number): string {
  if (mask === 0x7f) return 'every day';
  return DAYS.filter((_, d) => (mask >> d) & 1).join(',');
}
function formatRange([s, e]: readonly [number, number]): string {
  const f = (m: number): string => `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
  return `${f(s)}-${f(e)}`;
}
