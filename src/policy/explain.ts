import type { CompiledRule, Policy } from './compile.js';
import { NEEDS_IP, NO, YES, type Condition, type Outcome } from './conditions.js';
import { EvalContext } from './context.js';
import { combine } from './decide.js';
import type { RequestFacts, Verdict } from './types.js';

export interface ConditionTrace {
  name: string;
  result: 'yes' | 'no' | 'needs-ip';
  detail: string;
}

export interface RuleTrace {
  ruleId: string;
  /** "file:line" of the rule. */
  source: string;
  mode: 'enforce' | 'report';
  /** "allow", "deny", "allow (tls intercept)". */
  action: string;
  /**
   * matched: all conditions hold; no-match: one does not; needs-ip: all others hold
   * and the destination IP is unknown; skipped: a report-mode rule after another
   * report-mode rule already matched (decide does not evaluate it).
   */
  result: 'matched' | 'no-match' | 'needs-ip' | 'skipped';
  note?: string;
  conditions: ConditionTrace[];
}

export interface Explanation {
  verdict: Verdict;
  /** The host as the rules saw it (normalised). */
  host: string;
  /** Every rule in order up to and including the one that decided. */
  rules: RuleTrace[];
}

/**
 * Why a request gets its verdict: for each rule up to the deciding one, every condition
 * and whether it held. Walks all rules without the host index and evaluates every
 * condition, so it is slow by design; it must agree with `decide` (tested).
 */
export function explain(policy: Policy, facts: RequestFacts): Explanation {
  const ctx = new EvalContext(facts);
  const out: RuleTrace[] = [];
  let report: CompiledRule | undefined;
  for (const rule of policy.rules) {
    const trace = traceRule(rule, ctx);
    out.push(trace);
    if (rule.mode === 'report' && report !== undefined) {
      trace.result = 'skipped';
      trace.note = `report-mode rule "${report.id}" already matched; later report-mode rules are not evaluated`;
      continue;
    }
    if (trace.result === 'no-match') continue;
    if (trace.result === 'needs-ip') return { verdict: rule.needsIp, host: ctx.host, rules: out };
    if (rule.mode === 'report') {
      report = rule;
      trace.note = `report mode: would ${rule.action}; evaluation continues to the first matching enforce rule`;
      continue;
    }
    return { verdict: combine(report, rule), host: ctx.host, rules: out };
  }
  throw new Error('policy has no default rule');
}

function traceRule(rule: CompiledRule, ctx: EvalContext): RuleTrace {
  const conds: Condition[] = rule.hosts ? [rule.hosts, ...rule.conditions] : [...rule.conditions];
  let worst: Outcome = YES;
  const conditions = conds.map((c): ConditionTrace => {
    const o = c.test(ctx);
    if (o === NO) worst = NO;
    else if (o === NEEDS_IP && worst === YES) worst = NEEDS_IP;
    return { name: c.name, result: o === YES ? 'yes' : o === NO ? 'no' : 'needs-ip', detail: c.describe(ctx, o) };
  });
  return {
    ruleId: rule.id,
    source: `${rule.file}:${rule.line}`,
    mode: rule.mode,
    action: rule.tls ? `${rule.action} (tls ${rule.tls})` : rule.action,
    result: worst === YES ? 'matched' : worst === NO ? 'no-match' : 'needs-ip',
    conditions,
  };
}

/** Human-readable form, for `egressd policy test`. */
export function formatExplanation(e: Explanation): string {
  const v = e.verdict;
  const lines: string[] = [];
  if (v.action === 'needs-ip') {
    lines.push(`verdict: needs the destination IP (rule "${v.ruleId}" has destinations); resolve ${e.host} and ask again`);
  } else {
    let head = `verdict: ${v.action} by rule "${v.ruleId}" (mode ${v.mode}): ${v.reason}`;
    if (v.wouldDeny) head += `\n  would deny in enforce mode; allowed by rule "${v.allowedBy}"`;
    if (v.tls) head += `\n  tls: ${v.tls}`;
    if (v.auth) head += `\n  auth: ${v.auth === 'required' ? 'required (an anonymous client gets 407 first)' : 'none (applies to anonymous clients too)'}`;
    lines.push(head);
  }
  e.rules.forEach((r, n) => {
    const mark = r.result === 'matched' ? 'MATCH' : r.result === 'no-match' ? 'no   ' : r.result === 'skipped' ? 'skip ' : 'IP?  ';
    lines.push(`${String(n + 1).padStart(3)}. ${mark} ${r.ruleId} [${r.action}${r.mode === 'report' ? ', report' : ''}] ${r.source}`);
    if (r.conditions.length === 0) lines.push('           (no conditions: matches every request)');
    for (const c of r.conditions) lines.push(`           ${c.result === 'yes' ? '+' : c.result === 'no' ? '-' : '?'} ${c.name}: ${c.detail}`);
    if (r.note) lines.push(`           note: ${r.note}`);
  });
  return lines.join('\n');
}
