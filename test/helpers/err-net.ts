import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

export interface TcpServer {
  server: Server;
  port: number;
  /** Sockets accepted so far (also the closed ones). */
  accepted: Socket[];
  close(): Promise<void>;
}

/** A plain TCP server on 127.0.0.1:0; `onSocket` decides what to do with each connection. */
export async function startTcpServer(onSocket: (s: Socket) => void, opts: { allowHalfOpen?: boolean } = {}): Promise<TcpServer> {
  const accepted: Socket[] = [];
  const server = createServer({ allowHalfOpen: opts.allowHalfOpen ?? false }, (s) => {
    s.on('error', () => {});
    accepted.push(s);
    onSocket(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    port: (server.address() as AddressInfo).port,
    accepted,
    async close() {
      for (const s of accepted) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A TCP echo server. */
export function startEcho(): Promise<TcpServer> {
  return startTcpServer((s) => s.pipe(s));
}

/** A port nothing listens on (bound once, then released). */
export async function closedPort(): Promise<number> {
  const s = createServer();
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface Tunnel {
  socket: Socket;
  status: number;
  /** The proxy's response head, CRLFs included. */
  head: string;
  /** Bytes that arrived after the response head (tunnel data or an error body). */
  rest: Buffer;
}

/**
 * Send `CONNECT target` (plus `extra` bytes in the same write) on a raw socket and
 * resolve once the response head arrived. The socket stays open for tunnel traffic.
 */
export function openTunnel(proxyPort: number, target: string, opts: { extra?: Buffer | string; allowHalfOpen?: boolean; requestLine?: string } = {}): Promise<Tunnel> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port: proxyPort, host: '127.0.0.1', allowHalfOpen: opts.allowHalfOpen ?? false });
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no CONNECT response within 5 s; got ${JSON.stringify(buf.toString('latin1'))}`));
    }, 5000);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      const end = buf.indexOf('\r\n\r\n');
      if (end < 0) return;
      clearTimeout(timer);
      socket.removeListener('data', onData);
      socket.removeListener('error', onError);
      socket.pause();
      const head = buf.subarray(0, end + 4).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(head);
      resolve({ socket, status: m ? Number(m[1]) : 0, head, rest: buf.subarray(end + 4) });
    };
    const onError = (e: Error): void => {
      clearTimeout(timer);
      reject(e);
    };
    socket.on('data', onData);
    socket.on('error', onError);
    socket.on('connect', () => {
      const line = opts.requestLine ?? `CONNECT ${target} HTTP/1.1\r\nHost: ${target}\r\n\r\n`;
      socket.write(opts.extra ? Buffer.concat([Buffer.from(line, 'latin1'), Buffer.from(opts.extra)]) : line);
    });
  });
}

/** Read from a socket until it ends (or errors), starting with `initial`. */
export function readToEnd(socket: Socket, initial: Buffer = Buffer.alloc(0), timeoutMs = 5000): Promise<{ data: Buffer; how: 'end' | 'error' | 'timeout' | 'close' }> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [initial];
    let done = false;
    const finish = (how: 'end' | 'error' | 'timeout' | 'close'): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ data: Buffer.concat(chunks), how });
    };
    const timer = setTimeout(() => finish('timeout'), timeoutMs);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.once('end', () => finish('end'));
    socket.once('error', () => finish('error'));
    socket.once('close', () => finish('close'));
    socket.resume();
  });
}

/** Read until at least `n` bytes arrived. */
export function readBytes(socket: Socket, n: number, initial: Buffer = Buffer.alloc(0), timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let buf = initial;
    if (buf.length >= n) return resolve(buf);
    const timer = setTimeout(() => {
      socket.removeListener('data', onData);
      reject(new Error(`only ${buf.length} of ${n} bytes within ${timeoutMs} ms`));
    }, timeoutMs);
    const onData = (c: Buffer): void => {
      buf = Buffer.concat([buf, c]);
      if (buf.length >= n) {
        clearTimeout(timer);
        socket.removeListener('data', onData);
        socket.pause();
        resolve(buf);
      }
    };
    socket.on('data', onData);
    socket.resume();
  });
}

/** Run curl; never rejects on a non-zero exit. */
export function curl(args: string[], timeoutMs = 10_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', String(timeoutMs / 1000), ...args], { timeout: timeoutMs + 2000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Parse the headers of a raw HTTP response head into a lowercase map. */
export function headersOf(text: string): Record<string, string> {
  const end = text.indexOf('\r\n\r\n');
  const lines = (end < 0 ? text : text.slice(0, end)).split('\r\n').slice(1);
  const out: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) out[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  return out;
}

/** The body of a raw HTTP response text (after the first blank line). */
export function bodyOf(text: string): string {
  const end = text.indexOf('\r\n\r\n');
  return end < 0 ? '' : text.slice(end + 4);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
