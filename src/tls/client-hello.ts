/**
 * Parse the first bytes a client sends to tell a TLS ClientHello (and read its SNI and ALPN)
 * from anything else, before deciding whether to intercept, tunnel, or treat as HTTP.
 *
 * The input is hostile: every length is checked against what is present, the work is linear
 * in the input, and nothing throws. A ClientHello may span several records (RFC 8446 §5.1
 * lets handshake messages be fragmented; censorship-evasion tools split it on purpose), so
 * fragments are gathered across records.
 */

export type ClientHelloResult =
  | { kind: 'tls'; sni?: string; alpn?: string[] }
  /** More bytes are needed; parsing again before `needed` bytes are available cannot progress. */
  | { kind: 'incomplete'; needed: number }
  | { kind: 'not-tls'; reason: string };

const RECORD_HANDSHAKE = 22; // RFC 8446 §5.1 ContentType.handshake
const HANDSHAKE_CLIENT_HELLO = 1; // RFC 8446 §4 HandshakeType.client_hello
const RECORD_HEADER = 5;
const MAX_RECORD = 16_384; // RFC 8446 §5.1: TLSPlaintext.length MUST NOT exceed 2^14
/** Real ClientHellos are 0.2–2 KB (post-quantum key shares included); refuse absurd claims. */
export const MAX_CLIENT_HELLO = 65_536;
/** Bounds the work for a hello split into tiny records. */
const MAX_RECORDS = 1024;
// legacy_version(2) + random(32) + session_id len(1) + cipher_suites len(2) + one suite(2) + compression(2)
const MIN_BODY = 41;
const EXT_SERVER_NAME = 0; // RFC 6066 §3
const EXT_ALPN = 16; // RFC 7301 §3.1
const MAX_ALPN = 32;

export function parseClientHello(buf: Uint8Array): ClientHelloResult {
  try {
    return parseRecords(buf);
  } catch {
    // Unreachable by construction (all reads are bounds-checked), but the contract is "never throws".
    return notTls('malformed');
  }
}

function parseRecords(buf: Uint8Array): ClientHelloResult {
  const fragments: Array<[start: number, end: number]> = [];
  let have = 0; // handshake bytes gathered so far
  let bodyLength = -1; // ClientHello body length, once its 4-byte header is in
  let pos = 0;
  for (let records = 0; ; records++) {
    if (records >= MAX_RECORDS) return notTls('ClientHello split into too many records');
    // Decide as early as each header byte allows, so a plain-HTTP client is recognised
    // from its first byte and never waits for more.
    if (pos >= buf.length) return incomplete(pos + RECORD_HEADER);
    if (buf[pos] !== RECORD_HANDSHAKE) {
      return notTls(records === 0 ? 'first record is not a handshake' : 'other record type inside the ClientHello');
    }
    if (pos + 1 < buf.length && buf[pos + 1] !== 3) return notTls('record version is not 3.x');
    if (pos + 2 < buf.length && buf[pos + 2]! > 4) return notTls('record version is not 3.0-3.4');
    if (pos + RECORD_HEADER > buf.length) return incomplete(pos + RECORD_HEADER);
    const length = (buf[pos + 3]! << 8) | buf[pos + 4]!;
    // RFC 8446 §5.1: zero-length handshake fragments MUST NOT be sent.
    if (length === 0 || length > MAX_RECORD) return notTls(`record length ${length}`);
    const start = pos + RECORD_HEADER;
    const end = Math.min(start + length, buf.length);
    fragments.push([start, end]);
    have += end - start;

    if (bodyLength < 0 && have >= 1 && byteAt(buf, fragments, 0) !== HANDSHAKE_CLIENT_HELLO) {
      return notTls('first handshake message is not a ClientHello');
    }
    if (bodyLength < 0 && have >= 4) {
      bodyLength = (byteAt(buf, fragments, 1) << 16) | (byteAt(buf, fragments, 2) << 8) | byteAt(buf, fragments, 3);
      if (bodyLength < MIN_BODY || bodyLength + 4 > MAX_CLIENT_HELLO) return notTls(`ClientHello length ${bodyLength}`);
    }
    if (bodyLength >= 0 && have >= bodyLength + 4) {
      return parseBody(gather(buf, fragments, bodyLength + 4).subarray(4));
    }
    if (end < start + length) {
      // Mid-record: progress needs the rest of the record, or of the handshake header/body if sooner.
      const missing = bodyLength >= 0 ? bodyLength + 4 - have : 4 - have;
      return incomplete(Math.min(start + length, end + Math.max(1, missing)));
    }
    pos = start + length;
  }
}

