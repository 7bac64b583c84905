import { z } from 'zod';

const DURATION = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?$/;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const SIZE = /^(\d+(?:\.\d+)?)\s*(b|k|kb|kib|m|mb|mib|g|gb|gib)?$/i;
const SIZE_BYTES: Record<string, number> = { b: 1, k: 1024, kb: 1024, kib: 1024, m: 1 << 20, mb: 1 << 20, mib: 1 << 20, g: 1 << 30, gb: 1 << 30, gib: 1 << 30 };

/** Parse "1500ms", "10s", "5m", "2h", "1d" or a bare number of milliseconds. */
export function parseDuration(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? v : undefined;
  const m = DURATION.exec(v.trim());
  if (!m) return undefined;
  return Math.round(Number(m[1]) * DURATION_MS[m[2] ?? 'ms']!);
}

/** Parse "64KiB", "1MiB", "2GiB" or a bare number of bytes (binary units; kB = KiB). */
export function parseSize(v: string | number): number | undefined {
  if (typeof v === 'number') return Number.isFinite(v) && v >= 0 ? Math.floor(v) : undefined;
  const m = SIZE.exec(v.trim());
  if (!m) return undefined;
  return Math.floor(Number(m[1]) * SIZE_BYTES[(m[2] ?? 'b').toLowerCase()]!);
}

/** A duration in the config: "10s", "500ms", "5m" or milliseconds. Output: milliseconds. */
export const duration = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const ms = parseDuration(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)} (use e.g. 500ms, 10s, 5m, 1h)` });
    return z.NEVER;
  }
  return ms;
});

/** A duration that must be above zero (a zero connect or header timeout would fail everything). */
export const positiveDuration = duration.refine((ms) => ms > 0, { message: 'must be greater than 0' });

/** A size in the config: "64KiB", "1MiB" or bytes. Output: bytes. */
export const size = z.union([z.string(), z.number()]).transform((v, ctx) => {
  const n = parseSize(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `invalid size ${JSON.stringify(v)} (use e.g. 64KiB, 1MiB, 2GiB)` });
    return z.NEVER;
  }
  return n;
});
