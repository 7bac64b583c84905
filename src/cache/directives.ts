/**
 * Cache-Control parsing (RFC 9111 §5.2): a comma-separated list of directives, names
 * case-insensitive, arguments as tokens or quoted strings. Parsed once per message
 * into a small record; the hot path of an uncacheable request never gets here.
 */
export type Directives = Readonly<Record<string, string | true>>;

const EMPTY: Directives = Object.freeze(Object.create(null) as Record<string, string | true>);

export function parseCacheControl(value: string | undefined): Directives {
  if (value === undefined || value === '') return EMPTY;
  const out = Object.create(null) as Record<string, string | true>;
  let i = 0;
  const n = value.length;
  while (i < n) {
    while (i < n && (value[i] === ',' || value[i] === ' ' || value[i] === '\t')) i++;
    let j = i;
    while (j < n && value[j] !== '=' && value[j] !== ',') j++;
    const name = value.slice(i, j).trim().toLowerCase();
    let arg: string | true = true;
    if (j < n && value[j] === '=') {
      j++;
      if (value[j] === '"') {
        // RFC 9110 §5.6.4 quoted-string, with backslash escapes.
        let s = '';
        j++;
        while (j < n && value[j] !== '"') {
          if (value[j] === '\\' && j + 1 < n) j++;
          s += value[j];
          j++;
        }
        arg = s;
        while (j < n && value[j] !== ',') j++;
      } else {
        const k = j;
        while (j < n && value[j] !== ',') j++;
        arg = value.slice(k, j).trim();
      }
    }
    // §4.2.1: when a directive appears more than once, the first one is used.
    if (name && !(name in out)) out[name] = arg;
    i = j + 1;
  }
  return out;
}

/**
 * A delta-seconds argument (RFC 9111 §1.2.2): a non-negative integer, capped at 2^31
 * (the RFC's "infinity"). Returns undefined when absent or invalid; an invalid value
 * is treated by the callers as the most conservative reading.
 */
export function deltaSeconds(d: Directives, name: string): number | undefined {
  const v = d[name];
  if (v === undefined || v === true) return undefined;
  if (!/^\d+$/.test(v)) return undefined;
  return Math.min(Number(v), 2 ** 31);
}

export function has(d: Directives, name: string): boolean {
  return d[name] !== undefined;
}