function parseBody(b: Uint8Array): ClientHelloResult {
  // RFC 8446 §4.1.2 (and RFC 5246 §7.4.1.2, same layout).
  if (b[0] !== 3) return notTls('ClientHello legacy_version is not 3.x');
  let p = 34; // legacy_version + random
  const sessionIdLength = b[p]!;
  if (sessionIdLength > 32) return notTls('session_id longer than 32');
  p += 1 + sessionIdLength;
  if (p + 2 > b.length) return notTls('truncated before cipher_suites');
  const suitesLength = u16(b, p);
  if (suitesLength < 2 || suitesLength % 2 !== 0) return notTls('bad cipher_suites length');
  p += 2 + suitesLength;
  if (p + 1 > b.length) return notTls('truncated before compression_methods');
  const compressionLength = b[p]!;
  if (compressionLength < 1) return notTls('no compression method');
  p += 1 + compressionLength;
  if (p > b.length) return notTls('truncated compression_methods');
  // TLS 1.0–1.2 allow a ClientHello without extensions.
  if (p === b.length) return { kind: 'tls' };
  if (p + 2 > b.length) return notTls('truncated extensions length');
  const extEnd = p + 2 + u16(b, p);
  if (extEnd > b.length) return notTls('extensions overrun the ClientHello');
  p += 2;

  let sni: string | undefined;
  let alpn: string[] | undefined;
  let sniSeen = false;
  while (p < extEnd) {
    if (p + 4 > extEnd) return notTls('truncated extension header');
    const type = u16(b, p);
    const dataEnd = p + 4 + u16(b, p + 2);
    if (dataEnd > extEnd) return notTls('extension overruns the extension block');
    // RFC 8446 §4.2: no extension type may appear twice. A second server_name or ALPN would
    // make "the" name ambiguous (policy might read one, the origin the other), so refuse.
    if ((type === EXT_SERVER_NAME && sniSeen) || (type === EXT_ALPN && alpn !== undefined)) {
      return notTls(`duplicate extension ${type}`);
    }
    if (type === EXT_SERVER_NAME) {
      sniSeen = true;
      const parsed = parseServerName(b, p + 4, dataEnd);
      if (parsed === null) return notTls('malformed server_name extension');
      sni = parsed;
    } else if (type === EXT_ALPN) {
      const parsed = parseAlpn(b, p + 4, dataEnd);
      if (parsed === null) return notTls('malformed ALPN extension');
      alpn = parsed;
    }
    p = dataEnd;
  }
  const out: { kind: 'tls'; sni?: string; alpn?: string[] } = { kind: 'tls' };
  if (sni !== undefined) out.sni = sni;
  if (alpn !== undefined) out.alpn = alpn;
  return out;
}

/**
 * RFC 6066 §3: a ServerNameList; the host_name entry (type 0) is an ASCII DNS name without
 * a trailing dot, never an IP literal. A name that breaks those rules is ignored (undefined)
 * rather than passed on to policy, logs and certificates; null means the structure is broken.
 */
function parseServerName(b: Uint8Array, start: number, end: number): string | undefined | null {
  if (start + 2 > end || start + 2 + u16(b, start) !== end) return null;
  let name: string | undefined;
  for (let p = start + 2; p < end; ) {
    if (p + 3 > end) return null;
    const nameType = b[p]!;
    const nameEnd = p + 3 + u16(b, p + 1);
    if (nameEnd > end) return null;
    if (nameType === 0 && name === undefined) name = hostName(b, p + 3, nameEnd);
    p = nameEnd;
  }
  return name;
}

function hostName(b: Uint8Array, start: number, end: number): string | undefined {
  if (end - start < 1 || end - start > 254) return undefined;
  let out = '';
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f;
    const upper = c >= 0x41 && c <= 0x5a;
    if (!ok && !upper) return undefined;
    out += String.fromCharCode(upper ? c + 32 : c);
  }
  if (out.endsWith('.')) out = out.slice(0, -1);
  if (out === '' || out.startsWith('.') || out.includes('..')) return undefined;
  return out;
}

/** RFC 7301 §3.1: ProtocolNameList of non-empty opaque names. */
function parseAlpn(b: Uint8Array, start: number, end: number): string[] | null {
  if (start + 2 > end || start + 2 + u16(b, start) !== end) return null;
  const out: string[] = [];
  for (let p = start + 2; p < end; ) {
    const length = b[p]!;
    if (length === 0 || p + 1 + length > end) return null;
    if (out.length < MAX_ALPN) out.push(Buffer.from(b.subarray(p + 1, p + 1 + length)).toString('latin1'));
    p += 1 + length;
  }
  return out;
}

/** Byte `i` of the handshake stream formed by the fragments. */
function byteAt(buf: Uint8Array, fragments: Array<[number, number]>, i: number): number {
  for (const [start, end] of fragments) {
    if (i < end - start) return buf[start + i]!;
    i -= end - start;
  }
  return -1;
}

/** The first `length` handshake bytes, copied only when the hello is fragmented. */
function gather(buf: Uint8Array, fragments: Array<[number, number]>, length: number): Uint8Array {
  const [first] = fragments;
  if (first && first[1] - first[0] >= length) return buf.subarray(first[0], first[0] + length);
  const out = new Uint8Array(length);
  let filled = 0;
  for (const [start, end] of fragments) {
    const take = Math.min(end - start, length - filled);
    out.set(buf.subarray(start, start + take), filled);
    filled += take;
    if (filled === length) break;
  }
  return out;
}

function u16(b: Uint8Array, p: number): number {
  return (b[p]! << 8) | b[p + 1]!;
}

function incomplete(needed: number): ClientHelloResult {
  return { kind: 'incomplete', needed };
}

function notTls(reason: string): ClientHelloResult {
  return { kind: 'not-tls', reason };
}
