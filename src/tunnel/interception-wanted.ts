import type { Config } from '../config/schema.js';
import type { Policy } from '../policy/index.js';

/**
 * Does this config (or policy) ask for TLS interception at all? Then the CA is needed.
 * Kept apart from interceptor.ts so that asking does not load node-forge.
 */
export function interceptionWanted(config: Readonly<Config>, policy: Policy | null): boolean {
  return config.tls.intercept !== 'off' || (policy?.rules.some((r) => r.tls === 'intercept') ?? false);
}
