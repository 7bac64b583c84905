import type { CacheEntry } from './entry.js';
import { getHeader, parseHttpDate } from './headers.js';

/**
 * Range requests answered from a complete stored body (RFC 9110 §14). One range is
 * served as 206; several ranges are passed through to the origin (`multi`).
 */
export type RangeAnswer = { kind: 'none' } | { kind: 'multi' } | { kind: 'unsatisfiable' } | { kind: 'range'; start: number; end: number };

export function rangeOf(header: string | undefined, length: number): RangeAnswer {
  if (header === undefined) return { kind: 'none' };
  // §14.2: a Range with another unit is ignored.
  const m = /^\s*bytes\s*=\s*(.*)$/i.exec(header);
  if (!m) return { kind: 'none' };
  const specs = m[1]!.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (specs.length !== 1) return specs.length === 0 ? { kind: 'none' } : { kind: 'multi' };
  const r = /^(\d*)-(\d*)$/.exec(specs[0]!);
  if (!r || (r[1] === '' && r[2] === '')) return { kind: 'none' };
  if (r[1] === '') {
    // suffix-range: the last N bytes (§14.1.1).
    const n = Number(r[2]);
    if (n === 0) return { kind: 'unsatisfiable' };
    return { kind: 'range', start: Math.max(0, length - n), end: length - 1 };
  }
  const start = Number(r[1]);
  const end = r[2] === '' ? length - 1 : Math.min(Number(r[2]), length - 1);
  if (r[2] !== '' && Number(r[2]) < start) return { kind: 'none' }; // invalid: ignore the header
  if (start >= length) return { kind: 'unsatisfiable' };
  return { kind: 'range', start, end };
}

/**
 * §13.1.5 If-Range: the range applies only if the validator still matches (a strong
 * ETag compared strongly, or a Last-Modified date equal to the stored one); otherwise
 * the whole representation is sent.
 */
export function ifRangeHolds(e: CacheEntry, requestHeaders: readonly string[]): boolean {
  const v = getHeader(requestHeaders, 'if-range');
  if (v === undefined) return true;
  const t = v.trim();
  if (t.startsWith('"') || t.startsWith('W/')) return !t.startsWith('W/') && e.etag === t;
  const d = parseHttpDate(t);
  const lm = parseHttpDate(e.lastModified ?? getHeader(e.headers, 'last-modified'));
  return d !== undefined && lm !== undefined && d === lm;
}
