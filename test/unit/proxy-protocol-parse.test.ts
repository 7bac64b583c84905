import { SocketAddress } from 'node:net';
import { describe, expect, it } from 'vitest';
import { crc32c } from '../../src/server/crc32c.js';
import { parseProxyHeader, V1_MAX_LINE, type ProxyProtocolVersion } from '../../src/server/proxy-protocol.js';
import { crc32cRef, SIGNATURE, v1, v2 } from '../helpers/proxy-header.js';

/**
 * The PROXY protocol header parser (src/server/proxy-protocol.ts), table-driven against
 * HAProxy's doc/proxy-protocol.txt: v1 lines, v2 binary headers with TLVs and CRC32C,
 * every prefix of a valid header is "incomplete", and whatever the spec says to drop is
 * "invalid" as soon as the bytes show it.
 */

const PAYLOAD = Buffer.from('GET http://example.test/ HTTP/1.1\r\nHost: example.test\r\n\r\n');
const unixAddrs = Buffer.concat([Buffer.alloc(108, 0x61), Buffer.alloc(108, 0x62)]);
const withLen = (b: Buffer, len: number): Buffer => {
  const c = Buffer.from(b);
  c.writeUInt16BE(len, 14);
  return c;
};

interface Valid {
  name: string;
  bytes: Buffer;
  accept?: ProxyProtocolVersion;
  version: 1 | 2;
  command: 'proxy' | 'local';
  source: { address: string; port: number } | null;
  destination?: { address: string; port: number } | null;
  tlvTypes?: number[];
}

const VALID: Valid[] = [
  { name: 'v1 TCP4', bytes: v1('TCP4', '192.0.2.1', '198.51.100.11', 56324, 443), version: 1, command: 'proxy', source: { address: '192.0.2.1', port: 56324 }, destination: { address: '198.51.100.11', port: 443 } },
  { name: 'v1 TCP4 port 0 and 65535', bytes: v1('TCP4', '10.0.0.1', '10.0.0.2', 0, 65535), accept: 'v1', version: 1, command: 'proxy', source: { address: '10.0.0.1', port: 0 }, destination: { address: '10.0.0.2', port: 65535 } },
  { name: 'v1 TCP6, written long and upper-case: canonical form', bytes: v1('TCP6', '2001:DB8:0:0:0:0:0:1', '::1', 4000, 3128), version: 1, command: 'proxy', source: { address: '2001:db8::1', port: 4000 }, destination: { address: '::1', port: 3128 } },
  { name: 'v1 TCP6 with an IPv4-mapped address', bytes: v1('TCP6', '::ffff:192.0.2.7', '::1', 1, 2), version: 1, command: 'proxy', source: { address: '::ffff:192.0.2.7', port: 1 } },
  { name: 'v1 UNKNOWN, short form', bytes: Buffer.from('PROXY UNKNOWN\r\n'), version: 1, command: 'proxy', source: null, destination: null },
  {
    name: 'v1 UNKNOWN, worst case of 107 bytes',
    bytes: Buffer.from(`PROXY UNKNOWN ${'ffff:'.repeat(7)}ffff ${'ffff:'.repeat(7)}ffff 65535 65535\r\n`),
    version: 1,
    command: 'proxy',
    source: null,
  },
  {
    name: 'v2 TCP4 with ALPN, AUTHORITY, UNIQUE_ID and a good CRC32C',
    bytes: v2({ src: '203.0.113.9', dst: '10.1.1.1', sport: 40000, dport: 3128, crc: 'good', tlvs: [{ type: 0x01, value: Buffer.from('http/1.1') }, { type: 0x02, value: Buffer.from('proxy.corp') }, { type: 0x05, value: Buffer.from('abc-123') }] }),
    accept: 'v2',
    version: 2,
    command: 'proxy',
    source: { address: '203.0.113.9', port: 40000 },
    destination: { address: '10.1.1.1', port: 3128 },
    tlvTypes: [0x01, 0x02, 0x05, 0x03],
  },
  { name: 'v2 TCP6', bytes: v2({ src: '2001:db8:0:0:0:0:0:42', dst: 'fe80::1', sport: 1234, dport: 80 }), version: 2, command: 'proxy', source: { address: '2001:db8::42', port: 1234 }, destination: { address: 'fe80::1', port: 80 } },
  { name: 'v2 TCP6 IPv4-mapped', bytes: v2({ src: '::ffff:c000:207', dst: '::1', sport: 9, dport: 9 }), version: 2, command: 'proxy', source: { address: '::ffff:192.0.2.7', port: 9 } },
  { name: 'v2 LOCAL (health check), no address', bytes: v2({ command: 'local' }), version: 2, command: 'local', source: null },
  {
    name: 'v2 LOCAL with an address block and TLVs: the address is ignored',
    bytes: v2({ command: 'local', src: '198.51.100.1', dst: '10.0.0.1', sport: 1, dport: 2, tlvs: [{ type: 0x04, value: Buffer.alloc(3) }], crc: 'good' }),
    version: 2,
    command: 'local',
    source: null,
    tlvTypes: [0x04, 0x03],
  },
  { name: 'v2 PROXY with AF_UNSPEC: keep the peer', bytes: v2({ famByte: 0x00 }), version: 2, command: 'proxy', source: null },
  { name: 'v2 PROXY with AF_UNIX stream: keep the peer', bytes: withLen(Buffer.concat([v2({ famByte: 0x31 }), unixAddrs]), 216), version: 2, command: 'proxy', source: null },
  { name: 'v2 PROXY over TCP4 with an unspecified transport: keep the peer', bytes: withLen(Buffer.concat([v2({ famByte: 0x10 }), Buffer.alloc(12)]), 12), version: 2, command: 'proxy', source: null },
  { name: 'v2 zero-length TLV', bytes: v2({ src: '192.0.2.1', dst: '192.0.2.2', sport: 1, dport: 2, tlvs: [{ type: 0xe0, value: Buffer.alloc(0) }] }), version: 2, command: 'proxy', source: { address: '192.0.2.1', port: 1 }, tlvTypes: [0xe0] },
];

