import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tls from 'node:tls';

/** Temp folders for one test file; `cleanup` removes them all (call it in afterAll). */
export function tempDirs(): { make(prefix?: string): Promise<string>; cleanup(): Promise<void> } {
  const dirs: string[] = [];
  return {
    async make(prefix = 'egressd-tls-') {
      const dir = await mkdtemp(join(tmpdir(), prefix));
      dirs.push(dir);
      return dir;
    },
    async cleanup() {
      await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

export function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** `openssl verify` exit status and output, without throwing. */
export function opensslVerify(args: string[]): { ok: boolean; output: string } {
  try {
    return { ok: true, output: openssl(['verify', ...args]) };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

export async function writeTemp(dir: string, name: string, content: string | Buffer): Promise<string> {
  const file = join(dir, name);
  await writeFile(file, content);
  return file;
}

/**
 * The raw first TLS record a real node:tls client sends (its ClientHello), captured by a
 * plain TCP server that never answers. Reads the record length itself, so the capture does
 * not depend on the parser under test.
 */
export async function captureClientHello(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  try {
    const captured = new Promise<Buffer>((resolve, reject) => {
      server.once('connection', (socket: Socket) => {
        let data = Buffer.alloc(0);
        socket.on('error', () => undefined);
        socket.on('data', (chunk: Buffer) => {
          data = Buffer.concat([data, chunk]);
          if (data.length >= 5 && data.length >= 5 + data.readUInt16BE(3)) {
            socket.destroy();
            resolve(data.subarray(0, 5 + data.readUInt16BE(3)));
          }
        });
        socket.on('close', () => reject(new Error('closed before a full record')));
      });
    });
    const client = tls.connect({ host: '127.0.0.1', port, ...options });
    client.on('error', () => undefined);
    try {
      return await captured;
    } finally {
      client.destroy();
    }
  } finally {
    server.close();
  }
}

export interface HandshakeOutcome {
  ok: boolean;
  error?: NodeJS.ErrnoException;
  alpn?: string | false | null;
  peerCertificate?: tls.PeerCertificate;
}

/**
 * Run one TLS handshake against a node:tls server that serves `keyCert` to clients
 * without SNI and asks `server.sni` for the others, then close both sides.
 */
export async function handshake(
  serverSide: { keyCert?: { key: string; cert: string }; sni?: (servername: string) => Promise<tls.SecureContext> },
  client: tls.ConnectionOptions,
): Promise<HandshakeOutcome> {
  const { keyCert, sni } = serverSide;
  const server = tls.createServer({
    ...keyCert,
    ALPNProtocols: ['http/1.1'],
    ...(sni
      ? {
          SNICallback: (name: string, cb: (err: Error | null, ctx?: tls.SecureContext) => void) => {
            sni(name).then((ctx) => cb(null, ctx), cb);
          },
        }
      : {}),
  });
  server.on('tlsClientError', () => undefined);
  server.on('secureConnection', (s) => {
    s.on('error', () => undefined);
    s.end('hi');
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  try {
    return await new Promise<HandshakeOutcome>((resolve) => {
      const socket = tls.connect({ host: '127.0.0.1', port, ...client });
      socket.on('secureConnect', () => {
        resolve({ ok: true, alpn: socket.alpnProtocol, peerCertificate: socket.getPeerCertificate(true) });
        socket.destroy();
      });
      socket.on('error', (error) => {
        resolve({ ok: false, error });
        socket.destroy();
      });
    });
  } finally {
    server.close();
  }
}

/** Deterministic PRNG (mulberry32), so a fuzz failure can be replayed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
