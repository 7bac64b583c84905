import { fileURLToPath } from 'node:url';
import { loadPolicy, type LoadedPolicy } from '../../src/policy/load.js';
import type { RequestFacts } from '../../src/policy/types.js';

export const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

export function fixture(...names: string[]): string[] {
  return names.map((n) => `${FIXTURES}${n}`);
}

export function loadFixtures(...names: string[]): Promise<LoadedPolicy> {
  return loadPolicy(fixture(...names));
}

/** A plain HTTP GET from an anonymous client; tests override what they exercise. */
export function facts(over: Partial<RequestFacts> = {}): RequestFacts {
  return { host: 'www.example.com', port: 80, scheme: 'http', method: 'GET', path: '/', clientIp: '192.0.2.1', ...over };
}

/** A CONNECT tunnel that is not intercepted: no path. */
export function connect(host: string, over: Partial<RequestFacts> = {}): RequestFacts {
  return { host, port: 443, scheme: 'https', method: 'CONNECT', clientIp: '192.0.2.1', ...over };
}
