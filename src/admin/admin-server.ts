import { timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { HttpCache } from '../cache/index.js';
import { cachePurge, cacheStats, type ApiAnswer } from './cache-api.js';

export interface AdminConfig {
  readonly listen: { readonly address: string; readonly port: number } | null;
  readonly token: string;
}

export interface AdminDeps {
  /** The current generation's cache (read at each request: reloads swap it). */
  cache(): HttpCache | null;
  log: Logger;
}

/** Request bodies of the admin API are small JSON objects. */
const MAX_BODY = 64 * 1024;

/**
 * The admin listener: a small JSON API on its own address, separate from the proxy
 * listeners so it can be firewalled apart. Routes: GET /api/cache/stats,
 * POST /api/cache/purge. With a token configured every request needs
 * `Authorization: Bearer TOKEN` (the schema requires one beyond loopback).
 */
export class AdminServer {
  private server: Server | null = null;

  constructor(
    private readonly config: AdminConfig,
    private readonly deps: AdminDeps,
  ) {}

  async listen(): Promise<AddressInfo | null> {
    const l = this.config.listen;
    if (!l) return null;
    const server = createServer({ requestTimeout: 10_000, headersTimeout: 5000 }, (req, res) => this.handle(req, res));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err: NodeJS.ErrnoException) => reject(Object.assign(new Error(`admin API (admin.listen): ${err.message}`), { code: err.code })));
      server.listen({ host: l.address.replace(/^\[|\]$/g, ''), port: l.port }, () => {
        server.removeListener('error', reject);
        resolve();
      });
    });
    this.server = server;
    const a = server.address() as AddressInfo;
    this.deps.log.info({ address: a.address, port: a.port }, `admin API listening on ${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}`);
    return a;
  }

  get address(): AddressInfo | null {
    return (this.server?.address() as AddressInfo | null) ?? null;
  }

  async close(): Promise<void> {
    const s = this.server;
    if (!s) return;
    this.server = null;
    s.closeAllConnections();
    await new Promise<void>((r) => s.close(() => r()));
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    if (!this.authorised(req)) {
      this.send(res, { status: 401, body: { error: 'UNAUTHORIZED', message: 'a valid "Authorization: Bearer TOKEN" is required' } }, { 'www-authenticate': 'Bearer' });
      return;
    }
    const path = (req.url ?? '').split('?')[0];
    if (path === '/api/cache/stats') {
      if (req.method !== 'GET') return this.send(res, methodNotAllowed('GET'), { allow: 'GET' });
      return this.send(res, cacheStats(this.deps.cache()));
    }
    if (path === '/api/cache/purge') {
      if (req.method !== 'POST') return this.send(res, methodNotAllowed('POST'), { allow: 'POST' });
      this.readJson(req).then(
        (input) => {
          const answer = cachePurge(this.deps.cache(), input);
          if (answer.status === 200) this.deps.log.info({ ...answer.body }, 'cache purged');
          this.send(res, answer);
        },
        (e: Error) => this.send(res, { status: 400, body: { error: 'BAD_REQUEST', message: e.message } }),
      );
      return;
    }
    this.send(res, { status: 404, body: { error: 'NOT_FOUND', message: `no such endpoint: ${path}` } });
  }

  private authorised(req: IncomingMessage): boolean {
    const token = this.config.token;
    if (!token) return true;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const a = Buffer.from(m[1]!.trim());
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private readJson(req: IncomingMessage): Promise<unknown> {
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let size = 0;
      req.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY) {
          reject(new Error(`request body larger than ${MAX_BODY} bytes`));
          req.destroy();
        } else chunks.push(c);
      });
      req.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8') || 'null'));
        } catch {
          reject(new Error('request body is not valid JSON'));
        }
      });
      req.on('error', reject);
    });
  }

  private send(res: ServerResponse, a: ApiAnswer, extra: Record<string, string> = {}): void {
    if (res.headersSent || res.destroyed) return;
    const body = `${JSON.stringify(a.body)}\n`;
    res.writeHead(a.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...extra });
    res.end(body);
  }
}

function methodNotAllowed(allow: string): ApiAnswer {
  return { status: 405, body: { error: 'METHOD_NOT_ALLOWED', message: `use ${allow}` } };
}
