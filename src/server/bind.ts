import type { AddressInfo, Server } from 'node:net';

/** Bind a server (net or node:http) and resolve with its address; a bind error (EADDRINUSE) rejects. */
export function bindServer(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.removeListener('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}

/** "127.0.0.1:3128", "[::1]:3128": a bound address for log lines. */
export function formatBound(a: AddressInfo): string {
  return a.family === 'IPv6' ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
