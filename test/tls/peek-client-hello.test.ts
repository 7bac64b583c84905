import { once } from 'node:events';
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { PassThrough } from 'node:stream';
import * as tls from 'node:tls';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { LeafFactory, createCa, generateLeafKey, type CertificateAuthority } from '../../src/tls/index.js';
import { peekClientHello, type PeekResult } from '../../src/tls/peek-client-hello.js';
import { captureClientHello } from './helpers.js';

let hello: Buffer;
let ca: CertificateAuthority;
let leaves: LeafFactory;

beforeAll(async () => {
  [hello, ca] = await Promise.all([
    captureClientHello({ servername: 'peek.example.com', ALPNProtocols: ['h2', 'http/1.1'] }),
    createCa(),
  ]);
  leaves = new LeafFactory({ ca, leafKey: await generateLeafKey() });
});

describe('peekClientHello on a stream', () => {
  it('decides on a ClientHello split at every byte offset, returning all bytes', async () => {
    for (let cut = 1; cut < hello.length; cut++) {
      const stream = new PassThrough();
      const result = peekClientHello(stream, 1000, 65_536);
      stream.write(hello.subarray(0, cut));
      await new Promise(setImmediate);
      stream.write(hello.subarray(cut));
      const r = await result;
      expect(r.kind).toBe('tls');
      expect(r).toMatchObject({ sni: 'peek.example.com', alpn: ['h2', 'http/1.1'] });
      expect(r.bytes.equals(hello)).toBe(true);
    }
  });

  it('uses `head` (data read with the CONNECT request) before reading the stream', async () => {
    const stream = new PassThrough();
    const result = peekClientHello(stream, 1000, 65_536, hello.subarray(0, 10));
    stream.write(hello.subarray(10));
    const r = await result;
    expect(r).toMatchObject({ kind: 'tls', sni: 'peek.example.com' });
    expect(r.bytes.equals(hello)).toBe(true);

    const idle = new PassThrough();
    const immediate = await peekClientHello(idle, 1000, 65_536, Buffer.from('GET / HTTP/1.1\r\n'));
    expect(immediate.kind).toBe('not-tls');
    expect(idle.listenerCount('data')).toBe(0);
  });

  it('reports not-tls, timeout, closed and too-large with the bytes read so far', async () => {
    const http = new PassThrough();
    const p1 = peekClientHello(http, 1000, 65_536);
    http.write('GET http://x/ HTTP/1.1\r\n');
    expect(await p1).toMatchObject({ kind: 'not-tls', bytes: Buffer.from('GET http://x/ HTTP/1.1\r\n') });

    const silent = new PassThrough();
    expect(await peekClientHello(silent, 50, 65_536)).toEqual({ kind: 'timeout', bytes: Buffer.alloc(0) });

    const ended = new PassThrough();
    const p3 = peekClientHello(ended, 1000, 65_536);
    ended.end(Buffer.from([22, 3, 1]));
    expect(await p3).toMatchObject({ kind: 'closed', bytes: Buffer.from([22, 3, 1]) });

    const failing = new PassThrough();
    const p4 = peekClientHello(failing, 1000, 65_536);
    failing.destroy(new Error('ECONNRESET'));
    const r4 = await p4;
    expect(r4.kind).toBe('closed');
    expect(r4.kind === 'closed' && r4.error?.message).toBe('ECONNRESET');

    const big = new PassThrough();
    const p5 = peekClientHello(big, 1000, 64);
    big.write(Buffer.concat([Buffer.from([22, 3, 1, 0x3f, 0xff, 1, 0, 0x3f, 0xfb]), Buffer.alloc(100, 0x41)]));
    expect(await p5).toMatchObject({ kind: 'too-large' });
  });

  it('leaves the stream paused with the peeked bytes replayable via unshift', async () => {
    const stream = new PassThrough();
    const result = peekClientHello(stream, 1000, 65_536);
    stream.write('GET / HTTP/1.1\r\n');
    const r = await result;
    stream.write('Host: a\r\n\r\n');
    expect(stream.isPaused()).toBe(true);
    expect(stream.listenerCount('data')).toBe(0);
    stream.unshift(r.bytes);
    stream.end();
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    expect(Buffer.concat(chunks).toString()).toBe('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
  });
});

describe('peekClientHello on a real socket, then TLS termination with a leaf', () => {
  let server: Server;
  let port: number;
  const outcomes: PeekResult[] = [];

  beforeAll(async () => {
    // The shape of transparent interception: peek, decide, unshift, wrap in a TLSSocket.
    server = createServer((socket: Socket) => {
      socket.on('error', () => undefined);
      void peekClientHello(socket, 2000, 65_536).then(async (r) => {
        outcomes.push(r);
        if (r.kind !== 'tls' || !r.sni) return socket.end('not tls\n');
        const leaf = await leaves.get(r.sni);
        socket.unshift(r.bytes);
        const secure = new tls.TLSSocket(socket, { isServer: true, secureContext: leaf.secureContext, ALPNProtocols: ['http/1.1'] });
        secure.on('error', () => undefined);
        secure.end(`hello ${r.sni}\n`);
      });
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    port = (server.address() as AddressInfo).port;
  });
  afterEach(() => {
    outcomes.length = 0;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('completes a handshake the client verifies against the CA, negotiating http/1.1', async () => {
    const client = tls.connect({ host: '127.0.0.1', port, servername: 'Mail.Example.org', ca: ca.certPem, ALPNProtocols: ['h2', 'http/1.1'] });
    client.on('error', () => undefined);
    await once(client, 'secureConnect');
    expect(client.authorized).toBe(true);
    expect(client.alpnProtocol).toBe('http/1.1');
    let text = '';
    for await (const chunk of client) text += String(chunk);
    expect(text).toBe('hello mail.example.org\n');
    expect(outcomes[0]).toMatchObject({ kind: 'tls', sni: 'mail.example.org', alpn: ['h2', 'http/1.1'] });
  });

  it('tells plain HTTP apart and keeps its bytes', async () => {
    const client = createConnection({ host: '127.0.0.1', port });
    client.on('error', () => undefined);
    client.write('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n');
    let text = '';
    for await (const chunk of client) text += String(chunk);
    expect(text).toBe('not tls\n');
    expect(outcomes[0]?.kind).toBe('not-tls');
    expect(outcomes[0]?.bytes.toString()).toBe('GET / HTTP/1.1\r\nHost: example.com\r\n\r\n');
  });
});
