import { request } from 'node:http';
import type { Socket } from 'node:net';
import { ProxyError } from '../../http/errors.js';

/**
 * Ask a parent proxy for a tunnel on an open socket to it: `CONNECT target` (RFC 9110
 * §9.3.6), with our credentials for the parent. node:http writes the request and
 * llhttp parses the answer; on 2xx the socket is the tunnel, with any bytes the parent
 * sent after its head put back in front.
 */
export function connectThrough(socket: Socket, target: string, parent: string, authorization: string | null, timeoutMs: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: target };
    if (authorization) headers['proxy-authorization'] = authorization;
    const req = request({ method: 'CONNECT', path: target, headers, createConnection: () => socket, setHost: false });
    const timer = setTimeout(() => {
      req.destroy(new ProxyError('UPSTREAM_TIMEOUT', `parent ${parent} did not answer CONNECT ${target} within ${timeoutMs} ms`));
    }, timeoutMs);
    req.once('connect', (res, tunnel: Socket, head: Buffer) => {
      clearTimeout(timer);
      const status = res.statusCode ?? 0;
      if (status < 200 || status > 299) {
        tunnel.destroy();
        reject(new ProxyError('PARENT_REFUSED', `parent ${parent} answered ${status} ${res.statusMessage ?? ''} to CONNECT ${target}`.trimEnd(), { cause: { status } }));
        return;
      }
      if (head.length) tunnel.unshift(head);
      resolve(tunnel);
    });
    req.once('response', (res) => {
      // Only reached when the parent answered CONNECT with a body-carrying response node
      // did not treat as a tunnel answer.
      clearTimeout(timer);
      res.resume();
      socket.destroy();
      reject(new ProxyError('PARENT_REFUSED', `parent ${parent} answered ${res.statusCode} to CONNECT ${target}`));
    });
    req.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    });
    req.end();
  });
}

/** The status a parent refused with (PARENT_REFUSED), for passive health: 5xx counts against it. */
export function refusedStatus(err: unknown): number | undefined {
  if (!(err instanceof ProxyError) || err.code !== 'PARENT_REFUSED') return undefined;
  return (err.cause as { status?: number } | undefined)?.status;
}
