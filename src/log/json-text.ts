/**
 * JSON text for the access log's fixed-shape lines, built by concatenation instead of
 * JSON.stringify of a fresh object: no object per line to allocate and walk, and
 * most values (ids, addresses, URLs, codes) are plain ASCII that needs no escaping.
 * Anything else goes through JSON.stringify, so the text is what it would produce.
 */

/** Characters JSON must escape, and any non-ASCII (lone surrogates need JSON.stringify's care). */
const NOT_PLAIN = /["\\\u0000-\u001f\u007f-\uffff]/;

/** A JSON string, or null. */
export function jsonString(s: string | null): string {
  if (s === null) return 'null';
  return NOT_PLAIN.test(s) ? JSON.stringify(s) : `"${s}"`;
}

/** A JSON number; NaN and ±Infinity become null, as JSON.stringify writes them. */
export function jsonNumber(n: number): string {
  return Number.isFinite(n) ? `${n}` : 'null';
}

/** Three digits of a thousandth, without the zeros at the end. */
const FRACTION = Array.from({ length: 1000 }, (_, i) => `.${String(i).padStart(3, '0')}`.replace(/0+$/, ''));

/**
 * Milliseconds rounded to the microsecond, as JSON.stringify writes the rounded number,
 * without its shortest-digits search: an integer part and a fraction from a table. The
 * rounded value has at most 15 significant digits, so its shortest form is exactly those
 * digits. Negative, huge and non-finite values take the general path.
 */
export function jsonMillis(v: number): string {
  const micros = Math.round(v * 1000);
  if (!(micros >= 0 && micros < 1e15)) return jsonNumber(micros / 1000);
  const whole = Math.floor(micros / 1000);
  const frac = micros - whole * 1000;
  return frac === 0 ? `${whole}` : `${whole}${FRACTION[frac]}`;
}

/** Any other value (an object, an array, null); undefined becomes null. */
export function jsonValue(v: unknown): string {
  return JSON.stringify(v) ?? 'null';
}

/** `,"name":` for every field name: the key text of a line, built once. */
export function keyTexts<T extends Record<string, string>>(names: T): { readonly [K in keyof T]: string } {
  const out = {} as { [K in keyof T]: string };
  for (const k of Object.keys(names) as (keyof T)[]) out[k] = `,${JSON.stringify(names[k])}:`;
  return out;
}
