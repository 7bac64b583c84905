import { isIPv4, isIPv6 } from 'node:net';
import { crc32c } from './crc32c.js';

/**
 * The PROXY protocol header an L4 balancer (HAProxy `send-proxy` / `send-proxy-v2`, AWS
 * NLB, …) puts in front of the client's bytes, as specified in HAProxy's
 * doc/proxy-protocol.txt ("spec" below). Hand-written rather than taken from npm: the
 * framing is fixed and tiny, and the packages there (proxy-protocol-js) parse a complete
 * buffer only — they neither say "need more bytes" nor bound the v1 line, validate the
 * addresses, respect the v2 length (the bytes after it belong to the client) or walk
 * the TLVs. This is not an HTTP parser.
 */

/** What a listener accepts (the listener's `proxyProtocol`, other than off). */
export type ProxyProtocolVersion = 'v1' | 'v2' | 'any';

export interface Endpoint {
  address: string;
  port: number;
}

export interface Tlv {
  type: number;
  value: Buffer;
}

export interface ProxyHeader {
  version: 1 | 2;
  /** Bytes the header takes; what follows belongs to the client's own protocol. */
  length: number;
  /** proxy: relayed for a client; local: the balancer's own connection (a health check). */
  command: 'proxy' | 'local';
  /**
   * The original client. Null when the connection's own address stays (spec §2.1 UNKNOWN,
   * §2.2 LOCAL, AF_UNSPEC, AF_UNIX, an unspecified transport).
   */
  source: Endpoint | null;
  destination: Endpoint | null;
  /** v2 Type-Length-Value vectors in order (spec §2.2); none for v1. */
  tlvs: Tlv[];
}

export type ProxyHeaderResult = { kind: 'incomplete' } | { kind: 'invalid'; reason: string } | ({ kind: 'header' } & ProxyHeader);

const INCOMPLETE: ProxyHeaderResult = Object.freeze({ kind: 'incomplete' });
const V1_PREFIX = Buffer.from('PROXY ', 'latin1');
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
/** Spec §2.1: the longest v1 line, CRLF included ("PROXY UNKNOWN" + two IPv6 + two ports). */
export const V1_MAX_LINE = 107;
/** Spec §2.2: 12 signature bytes, version/command, family/transport, 16-bit length. */
const V2_FIXED = 16;
/** Address block sizes by v2 address family: UNSPEC, INET, INET6, UNIX. */
const ADDRESS_SIZE = [0, 12, 36, 216] as const;
const PP2_TYPE_CRC32C = 0x03;
const PORT = /^(0|[1-9][0-9]{0,4})$/;

/**
 * Parse the header at the start of `b`. `incomplete` until enough bytes are there (a
 * header split across TCP segments is fine); `invalid` as soon as the bytes cannot
 * become a header, so garbage is refused at once rather than at the timeout.
 */
export function parseProxyHeader(b: Buffer, accept: ProxyProtocolVersion): ProxyHeaderResult {
  if (b.length === 0) return INCOMPLETE;
  // Spec §2.2: "\r" starts only the v2 signature, "P" only the v1 line.
  const v2 = b[0] === 0x0d;
  if (!v2 && b[0] !== 0x50) return invalid(`not a PROXY protocol header (first bytes ${sample(b)})`);
  const magic = v2 ? V2_SIGNATURE : V1_PREFIX;
  const n = Math.min(b.length, magic.length);
  if (b.compare(magic, 0, n, 0, n) !== 0) return invalid(`not a PROXY protocol header (first bytes ${sample(b)})`);
  if (b.length < magic.length) return INCOMPLETE;
  if (accept === (v2 ? 'v1' : 'v2')) return invalid(`a PROXY protocol ${v2 ? 'v2' : 'v1'} header on a listener set to ${accept}`);
  return v2 ? parseV2(b) : parseV1(b);
}

