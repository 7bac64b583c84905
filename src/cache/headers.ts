/**
 * Header access on the flat [name, value, …] lists the cache stores (hop-by-hop fields
 * already removed by src/http/headers.ts). Names are compared case-insensitively.
 */
export type HeaderList = string[];

/** All values of a field joined with ", " (RFC 9110 §5.3), or undefined. */
export function getHeader(list: readonly string[], name: string): string | undefined {
  let out: string | undefined;
  for (let i = 0; i < list.length; i += 2) {
    if (list[i]!.length === name.length && list[i]!.toLowerCase() === name) {
      out = out === undefined ? list[i + 1]! : `${out}, ${list[i + 1]!}`;
    }
  }
  return out;
}

/** An HTTP-date (RFC 9110 §5.6.7) in ms since the epoch, or undefined when invalid. */
export function parseHttpDate(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}