describe('valid headers', () => {
  it.each(VALID)('$name', (c) => {
    const r = parseProxyHeader(Buffer.concat([c.bytes, PAYLOAD]), c.accept ?? 'any');
    if (r.kind !== 'header') throw new Error(`expected a header, got ${JSON.stringify(r)}`);
    expect(r.version).toBe(c.version);
    expect(r.command).toBe(c.command);
    // The header's own length, never the payload behind it.
    expect(r.length).toBe(c.bytes.length);
    expect(r.source).toEqual(c.source);
    if (c.destination !== undefined) expect(r.destination).toEqual(c.destination);
    expect(r.tlvs.map((t) => t.type)).toEqual(c.tlvTypes ?? []);
  });

  it('gives TLV values as sent', () => {
    const r = parseProxyHeader(v2({ src: '192.0.2.1', dst: '192.0.2.2', sport: 1, dport: 2, tlvs: [{ type: 0x02, value: Buffer.from('proxy.corp') }] }), 'any');
    expect(r.kind === 'header' && r.tlvs[0]!.value.toString()).toBe('proxy.corp');
  });

  it.each(VALID)('every strict prefix of "$name" is incomplete', (c) => {
    for (let n = 1; n < c.bytes.length; n++) {
      const r = parseProxyHeader(c.bytes.subarray(0, n), c.accept ?? 'any');
      expect(r, `prefix of ${n} bytes`).toEqual({ kind: 'incomplete' });
    }
  });
});

const invalid = (bytes: Buffer | string, accept: ProxyProtocolVersion = 'any'): string => {
  const r = parseProxyHeader(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, accept);
  if (r.kind !== 'invalid') throw new Error(`expected invalid, got ${JSON.stringify(r)}`);
  return r.reason;
};

