import { once } from 'node:events';
import { createServer, request, type IncomingMessage, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';

/**
 * A small parent proxy for the parents-* tests: forwards absolute-form HTTP and CONNECT
 * like any forward proxy, records what it received, and can be told to misbehave.
 */
export type ParentMode = 'ok' | 'reset' | 'hang' | 'cut-body' | '503' | 'deny-connect';

export interface SeenRequest {
  method: string;
  url: string;
  proxyAuthorization: string | undefined;
  via: string | undefined;
}

export interface TestParent {
  port: number;
  url: string;
  mode: ParentMode;
  /** Required Proxy-Authorization value (407 without it), or null. */
  requireAuth: string | null;
  seen: SeenRequest[];
  /** Stop listening (connections are refused) until `start()`. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export async function startParent(name: string): Promise<TestParent> {
  const sockets = new Set<Socket>();
  const p: TestParent = {
    port: 0,
    url: '',
    mode: 'ok',
    requireAuth: null,
    seen: [],
    stop: async () => {
      server.close();
      for (const s of sockets) s.destroy();
      await once(server, 'close').catch(() => undefined);
    },
    start: async () => {
      server.listen(p.port, '127.0.0.1');
      await once(server, 'listening');
    },
    close: async () => {
      if (server.listening) await p.stop();
    },
  };
  const record = (req: IncomingMessage): boolean => {
    p.seen.push({ method: req.method ?? '', url: req.url ?? '', proxyAuthorization: req.headers['proxy-authorization'], via: req.headers.via });
    return p.requireAuth === null || req.headers['proxy-authorization'] === p.requireAuth;
  };
  const server: Server = createServer((req, res) => {
    if (!record(req)) {
      res.writeHead(407, { 'proxy-authenticate': 'Basic realm="parent"', 'content-length': 0 });
      res.end();
      return;
    }
    if (p.mode === 'reset') return void req.socket.destroy();
    if (p.mode === 'hang') return;
    if (p.mode === '503') {
      // The parent's own error, marked as RFC 9209 says.
      res.writeHead(503, { 'content-length': 0, 'proxy-status': `${name}; error=destination_unavailable` });
      res.end();
      return;
    }
    const target = new URL(req.url ?? '');
    const headers = { ...req.headers, 'x-parent': name };
    delete headers['proxy-authorization'];
    const up = request({ host: target.hostname, port: target.port, path: target.pathname + target.search, method: req.method, headers }, (ures) => {
      res.writeHead(ures.statusCode ?? 502, { ...ures.headers, 'x-parent': name });
      if (p.mode === 'cut-body') {
        ures.once('data', (c: Buffer) => {
          res.write(c.subarray(0, Math.max(1, c.length >> 1)));
          setTimeout(() => req.socket.destroy(), 20);
        });
        return;
      }
      ures.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  server.on('connect', (req: IncomingMessage, client: Socket, head: Buffer) => {
    client.on('error', () => undefined);
    if (!record(req)) return void client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="parent"\r\nContent-Length: 0\r\n\r\n');
    if (p.mode === 'reset') return void client.destroy();
    if (p.mode === 'hang') return;
    if (p.mode === '503') return void client.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n');
    if (p.mode === 'deny-connect') return void client.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    const [host, port] = [req.url!.slice(0, req.url!.lastIndexOf(':')), Number(req.url!.slice(req.url!.lastIndexOf(':') + 1))];
    const up = connect({ host: host.replace(/^\[|\]$/g, ''), port }, () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(client);
      client.pipe(up);
    });
    up.on('error', () => client.destroy());
    client.on('close', () => up.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  p.port = (server.address() as AddressInfo).port;
  p.url = `http://127.0.0.1:${p.port}`;
  return p;
}
