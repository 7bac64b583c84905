import { beforeAll, describe, expect, it } from 'vitest';
import { parseClientHello, type ClientHelloResult } from '../../src/tls/client-hello.js';
import { captureClientHello, prng } from './helpers.js';

interface Capture {
  name: string;
  bytes: Buffer;
  expected: { kind: 'tls'; sni?: string; alpn?: string[] };
}

const captures: Capture[] = [];

beforeAll(async () => {
  const cases: Array<[string, Parameters<typeof captureClientHello>[0], Capture['expected']]> = [
    ['SNI + ALPN (TLS 1.3)', { servername: 'Shop.Example.COM', ALPNProtocols: ['h2', 'http/1.1'] }, { kind: 'tls', sni: 'shop.example.com', alpn: ['h2', 'http/1.1'] }],
    // node:tls sends no SNI when connecting to an IP without a servername.
    ['no SNI, no ALPN', {}, { kind: 'tls' }],
    ['TLS 1.2 only, SNI', { servername: 'legacy.example', maxVersion: 'TLSv1.2' }, { kind: 'tls', sni: 'legacy.example' }],
    ['ALPN only', { ALPNProtocols: ['http/1.1'] }, { kind: 'tls', alpn: ['http/1.1'] }],
  ];
  for (const [name, options, expected] of cases) {
    captures.push({ name, bytes: await captureClientHello(options), expected });
  }
});

/** Rewrite a single-record hello into records carrying at most `size` handshake bytes each. */
function refragment(hello: Buffer, size: number): Buffer {
  const handshake = hello.subarray(5);
  const parts: Buffer[] = [];
  for (let i = 0; i < handshake.length; i += size) {
    const frag = handshake.subarray(i, i + size);
    const header = Buffer.from([22, 3, 1, 0, 0]);
    header.writeUInt16BE(frag.length, 3);
    parts.push(header, frag);
  }
  return Buffer.concat(parts);
}

describe('real ClientHellos from node:tls', () => {
  it('are recognised with their SNI (lowercased) and ALPN', () => {
    for (const c of captures) expect(parseClientHello(c.bytes), c.name).toEqual(c.expected);
  });

  it('are incomplete at every truncation, with a `needed` beyond what was given', () => {
    for (const c of captures) {
      for (let n = 0; n < c.bytes.length; n++) {
        const r = parseClientHello(c.bytes.subarray(0, n));
        expect(r.kind, `${c.name} at ${n}`).toBe('incomplete');
        if (r.kind === 'incomplete') expect(r.needed).toBeGreaterThan(n);
      }
    }
  });

  it('parse the same when the bytes arrive split at any offset', () => {
    for (const c of captures) {
      for (let cut = 1; cut < c.bytes.length; cut++) {
        // What a reader does: keep the first part, append the second, parse again.
        expect(parseClientHello(c.bytes.subarray(0, cut)).kind).toBe('incomplete');
        const joined = Buffer.concat([c.bytes.subarray(0, cut), c.bytes.subarray(cut)]);
        expect(parseClientHello(joined)).toEqual(c.expected);
      }
    }
  });

  it('parse the same when fragmented across many TLS records', () => {
    for (const c of captures) {
      for (const size of [1, 3, 4, 5, 64, 300]) {
        const fragmented = refragment(c.bytes, size);
        expect(parseClientHello(fragmented), `${c.name} in ${size}-byte records`).toEqual(c.expected);
        for (let n = 0; n < fragmented.length; n += 7) {
          expect(parseClientHello(fragmented.subarray(0, n)).kind).toBe('incomplete');
        }
      }
    }
  });

  it('ignore bytes after the ClientHello (early data, the next record)', () => {
    const c = captures[0]!;
    const more = Buffer.concat([c.bytes, Buffer.from([23, 3, 3, 0, 2, 1, 2]), Buffer.alloc(100, 7)]);
    expect(parseClientHello(more)).toEqual(c.expected);
  });
});

