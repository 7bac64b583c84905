import type { CompiledRule, Policy } from './compile.js';
import { NEEDS_IP, NO, type Outcome } from './conditions.js';
import { EvalContext } from './context.js';
import type { Decision, RequestFacts, Verdict } from './types.js';

/**
 * Decide a request: the first matching rule wins.
 *
 * Report mode: a report-mode rule never ends the evaluation. The first report-mode rule
 * that matches is remembered and evaluation goes on to the first matching enforce rule,
 * which decides. If the report rule would have denied and the enforce rule allows, the
 * result is an allow with `wouldDeny`, carrying the report rule's id and reason for the
 * log and `allowedBy` for the rule that let it pass. So adding a report-mode rule never
 * changes what is enforced, in either direction.
 *
 * Pure and allocation-light: the candidates come from the rule index, and the usual
 * results are the rule's precomputed, frozen verdict objects.
 */
export function decide(policy: Policy, facts: RequestFacts): Verdict {
  const ctx = new EvalContext(facts);
  const { rules, index } = policy;
  const always = index.always;
  const hits = index.candidates(ctx);
  let report: CompiledRule | undefined;
  // Merge `always` and the host hits in rule order (both ascending).
  let i = 0;
  let j = 0;
  const nHits = hits === null ? 0 : hits.length;
  while (i < always.length || j < nHits) {
    const a = i < always.length ? always[i]! : Infinity;
    const h = j < nHits ? hits![j]! : Infinity;
    let ri: number;
    if (a < h) {
      ri = a;
      i++;
    } else {
      ri = h;
      j++;
    }
    const rule = rules[ri]!;
    if (rule.mode === 'report' && report !== undefined) continue;
    const o = matchRule(rule, ctx);
    if (o === NO) continue;
    if (o === NEEDS_IP) return rule.needsIp;
    if (rule.mode === 'report') {
      report = rule;
      continue;
    }
    return combine(report, rule);
  }
  // Unreachable for a policy from compilePolicy, which requires a final default.
  throw new Error('policy has no default rule');
}

/** Conditions in order; host is skipped when the index already matched it. */
export function matchRule(rule: CompiledRule, ctx: EvalContext): Outcome {
  if (rule.hosts && rule.hostIndexed !== 'exact' && rule.hosts.test(ctx) === NO) return NO;
  const cs = rule.conditions;
  for (let k = 0; k < cs.length; k++) {
    const o = cs[k]!.test(ctx);
    if (o !== 1) return o;
  }
  return 1;
}

/** The verdict of enforce rule `rule`, given the first matching report-mode rule, if any. */
export function combine(report: CompiledRule | undefined, rule: CompiledRule): Decision {
  if (report === undefined || report.action !== 'deny' || rule.action !== 'allow') return rule.decision;
  const d = rule.decision;
  return {
    action: 'allow',
    ruleId: report.id,
    reason: report.reason,
    mode: 'report',
    wouldDeny: true,
    allowedBy: rule.id,
    ...(d.tls ? { tls: d.tls } : {}),
    ...(d.response ? { response: d.response } : {}),
    ...(d.quota ? { quota: d.quota } : {}),
    // The enforce rule decides, so its auth requirement applies.
    ...(d.auth ? { auth: d.auth } : {}),
  };
}

/**
 * Decide, resolving the destination only if a rule needs it. `resolve` must return the
 * address the proxy will then dial (pass it on to the dialer), or the IP rules can be
 * bypassed by DNS answers that change between the check and the connection.
 */
export async function decideResolving(
  policy: Policy,
  facts: RequestFacts,
  resolve: (host: string) => Promise<string>,
): Promise<{ decision: Decision; destIp?: string }> {
  const first = decide(policy, facts);
  if (first.action !== 'needs-ip') return { decision: first };
  const destIp = await resolve(facts.host);
  const second = decide(policy, { ...facts, destIp });
  if (second.action === 'needs-ip') throw new Error(`policy still needs a destination IP for rule "${second.ruleId}"`);
  return { decision: second, destIp };
}
