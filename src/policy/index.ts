/**
 * The policy engine: who may reach what. Compile once (load), decide per request,
 * decide again per response, explain on demand. No I/O except in `load`.
 */
export type { Decision, Mode, NeedsDestIp, RequestFacts, ResponseFacts, ResponseLimits, Scheme, TlsChoice, Verdict } from './types.js';
export { compilePolicy, type CompiledRule, type Policy, type PolicySource } from './compile.js';
export { loadPolicy, loadPolicyFromText, type LoadedPolicy, type PolicyText } from './load.js';
export { decide, decideResolving } from './decide.js';
export { decideResponse, decideResponseBytes, responseByteLimit } from './response.js';
export { explain, formatExplanation, type ConditionTrace, type Explanation, type RuleTrace } from './explain.js';
export { policyFileSchema, type PolicyDocument } from './schema.js';
export { DomainSet } from './domain-set.js';
export { normaliseRequestHost } from './host.js';
export { compileHostList, hostPatternProblem } from './host-list.js';
export { routeProblems } from './routes.js';
