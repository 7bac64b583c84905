import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';

export interface Origin {
  server: Server;
  port: number;
  /** http://127.0.0.1:PORT (or https://) */
  url: string;
  /** Every request the origin received, in order. */
  requests: IncomingMessage[];
  /** Sockets the origin accepted (to count connections / reuse). */
  sockets: Set<Socket>;
  connections: number;
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real node:http origin on 127.0.0.1, port 0. */
export async function startOrigin(handler: Handler, opts: { tls?: { key: string; cert: string }; host?: string } = {}): Promise<Origin> {
  const requests: IncomingMessage[] = [];
  const sockets = new Set<Socket>();
  let connections = 0;
  const wrapped: Handler = (req, res) => {
    requests.push(req);
    handler(req, res);
  };
  const server = (opts.tls ? createHttpsServer({ key: opts.tls.key, cert: opts.tls.cert }, wrapped) : createServer(wrapped)) as Server;
  server.on('connection', (s: Socket) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.listen(0, opts.host ?? '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const host = opts.host?.includes(':') ? `[${opts.host}]` : (opts.host ?? '127.0.0.1');
  return {
    server,
    port,
    url: `${opts.tls ? 'https' : 'http'}://${host}:${port}`,
    requests,
    sockets,
    get connections() {
      return connections;
    },
    async close() {
      server.closeAllConnections();
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** Read a whole request or response body. */
export async function readBody(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