/** Spec §2.1: one US-ASCII line, "PROXY" SP proto SP src SP dst SP sport SP dport CRLF. */
function parseV1(b: Buffer): ProxyHeaderResult {
  const scan = Math.min(b.length, V1_MAX_LINE);
  let end = -1;
  for (let i = V1_PREFIX.length; i < scan; i++) {
    const c = b[i]!;
    if (c === 0x0d && i + 1 < b.length) {
      // A CR must be followed by LF: a lone CR or LF never ends the line (spec §2.1).
      if (b[i + 1] !== 0x0a) return invalid('PROXY v1 line has a CR without LF');
      end = i;
      break;
    }
    if (c === 0x0d) break; // the LF may be in the next segment
    if (c < 0x20 || c > 0x7e) return invalid(`PROXY v1 line has a control or non-ASCII byte (0x${c.toString(16).padStart(2, '0')})`);
  }
  if (end < 0 || end + 2 > V1_MAX_LINE) {
    if (end >= 0 || b.length >= V1_MAX_LINE) return invalid(`PROXY v1 line has no CRLF within ${V1_MAX_LINE} bytes`);
    return INCOMPLETE;
  }
  const length = end + 2;
  const parts = b.toString('latin1', 0, end).split(' ');
  const proto = parts[1];
  // UNKNOWN: "the receiver must ignore anything presented before the CRLF" and use the real connection's parameters.
  if (proto === 'UNKNOWN') return header(1, length, 'proxy', null, null, []);
  if (proto !== 'TCP4' && proto !== 'TCP6') return invalid(`PROXY v1 protocol ${JSON.stringify((proto ?? '').slice(0, 16))} is not TCP4, TCP6 or UNKNOWN`);
  if (parts.length !== 6) return invalid(`PROXY v1 ${proto} line needs exactly 4 fields after the protocol, separated by single spaces`);
  const [, , src, dst, sport, dport] = parts as [string, string, string, string, string, string];
  const source = v1Endpoint(proto, src, sport);
  const destination = v1Endpoint(proto, dst, dport);
  if (typeof source === 'string') return invalid(`PROXY v1 source ${source}`);
  if (typeof destination === 'string') return invalid(`PROXY v1 destination ${destination}`);
  return header(1, length, 'proxy', source, destination, []);
}

function v1Endpoint(proto: 'TCP4' | 'TCP6', address: string, port: string): Endpoint | string {
  // isIPv4 refuses leading zeros, as the spec does (no octal confusion).
  if (proto === 'TCP4' ? !isIPv4(address) : !isIPv6(address) || address.includes('%')) {
    return `address ${JSON.stringify(address.slice(0, 48))} is not a valid ${proto === 'TCP4' ? 'IPv4' : 'IPv6'} address`;
  }
  if (!PORT.test(port) || Number(port) > 65535) return `port ${JSON.stringify(port.slice(0, 8))} is not a decimal 0-65535 without leading zeros`;
  return { address: proto === 'TCP4' ? address : canonicalV6(address), port: Number(port) };
}

/** Spec §2.2: the binary header. */
function parseV2(b: Buffer): ProxyHeaderResult {
  if (b.length < V2_FIXED) return INCOMPLETE;
  const version = b[12]! >> 4;
  const command = b[12]! & 0x0f;
  const family = b[13]! >> 4;
  const transport = b[13]! & 0x0f;
  // "The receiver must only accept this value"; unassigned commands "must" be dropped.
  if (version !== 2) return invalid(`PROXY v2 header with version ${version}`);
  if (command > 1) return invalid(`PROXY v2 header with unknown command 0x${command.toString(16)}`);
  if (family > 3 || transport > 2) return invalid(`PROXY v2 header with unknown family/transport 0x${b[13]!.toString(16).padStart(2, '0')}`);
  const length = V2_FIXED + b.readUInt16BE(14);
  if (b.length < length) return INCOMPLETE;
  const size = ADDRESS_SIZE[family as 0 | 1 | 2 | 3];
  if (length - V2_FIXED < size) return invalid(`PROXY v2 address block of ${length - V2_FIXED} bytes is shorter than the ${size} its family needs`);
  const parsed = parseTlvs(b, V2_FIXED + size, length);
  if (typeof parsed === 'string') return invalid(parsed);
  const { tlvs } = parsed;
  const crc = crcProblem(b, length, parsed.crcAt);
  if (crc) return invalid(crc);
  // LOCAL: a health check by the balancer itself; "must use the real connection endpoints".
  if (command === 0) return header(2, length, 'local', null, null, tlvs);
  if (transport === 2 && (family === 1 || family === 2)) return invalid('PROXY v2 header announces UDP on a TCP connection');
  // AF_UNSPEC, AF_UNIX or an unspecified transport: no client address to take; keep the peer's.
  if (transport !== 1 || (family !== 1 && family !== 2)) return header(2, length, 'proxy', null, null, tlvs);
  const v4 = family === 1;
  const alen = v4 ? 4 : 16;
  const at = V2_FIXED;
  const src = v4 ? v4Text(b, at) : v6Text(b, at);
  const dst = v4 ? v4Text(b, at + alen) : v6Text(b, at + alen);
  const ports = at + 2 * alen;
  return header(2, length, 'proxy', { address: src, port: b.readUInt16BE(ports) }, { address: dst, port: b.readUInt16BE(ports + 2) }, tlvs);
}

