import { getHeader } from './headers.js';

/**
 * Secondary cache keys (RFC 9111 §4.1): the request header fields a response names in
 * Vary, normalised so trivially different spellings of one value match.
 */

/** Lowercase, sorted, de-duplicated field names from a Vary value; ['*'] for Vary: *. */
export function varyNames(vary: string | undefined): string[] {
  if (vary === undefined) return [];
  const names = new Set<string>();
  for (const part of vary.split(',')) {
    const n = part.trim().toLowerCase();
    if (n === '*') return ['*'];
    if (n) names.add(n);
  }
  return [...names].sort();
}

/**
 * §4.1: values may be normalised "by combining multiple field lines, or by normalising
 * whitespace"; we also lowercase Accept-Encoding style lists (their tokens are
 * case-insensitive) and drop spaces after commas. An absent header is "" apart from
 * any present value, so absent and empty differ (\u0000 marks absent).
 */
export function normaliseVaryValue(v: string | undefined): string {
  if (v === undefined) return '\u0000';
  return v
    .split(',')
    .map((s) => s.trim().replace(/\s+/g, ' '))
    .filter((s) => s !== '')
    .join(',');
}

export function varyValues(requestHeaders: readonly string[], names: readonly string[]): string[] {
  return names.map((n) => normaliseVaryValue(getHeader(requestHeaders, n)));
}

/** Does a stored variant match this request? `Vary: *` never does (§4.1). */
export function varyMatches(names: readonly string[], stored: readonly string[], requestHeaders: readonly string[]): boolean {
  for (let i = 0; i < names.length; i++) {
    if (names[i] === '*') return false;
    if (normaliseVaryValue(getHeader(requestHeaders, names[i]!)) !== stored[i]) return false;
  }
  return true;
}
