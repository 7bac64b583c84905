import { request as httpRequest, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { startOrigin, type Origin } from './origin.js';

/** What the controllable origin answers for one path. */
export interface Reply {
  status?: number;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
  /** Wait this long before answering (coalescing tests). */
  delayMs?: number;
}

export type Route = Reply | ((req: IncomingMessage, n: number) => Reply);

export interface CacheOrigin extends Origin {
  /** Set what a path answers (a fixed reply or a function of the request and its count). */
  route(path: string, r: Route): void;
  /** Requests received for a path. */
  count(path: string): number;
  /** The request headers of the last request for a path. */
  last(path: string): IncomingHttpHeaders | undefined;
}

/** An origin whose answers the test chooses per path, and which counts requests. */
export async function startCacheOrigin(): Promise<CacheOrigin> {
  const routes = new Map<string, Route>();
  const counts = new Map<string, number>();
  const lasts = new Map<string, IncomingHttpHeaders>();
  const origin = await startOrigin((req, res) => {
    const path = req.url ?? '/';
    const n = (counts.get(path) ?? 0) + 1;
    counts.set(path, n);
    lasts.set(path, req.headers);
    const route = routes.get(path);
    const reply: Reply = typeof route === 'function' ? route(req, n) : (route ?? { status: 404, body: 'no route' });
    const send = (): void => {
      res.writeHead(reply.status ?? 200, reply.headers ?? {});
      res.end(req.method === 'HEAD' ? undefined : (reply.body ?? ''));
    };
    req.resume();
    if (reply.delayMs) setTimeout(send, reply.delayMs);
    else send();
  });
  return Object.assign(origin, {
    route: (path: string, r: Route) => void routes.set(path, r),
    count: (path: string) => counts.get(path) ?? 0,
    last: (path: string) => lasts.get(path),
  });
}

export interface Got {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request through the proxy (absolute-form, a new connection), body read whole. */
export function viaProxy(proxyPort: number, url: string, headers: OutgoingHttpHeaders = {}, method = 'GET', body?: string): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: proxyPort, method, path: url, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('latin1') }));
      res.on('error', reject);
    });
    req.setTimeout(10_000, () => req.destroy(new Error('request timed out')));
    req.on('error', reject);
    req.end(body);
  });
}