const INVALID: [string, Buffer | string, ProxyProtocolVersion, RegExp][] = [
  ['an HTTP request instead of a header', 'GET / HTTP/1.1\r\n\r\n', 'any', /not a PROXY protocol header/],
  ['one wrong byte of the v1 prefix', 'PROXI TCP4', 'any', /not a PROXY protocol header/],
  ['one wrong byte of the v2 signature', Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01]), 'any', /not a PROXY protocol header/],
  ['a TLS ClientHello', Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5]), 'any', /not a PROXY protocol header/],
  ['v1 ending in a bare LF', 'PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n', 'any', /control/],
  ['v1 with a CR not followed by LF', 'PROXY TCP4 192.0.2.1 192.0.2.2 1 2\rX', 'any', /CR without LF/],
  ['v1 with a NUL byte', 'PROXY TCP4 192.0.2.1\x00 192.0.2.2 1 2\r\n', 'any', /control/],
  ['v1 of 107 bytes without CRLF', `PROXY UNKNOWN ${'a'.repeat(V1_MAX_LINE - 14)}`, 'any', /no CRLF within 107 bytes/],
  ['v1 whose CRLF ends at byte 108', `PROXY UNKNOWN ${'a'.repeat(V1_MAX_LINE - 15)}\r\n`, 'any', /no CRLF within 107 bytes/],
  ['v1 unknown protocol', 'PROXY TCP5 1.2.3.4 1.2.3.5 1 2\r\n', 'any', /not TCP4, TCP6 or UNKNOWN/],
  ['v1 missing the destination port', 'PROXY TCP4 1.2.3.4 1.2.3.5 1\r\n', 'any', /exactly 4 fields/],
  ['v1 with two spaces', 'PROXY TCP4 1.2.3.4  1.2.3.5 1 2\r\n', 'any', /exactly 4 fields/],
  ['v1 IPv4 with a leading zero', 'PROXY TCP4 01.2.3.4 1.2.3.5 1 2\r\n', 'any', /source address "01.2.3.4" is not a valid IPv4/],
  ['v1 TCP4 with an IPv6 address', 'PROXY TCP4 ::1 1.2.3.5 1 2\r\n', 'any', /not a valid IPv4/],
  ['v1 TCP6 with an IPv4 address', 'PROXY TCP6 1.2.3.4 ::1 1 2\r\n', 'any', /not a valid IPv6/],
  ['v1 TCP6 with a zone id', 'PROXY TCP6 fe80::1%eth0 ::1 1 2\r\n', 'any', /not a valid IPv6/],
  ['v1 port with a leading zero', 'PROXY TCP4 1.2.3.4 1.2.3.5 080 2\r\n', 'any', /source port "080"/],
  ['v1 port 65536', 'PROXY TCP4 1.2.3.4 1.2.3.5 1 65536\r\n', 'any', /destination port "65536"/],
  ['v1 header on a v2 listener', 'PROXY TCP4 1.2.3.4 1.2.3.5 1 2\r\n', 'v2', /v1 header on a listener set to v2/],
  ['v2 header on a v1 listener', v2({ src: '1.2.3.4', dst: '1.2.3.5', sport: 1, dport: 2 }), 'v1', /v2 header on a listener set to v1/],
  ['v2 version 1', v2({ src: '1.2.3.4', dst: '1.2.3.5', version: 1 }), 'any', /version 1/],
  ['v2 version 3', v2({ src: '1.2.3.4', dst: '1.2.3.5', version: 3 }), 'any', /version 3/],
  ['v2 unknown command', Buffer.concat([SIGNATURE, Buffer.from([0x22, 0x11, 0, 0])]), 'any', /unknown command 0x2/],
  ['v2 unknown family', Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x41, 0, 0])]), 'any', /unknown family\/transport 0x41/],
  ['v2 unknown transport', Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x13, 0, 0])]), 'any', /unknown family\/transport 0x13/],
  ['v2 UDP over IPv4 on a TCP listener', v2({ famByte: 0x12, src: '1.2.3.4', dst: '1.2.3.5' }), 'any', /UDP/],
  ['v2 address block shorter than IPv6 needs', withLen(Buffer.concat([v2({ famByte: 0x21 }), Buffer.alloc(12)]), 12), 'any', /12 bytes is shorter than the 36/],
  ['v2 TLV longer than the header', withLen(Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x00, 0, 0]), Buffer.from([0x02, 0x00, 0x10, 0x61])]), 4), 'any', /TLV 0x02 of 16 bytes runs past/],
  ['v2 header ending inside a TLV head', withLen(Buffer.concat([SIGNATURE, Buffer.from([0x21, 0x00, 0, 0]), Buffer.from([0x02, 0x00])]), 2), 'any', /ends inside a TLV/],
  ['v2 CRC32C mismatch', v2({ src: '1.2.3.4', dst: '1.2.3.5', sport: 1, dport: 2, crc: 'bad' }), 'any', /CRC32C mismatch/],
  ['v2 CRC32C TLV of 2 bytes', v2({ src: '1.2.3.4', dst: '1.2.3.5', tlvs: [{ type: 0x03, value: Buffer.alloc(2) }] }), 'any', /CRC32C TLV of 2 bytes/],
];