describe('not TLS', () => {
  it.each([
    ['HTTP request', 'GET / HTTP/1.1\r\nHost: example.com\r\n\r\n'],
    ['HTTP, first byte only', 'G'],
    ['CONNECT inside a tunnel', 'CONNECT a:443 HTTP/1.1\r\n\r\n'],
    ['SSH banner', 'SSH-2.0-OpenSSH_9.2\r\n'],
    ['SSLv2-style hello', Buffer.from([0x80, 0x2e, 0x01, 0x00, 0x02])],
  ])('%s', (_name, input) => {
    const r = parseClientHello(Buffer.from(input));
    expect(r.kind).toBe('not-tls');
  });

  it('decides from the first bytes that break the record header', () => {
    expect(parseClientHello(Buffer.from([22, 2])).kind).toBe('not-tls'); // version 2.x
    expect(parseClientHello(Buffer.from([22, 3, 9])).kind).toBe('not-tls'); // version 3.9
    expect(parseClientHello(Buffer.from([22, 3, 1, 0, 0])).kind).toBe('not-tls'); // empty record
    expect(parseClientHello(Buffer.from([22, 3, 1, 0x48, 0x01])).kind).toBe('not-tls'); // > 2^14
    expect(parseClientHello(Buffer.from([22, 3, 1, 0, 50, 2])).kind).toBe('not-tls'); // ServerHello
    expect(parseClientHello(Buffer.from([21, 3, 3, 0, 2, 2, 40])).kind).toBe('not-tls'); // an alert
  });

  it('refuses absurd or inconsistent lengths instead of waiting for them', () => {
    const hello = captures[0]!.bytes;
    const huge = Buffer.from(hello);
    huge.writeUIntBE(0xffffff, 6, 3); // handshake length 16 MiB
    expect(parseClientHello(huge)).toMatchObject({ kind: 'not-tls', reason: expect.stringContaining('length') });
    const short = Buffer.from(hello);
    short.writeUIntBE(10, 6, 3); // shorter than any ClientHello body
    expect(parseClientHello(short).kind).toBe('not-tls');
    const interleaved = Buffer.concat([refragment(hello, 100).subarray(0, 105), Buffer.from([23, 3, 3, 0, 1, 0])]);
    expect(parseClientHello(interleaved)).toMatchObject({ kind: 'not-tls', reason: expect.stringContaining('other record type') });
  });

  it('stops at a ClientHello split into more than 1024 records', () => {
    const hello = captures[0]!.bytes;
    const padded = Buffer.from(hello);
    const body = Buffer.concat([padded.subarray(5, 9), Buffer.alloc(2000, 0)]);
    body.writeUIntBE(1996, 1, 3);
    const records = refragment(Buffer.concat([Buffer.alloc(5), body]), 1);
    expect(parseClientHello(records)).toMatchObject({ kind: 'not-tls', reason: expect.stringContaining('too many records') });
  });
});

/** A minimal valid ClientHello with the given extensions, to test SNI and ALPN edge cases. */
function helloWith(extensions: Buffer): Buffer {
  const body = Buffer.concat([
    Buffer.from([3, 3]),
    Buffer.alloc(32, 1),
    Buffer.from([0]), // session id
    Buffer.from([0, 2, 0x13, 0x01]), // one cipher suite
    Buffer.from([1, 0]), // null compression
    u16(extensions.length),
    extensions,
  ]);
  const handshake = Buffer.concat([Buffer.from([1]), Buffer.from([0, body.length >> 8, body.length & 0xff]), body]);
  return Buffer.concat([Buffer.from([22, 3, 1]), u16(handshake.length), handshake]);
}
function u16(n: number): Buffer {
  return Buffer.from([n >> 8, n & 0xff]);
}
function ext(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}
function sniExt(...names: Array<[number, string | Buffer]>): Buffer {
  const entries = Buffer.concat(
    names.map(([t, n]) => {
      const b = Buffer.from(n);
      return Buffer.concat([Buffer.from([t]), u16(b.length), b]);
    }),
  );
  return ext(0, Buffer.concat([u16(entries.length), entries]));
}