/** TLVs fill the rest of the header exactly: type (1), length (2), value (spec §2.2). */
function parseTlvs(b: Buffer, from: number, end: number): { tlvs: Tlv[]; crcAt: number } | string {
  const tlvs: Tlv[] = [];
  let crcAt = -1;
  let i = from;
  while (i < end) {
    if (end - i < 3) return `PROXY v2 header ends inside a TLV's type and length (${end - i} bytes left)`;
    const type = b[i]!;
    const len = b.readUInt16BE(i + 1);
    i += 3;
    if (i + len > end) return `PROXY v2 TLV 0x${type.toString(16).padStart(2, '0')} of ${len} bytes runs past the header's length`;
    if (type === PP2_TYPE_CRC32C) {
      if (len !== 4) return `PROXY v2 CRC32C TLV of ${len} bytes (4 expected)`;
      crcAt = i;
    }
    tlvs.push({ type, value: Buffer.from(b.subarray(i, i + len)) });
    i += len;
  }
  return { tlvs, crcAt };
}

/** Spec §2.2.3: the CRC32c of the whole header, computed with the checksum field zeroed. */
function crcProblem(b: Buffer, length: number, at: number): string | null {
  if (at < 0) return null;
  const want = b.readUInt32BE(at);
  const copy = Buffer.from(b.subarray(0, length));
  copy.fill(0, at, at + 4);
  const got = crc32c(copy);
  return got === want ? null : `PROXY v2 CRC32C mismatch (header says 0x${want.toString(16)}, computed 0x${got.toString(16)})`;
}

function v4Text(b: Buffer, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function v6Text(b: Buffer, at: number): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(at + i));
  return formatV6(g);
}

/** An address isIPv6() accepted (no zone id) in RFC 5952 form. */
function canonicalV6(text: string): string {
  const gap = text.indexOf('::');
  if (gap < 0) return formatV6(words(text, []));
  const head = words(text.slice(0, gap), []);
  const tail = words(text.slice(gap + 2), []);
  while (head.length + tail.length < 8) head.push(0);
  return formatV6(head.concat(tail));
}

/** The 16-bit groups of one side of "::" (a dotted IPv4 tail is two groups). */
function words(part: string, out: number[]): number[] {
  if (part === '') return out;
  for (const w of part.split(':')) {
    if (w.indexOf('.') < 0) {
      out.push(parseInt(w, 16));
      continue;
    }
    const n = w.split('.');
    out.push((Number(n[0]) << 8) | Number(n[1]), (Number(n[2]) << 8) | Number(n[3]));
  }
  return out;
}

/**
 * RFC 5952 §4 text, as node reports peers (libuv's inet_ntop): lower-case hex without
 * leading zeros, the longest run of two or more zero groups as "::" (the first on a
 * tie), and §5's dotted tail for IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible
 * addresses. Not node's SocketAddress: it costs about 10 µs per address.
 */
function formatV6(g: number[]): string {
  let best = -1;
  let len = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > len) [best, len] = [i, j - i];
    i = j;
  }
  if (best === 0 && (len === 6 || (len === 5 && g[5] === 0xffff))) {
    const v4 = `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
    return len === 6 ? `::${v4}` : `::ffff:${v4}`;
  }
  return best < 0 ? hex(g, 0, 8) : `${hex(g, 0, best)}::${hex(g, best + len, 8)}`;
}

function hex(g: number[], from: number, to: number): string {
  let out = '';
  for (let i = from; i < to; i++) out += i === from ? g[i]!.toString(16) : `:${g[i]!.toString(16)}`;
  return out;
}

function header(version: 1 | 2, length: number, command: 'proxy' | 'local', source: Endpoint | null, destination: Endpoint | null, tlvs: Tlv[]): ProxyHeaderResult {
  return { kind: 'header', version, length, command, source, destination, tlvs };
}

function invalid(reason: string): ProxyHeaderResult {
  return { kind: 'invalid', reason };
}

/** A short printable prefix for the log: tells a scanner from a balancer without the option. */
function sample(b: Buffer): string {
  return JSON.stringify(b.subarray(0, 16).toString('latin1'));
}
