/**
 * Header rewriting for a forwarding proxy, done in one pass over node's rawHeaders
 * (a flat [name, value, name, value…] list) so the hot path copies headers once.
 */

// RFC 9110 §7.6.1: hop-by-hop fields, never forwarded. Proxy-Connection is the
// pre-standard spelling some clients still send; Proxy-Authorization is for us only.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authorization',
  'proxy-authenticate',
  'te',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Bit n set: some name to drop has n characters (modulo 32, as shifts are), so a name
 * whose length has no bit set is forwarded without toLowerCase.
 */
const lengthMask = (names: Iterable<string>): number => {
  let m = 0;
  for (const n of names) m |= 1 << n.length;
  return m;
};
const HOP_LENGTHS = lengthMask(HOP_BY_HOP);

export type XffMode = 'off' | 'keep' | 'append';

export interface RequestHeaderOptions {
  /** The Host value to send: always derived from the target (RFC 9112 §3.2.2). */
  host: string;
  /** "1.1 egressd" or null for no Via. */
  via: string | null;
  xff: XffMode;
  clientIp: string;
  /** Keep Upgrade/Connection: upgrade (WebSocket handshakes). */
  upgrade?: boolean;
}

export interface ForwardedRequestHeaders {
  headers: string[];
  /** True if an incoming Via already names this proxy: a forwarding loop. */
  loop: boolean;
  /** Value of Max-Forwards if present and valid. */
  maxForwards: number | undefined;
}

/**
 * Tokens named by every Connection header, lowercase (RFC 9110 §7.6.1), leaving out
 * the hop-by-hop names dropped anyway: `Connection: keep-alive`, which most origins
 * send, lists nothing more.
 */
function connectionTokens(raw: readonly string[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 10 && name.toLowerCase() === 'connection') {
      for (const t of raw[i + 1]!.split(',')) {
        const tok = t.trim().toLowerCase();
        if (tok && !HOP_BY_HOP.has(tok)) (tokens ??= new Set()).add(tok);
      }
    }
  }
  return tokens;
}

/** Does a Via value list `name` as a received-by entry? (RFC 9110 §7.6.3) */
export function viaNames(value: string, name: string): boolean {
  const want = name.toLowerCase();
  for (const entry of value.split(',')) {
    const parts = entry.trim().split(/\s+/);
    if (parts[1]?.toLowerCase() === want) return true;
  }
  return false;
}

/**
 * Build the header list sent upstream: hop-by-hop fields and Connection-listed fields
 * removed, Host set from the target, Via appended, X-Forwarded-For per config.
 */
export function forwardRequestHeaders(raw: readonly string[], opts: RequestHeaderOptions, viaName: string): ForwardedRequestHeaders {
  const listed = connectionTokens(raw);
  const out: string[] = ['host', opts.host];
  let loop = false;
  let maxForwards: number | undefined;
  let xff: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'host' || (listed !== null && listed.has(lower))) continue;
    switch (lower) {
      case 'via':
        if (viaNames(value, viaName)) loop = true;
        break;
      case 'x-forwarded-for':
        if (opts.xff === 'off') continue;
        xff = xff === undefined ? value : `${xff}, ${value}`;
        continue;
      case 'max-forwards':
        if (/^\d{1,9}$/.test(value.trim())) maxForwards = Number(value.trim());
        break;
      // undici cannot send Expect; 100-continue is answered hop by hop by the proxy.
      case 'expect':
        continue;
    }
    out.push(name, value);
  }
  if (opts.upgrade) {
    const up = headerValue(raw, 'upgrade');
    if (up !== undefined) out.push('connection', 'upgrade', 'upgrade', up);
  }
  if (opts.xff === 'append') out.push('x-forwarded-for', xff === undefined ? opts.clientIp : `${xff}, ${opts.clientIp}`);
  else if (opts.xff === 'keep' && xff !== undefined) out.push('x-forwarded-for', xff);
  if (opts.via !== null) out.push('via', opts.via);
  return { headers: out, loop, maxForwards };
}

/** Response headers from undici (Buffers) → a flat string list without hop-by-hop fields, plus Via. */
export function forwardResponseHeaders(raw: readonly Buffer[] | readonly string[], via: string | null, keepUpgrade = false): string[] {
  const strs: string[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const v = raw[i]!;
    strs[i] = typeof v === 'string' ? v : v.toString('latin1');
  }
  const listed = connectionTokens(strs);
  const dropLengths = listed === null ? HOP_LENGTHS : HOP_LENGTHS | lengthMask(listed);
  const out: string[] = [];
  for (let i = 0; i < strs.length; i += 2) {
    const name = strs[i]!;
    if (!keepUpgrade && ((dropLengths >>> name.length) & 1) === 0) {
      out.push(name, strs[i + 1]!);
      continue;
    }
    const lower = name.toLowerCase();
    if (keepUpgrade && (lower === 'upgrade' || lower === 'connection')) {
      out.push(name, strs[i + 1]!);
      continue;
    }
    if (HOP_BY_HOP.has(lower) || (listed !== null && listed.has(lower))) continue;
    out.push(name, strs[i + 1]!);
  }
  if (via !== null) out.push('via', via);
  return out;
}

/** First value of a header in a raw list (case-insensitive). */
export function headerValue(raw: readonly string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.toLowerCase() === name) return raw[i + 1];
  }
  return undefined;
}
