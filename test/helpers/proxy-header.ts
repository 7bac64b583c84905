import { isIPv4 } from 'node:net';

/**
 * PROXY protocol headers as a balancer sends them (HAProxy's doc/proxy-protocol.txt),
 * built byte by byte here so the tests do not share code with the parser they check.
 */

export function v1(proto: 'TCP4' | 'TCP6', src: string, dst: string, sport: number, dport: number): Buffer {
  return Buffer.from(`PROXY ${proto} ${src} ${dst} ${sport} ${dport}\r\n`, 'latin1');
}

export interface V2Spec {
  command?: 'local' | 'proxy';
  /** The 14th byte (family << 4 | transport); default from the addresses: 0x11 or 0x21. */
  famByte?: number;
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  tlvs?: { type: number; value: Buffer }[];
  /** Add a PP2_TYPE_CRC32C TLV with the right checksum (or `bad`: a wrong one). */
  crc?: 'good' | 'bad';
  /** Override the version nibble (default 2). */
  version?: number;
}

export const SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);

export function v2(spec: V2Spec = {}): Buffer {
  const command = spec.command === 'local' ? 0 : 1;
  let addr = Buffer.alloc(0);
  let fam = spec.famByte;
  if (spec.src !== undefined && spec.dst !== undefined) {
    const four = isIPv4(spec.src);
    fam ??= four ? 0x11 : 0x21;
    const ports = Buffer.alloc(4);
    ports.writeUInt16BE(spec.sport ?? 0, 0);
    ports.writeUInt16BE(spec.dport ?? 0, 2);
    addr = Buffer.concat([ipBytes(spec.src), ipBytes(spec.dst), ports]);
  }
  fam ??= 0x00;
  const tlvs = [...(spec.tlvs ?? [])];
  if (spec.crc) tlvs.push({ type: 0x03, value: Buffer.alloc(4) });
  const tlvBytes = Buffer.concat(tlvs.map((t) => Buffer.concat([Buffer.from([t.type, t.value.length >> 8, t.value.length & 0xff]), t.value])));
  const len = addr.length + tlvBytes.length;
  const head = Buffer.concat([SIGNATURE, Buffer.from([((spec.version ?? 2) << 4) | command, fam, len >> 8, len & 0xff])]);
  const out = Buffer.concat([head, addr, tlvBytes]);
  if (spec.crc) {
    const sum = crc32cRef(out) ^ (spec.crc === 'bad' ? 1 : 0);
    out.writeUInt32BE(sum >>> 0, out.length - 4);
  }
  return out;
}

/** A plain bitwise CRC-32C (Castagnoli), no table: an independent check of the parser's. */
export function crc32cRef(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  // A dotted IPv4 tail (::ffff:1.2.3.4) is two groups.
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  const text = dotted ? ip.slice(0, dotted.index) + [[1, 2], [3, 4]].map(([a, b]) => ((Number(dotted[a!]) << 8) | Number(dotted[b!])).toString(16)).join(':') : ip;
  const [head, tail] = text.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const b = Buffer.alloc(16);
  groups.forEach((g, i) => b.writeUInt16BE(parseInt(g, 16), i * 2));
  return b;
}