describe('invalid headers', () => {
  it.each(INVALID)('%s', (_name, bytes, accept, reason) => {
    expect(invalid(bytes, accept)).toMatch(reason);
  });

  it('refuses garbage from its first byte, without waiting for more', () => {
    expect(invalid('X')).toMatch(/first bytes "X"/);
    expect(invalid('\r\n\r\nx')).toMatch(/not a PROXY protocol header/);
  });

  it('a corrupted byte anywhere in a CRC-protected header is caught', () => {
    const good = v2({ src: '203.0.113.9', dst: '10.1.1.1', sport: 40000, dport: 3128, crc: 'good', tlvs: [{ type: 0x02, value: Buffer.from('proxy.corp') }] });
    // Flip one bit in the address block and in the TLV value: both change the checksum.
    for (const at of [17, good.length - 10]) {
      const bad = Buffer.from(good);
      bad[at]! ^= 0x01;
      expect(invalid(bad)).toMatch(/CRC32C mismatch/);
    }
  });
});

describe('CRC-32C', () => {
  it('matches the check value of the Castagnoli polynomial and the bitwise reference', () => {
    const check = Buffer.from('123456789');
    expect(crc32c(check)).toBe(0xe3069283);
    for (const len of [0, 1, 31, 257]) {
      const b = Buffer.alloc(len, 0).map((_, i) => (i * 37 + len) & 0xff);
      expect(crc32c(b)).toBe(crc32cRef(b));
    }
  });
});

describe('IPv6 addresses come out as node reports peers', () => {
  // node's own formatting (libuv inet_ntop) is the reference: the same client must give
  // the same quota key and log field whether it arrives directly or through a balancer.
  const node = (a: string): string => new SocketAddress({ address: a, family: 'ipv6' }).address;
  const FIXED = ['::', '::1', '1::', '2001:DB8::1', '2001:db8:0:0:1:0:0:1', '2001:0:0:1:0:0:0:1', 'fe80::1:2:3:4:5', '1:2:3:4:5:6:7:8', '1:0:3:4:5:6:7:8', '::ffff:1.2.3.4', '0:0:0:0:0:ffff:102:304', '::1.2.3.4', '64:ff9b::1.2.3.4', 'ABCD:EF01::', '0:0:1::'];
  let seed = 7;
  const rnd = (): number => (seed = (seed * 1103515245 + 12345) & 0x7fffffff);
  // Random group lists where zeros are common, so every run length and position occurs.
  const RANDOM = Array.from({ length: 300 }, () => Array.from({ length: 8 }, () => (rnd() % 3 === 0 ? (rnd() & 0xffff).toString(16) : '0')).join(':'));
  it.each([...FIXED, ...RANDOM])('%s', (a) => {
    const want = node(a);
    const r1 = parseProxyHeader(v1('TCP6', a, '::1', 1, 2), 'any');
    const r2 = parseProxyHeader(v2({ src: want, dst: '::1', sport: 1, dport: 2 }), 'any');
    expect(r1.kind === 'header' && r1.source?.address).toBe(want);
    expect(r2.kind === 'header' && r2.source?.address).toBe(want);
  });
});
