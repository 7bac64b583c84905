import { request as httpRequest, type Agent, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { readBody } from './origin.js';

/** What the echo origin reports about the request it received. */
export interface Echo {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  httpVersion: string;
  body: string;
}

/**
 * An origin handler with a few routes for forwarding tests; anything else echoes the
 * request as JSON with a Content-Length.
 *
 *   /cl?n=N           N bytes "a…" with Content-Length
 *   /chunked?n=N      N bytes "b…" in several writes, chunked (no Content-Length)
 *   /trailer          chunked body "hello trailers" and a trailer x-checksum: abc123
 *   /status/NNN       an empty response with that status (204, 304…)
 *   /delay?ms=M&id=I  answers "I" after M ms (pipelining order)
 *   /hop              a response carrying hop-by-hop fields the proxy must drop
 */
export function echoHandler(req: IncomingMessage, res: ServerResponse): void {
  const u = new URL(req.url ?? '/', 'http://x');
  const n = Number(u.searchParams.get('n') ?? '1000');
  switch (u.pathname) {
    case '/cl': {
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': n });
      res.end(req.method === 'HEAD' ? undefined : 'a'.repeat(n));
      req.resume();
      return;
    }
    case '/chunked': {
      res.writeHead(200, { 'content-type': 'text/plain' });
      const part = Math.ceil(n / 4);
      for (let sent = 0; sent < n; sent += part) res.write('b'.repeat(Math.min(part, n - sent)));
      res.end();
      req.resume();
      return;
    }
    case '/trailer': {
      res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
      res.write('hello ');
      res.write('trailers');
      res.addTrailers({ 'x-checksum': 'abc123' });
      res.end();
      req.resume();
      return;
    }
    case '/delay': {
      const ms = Number(u.searchParams.get('ms') ?? '0');
      const id = u.searchParams.get('id') ?? '';
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(id) });
        res.end(id);
      }, ms);
      req.resume();
      return;
    }
    case '/hop': {
      res.setHeader('content-type', 'text/plain');
      res.setHeader('connection', 'keep-alive, x-origin-private');
      res.setHeader('x-origin-private', 'must-not-leak');
      res.setHeader('keep-alive', 'timeout=1234, max=77');
      res.setHeader('proxy-connection', 'keep-alive');
      res.setHeader('proxy-authenticate', 'Basic realm="origin"');
      res.setHeader('upgrade', 'h2c');
      res.setHeader('via', '1.1 origin-cache');
      res.setHeader('x-end-to-end', 'kept');
      res.setHeader('content-length', 2);
      res.end('ok');
      req.resume();
      return;
    }
  }
  const m = /^\/status\/(\d{3})$/.exec(u.pathname);
  if (m) {
    // A 304 carries the validators of the 200 it stands for; 204 nothing.
    res.writeHead(Number(m[1]), { etag: '"v1"', 'x-status-route': m[1] });
    res.end();
    req.resume();
    return;
  }
  void readBody(req).then((body) => {
    const echo: Echo = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, httpVersion: req.httpVersion, body: body.toString('latin1') };
    const text = JSON.stringify(echo);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-echo-method': req.method ?? '' });
    res.end(req.method === 'HEAD' ? undefined : text);
  });
}

export interface NodeResult {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  trailers: NodeJS.Dict<string>;
  body: Buffer;
  res: IncomingMessage;
}

/**
 * node:http request through a forward proxy: connect to the proxy, put the absolute
 * URI in the request line. `body` is sent with Content-Length unless `chunked`.
 */
export function viaProxy(
  proxyPort: number,
  url: string,
  opts: { method?: string; headers?: Record<string, string | string[]>; body?: string | Buffer; chunked?: boolean; agent?: Agent | false; proxyHost?: string } = {},
): Promise<NodeResult> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | string[]> = { ...opts.headers };
    const req = httpRequest({ host: opts.proxyHost ?? '127.0.0.1', port: proxyPort, method: opts.method ?? 'GET', path: url, headers, agent: opts.agent ?? false, setHost: !('host' in headers) });
    req.on('error', reject);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, trailers: res.trailers, body: Buffer.concat(chunks), res }));
    });
    if (opts.body !== undefined) {
      if (opts.chunked) {
        // Several writes without Content-Length: node sends Transfer-Encoding: chunked.
        const b = Buffer.from(opts.body);
        const third = Math.ceil(b.length / 3);
        for (let i = 0; i < b.length; i += third) req.write(b.subarray(i, i + third));
      } else {
        req.setHeader('content-length', Buffer.byteLength(opts.body));
        req.write(opts.body);
      }
    }
    req.end();
  });
}
