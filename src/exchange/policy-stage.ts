import type { IncomingMessage } from 'node:http';
import { ProxyError } from '../http/errors.js';
import { decide, type Decision, type RequestFacts } from '../policy/index.js';
import type { ProxyContext } from './context.js';
import type { Runtime } from './runtime.js';

/**
 * Ask the policy about a request or tunnel and record the decision in the context.
 * Resolves the destination only when a rule needs its address (the Dialer later
 * connects to the first permitted address of that same cached answer).
 * Throws POLICY_DENIED for an enforced deny.
 */
export function checkPolicy(rt: Runtime, ctx: ProxyContext, facts: RequestFacts): void | Promise<void> {
  const policy = rt.policy;
  if (!policy) return;
  const verdict = decide(policy, facts);
  if (verdict.action !== 'needs-ip') return apply(ctx, verdict);
  return rt.dialer.resolvePermitted(facts.host).then((destIp) => apply(ctx, decide(policy, { ...facts, destIp }) as Decision));
}

function apply(ctx: ProxyContext, d: Decision): void {
  ctx.decision = d;
  if (d.action === 'deny') throw new ProxyError('POLICY_DENIED', d.reason);
}

/** Facts for a plain HTTP request (or a decrypted one: scheme https). */
export function requestFacts(req: IncomingMessage, ctx: ProxyContext): RequestFacts {
  const t = ctx.target!;
  return { host: t.host, port: t.port, scheme: t.scheme, method: req.method ?? '', path: t.path, clientIp: ctx.clientIp, user: ctx.user ?? undefined, groups: ctx.groups, headers: req.headers };
}
