import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { forwardResponseHeaders, headerValue } from '../http/headers.js';
import { ProxyError, toProxyError } from '../http/errors.js';
import { formatAuthority } from '../http/target.js';
import type { TunnelRegistry } from '../tunnel/connect.js';
import { now, ProxyContext } from './context.js';
import { parseTarget, prepareHeaders, type Exchange } from './request-checks.js';
import { sendError } from './respond.js';
import { ResponseRelay } from './response-relay.js';
import type { Runtime } from './runtime.js';

/**
 * HTTP/1.1 Upgrade (WebSocket) through the forward proxy: the handshake goes through
 * the same checks as any request; on 101 the two sockets are spliced, any other
 * answer is relayed as a normal response.
 */
export function handleUpgrade(rt: Runtime, req: IncomingMessage, client: Socket, head: Buffer, registry: TunnelRegistry): void {
  const ctx = new ProxyContext(rt.ids.next(), 'upgrade', client.remoteAddress ?? '', client.remotePort ?? 0);
  ctx.method = req.method ?? '';
  ctx.url = req.url ?? '';
  // A ServerResponse on the raw socket lets refusals use the one error path.
  const res = new ServerResponse(req);
  res.assignSocket(client);
  res.shouldKeepAlive = false;
  const x: Exchange = { rt, ctx, req, res, headers: [] };
  let spliced = false;
  res.once('close', () => {
    if (!spliced) rt.accessLog.write(ctx, now());
  });
  try {
    if (parseTarget(x) || prepareHeaders(x)) return;
    const t = ctx.target!;
    const protocol = headerValue(req.rawHeaders, 'upgrade') ?? 'websocket';
    ctx.upstream = formatAuthority(t.host, t.port);
    const relay = new UpgradeRelay(rt, ctx, req, res, client, head, registry, () => {
      spliced = true;
    });
    rt.pool.dispatch(
      { origin: `http://${formatAuthority(t.host, t.port)}`, path: t.path, method: req.method!, headers: x.headers, upgrade: protocol },
      relay,
    );
  } catch (err) {
    sendError(rt, ctx, req, res, err instanceof ProxyError ? err : toProxyError(err), true);
  }
}

class UpgradeRelay extends ResponseRelay {
  constructor(
    private readonly runtime: Runtime,
    private readonly context: ProxyContext,
    req: IncomingMessage,
    private readonly response: ServerResponse,
    private readonly client: Socket,
    private readonly head: Buffer,
    private readonly registry: TunnelRegistry,
    private readonly onSpliced: () => void,
  ) {
    super(runtime, context, req, response);
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[] | string[] | null, upstream: Socket): void {
    const { context: ctx, client } = this;
    ctx.status = statusCode;
    this.onSpliced();
    this.response.detachSocket(client);
    const headers = forwardResponseHeaders(rawHeaders ?? [], this.runtime.via, true);
    let out = `HTTP/1.1 ${statusCode} Switching Protocols\r\n`;
    for (let i = 0; i < headers.length; i += 2) out += `${headers[i]}: ${headers[i + 1]}\r\n`;
    client.write(`${out}\r\n`);
    if (this.head.length) upstream.write(this.head);
    const pair = [client, upstream];
    this.registry.add(pair);
    const before = client.bytesWritten;
    const kill = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.setTimeout(this.runtime.config.timeouts.tunnelIdle, kill);
    upstream.setTimeout(this.runtime.config.timeouts.tunnelIdle, kill);
    client.pipe(upstream);
    upstream.pipe(client);
    let closed = 0;
    const onClose = (): void => {
      if (++closed < 2) return;
      this.registry.delete(pair);
      ctx.bytesIn = upstream.bytesWritten;
      ctx.bytesOut = client.bytesWritten - before;
      this.runtime.accessLog.write(ctx, now());
    };
    client.once('close', onClose);
    upstream.once('close', onClose);
  }
}