describe('SNI and ALPN edge cases', () => {
  it('accepts a hello without extensions (TLS 1.0–1.2)', () => {
    const noExt = helloWith(Buffer.alloc(0));
    const trimmed = Buffer.concat([noExt.subarray(0, noExt.length - 2)]);
    trimmed.writeUInt16BE(trimmed.length - 5, 3);
    trimmed.writeUIntBE(trimmed.length - 9, 6, 3);
    expect(parseClientHello(trimmed)).toEqual({ kind: 'tls' });
  });

  it('takes the host_name entry, strips a trailing dot, and ignores other name types', () => {
    expect(parseClientHello(helloWith(sniExt([7, 'other'], [0, 'API.Example.org.'])))).toEqual({ kind: 'tls', sni: 'api.example.org' });
  });

  it.each([
    ['a space', 'bad name.example'],
    ['a NUL byte', 'evil.example\u0000.good.example'],
    ['non-ASCII', Buffer.from('caf\u00e9.example', 'utf8')],
    ['an empty label', 'a..example'],
    ['a slash', 'a/b.example'],
  ])('ignores a server name with %s (still TLS, no sni)', (_why, name) => {
    expect(parseClientHello(helloWith(sniExt([0, name])))).toEqual({ kind: 'tls' });
  });

  it('refuses a duplicate server_name or ALPN extension (ambiguous name)', () => {
    const two = Buffer.concat([sniExt([0, 'a.example']), sniExt([0, 'b.example'])]);
    expect(parseClientHello(helloWith(two)).kind).toBe('not-tls');
    const alpn = ext(16, Buffer.from([0, 3, 2, 0x68, 0x32]));
    expect(parseClientHello(helloWith(Buffer.concat([alpn, alpn]))).kind).toBe('not-tls');
    expect(parseClientHello(helloWith(alpn))).toEqual({ kind: 'tls', alpn: ['h2'] });
  });

  it('refuses malformed SNI and ALPN structures', () => {
    expect(parseClientHello(helloWith(ext(0, Buffer.from([0, 9, 0, 0, 3, 0x61])))).kind).toBe('not-tls');
    expect(parseClientHello(helloWith(ext(16, Buffer.from([0, 2, 0, 0])))).kind).toBe('not-tls'); // empty protocol
    expect(parseClientHello(helloWith(ext(16, Buffer.from([0, 3, 5, 0x68, 0x32])))).kind).toBe('not-tls');
  });
});

describe('fuzzing (never throws, always a valid answer)', () => {
  function check(input: Buffer): ClientHelloResult {
    const r = parseClientHello(input);
    expect(['tls', 'incomplete', 'not-tls']).toContain(r.kind);
    if (r.kind === 'incomplete') expect(r.needed).toBeGreaterThan(input.length);
    if (r.kind === 'tls' && r.sni !== undefined) expect(r.sni).toMatch(/^[a-z0-9_.-]+$/);
    return r;
  }

  it('handles 3000 random buffers, half of them behind a plausible record header', () => {
    const rand = prng(1);
    for (let i = 0; i < 3000; i++) {
      const bytes = Buffer.alloc(Math.floor(rand() * 700), 0);
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(rand() * 256);
      if (i % 2 === 0 && bytes.length > 9) {
        bytes.set([22, 3, 1], 0);
        bytes.writeUInt16BE(Math.min(bytes.length - 5, 16384), 3);
        bytes[5] = 1;
      }
      check(bytes);
    }
  });

  it('handles 3000 mutations of real ClientHellos (flips, truncations, insertions, fragmentation)', () => {
    const rand = prng(2);
    let tls = 0;
    for (let i = 0; i < 3000; i++) {
      const base = captures[i % captures.length]!.bytes;
      let bytes = Buffer.from(i % 5 === 0 ? refragment(base, 1 + Math.floor(rand() * 200)) : base);
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips; f++) {
        const at = Math.floor(rand() * bytes.length);
        const op = rand();
        if (op < 0.6) bytes[at] = Math.floor(rand() * 256);
        else if (op < 0.8) bytes = bytes.subarray(0, at);
        else bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from([Math.floor(rand() * 256)]), bytes.subarray(at)]);
      }
      if (check(bytes).kind === 'tls') tls++;
    }
    expect(tls).toBeGreaterThan(0); // some mutations only touch random bytes and stay valid
  });

  it('gives up quickly on a plausible hello dripped in 1-byte records (bounded work)', () => {
    // A ClientHello header announcing 60000 bytes, then one handshake byte per record.
    const handshake = [1, 0x00, 0xea, 0x60];
    const hostile = Buffer.alloc(6 * 10_000);
    for (let r = 0; r < 10_000; r++) hostile.set([22, 3, 1, 0, 1, handshake[r] ?? 0x41], r * 6);
    const started = performance.now();
    for (let i = 0; i < 20; i++) {
      expect(parseClientHello(hostile)).toMatchObject({ kind: 'not-tls', reason: expect.stringContaining('too many records') });
    }
    expect(performance.now() - started).toBeLessThan(1000);
  });
});
