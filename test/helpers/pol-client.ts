import { request as httpRequest, type Agent, type IncomingHttpHeaders } from 'node:http';

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
  /** Body bytes received. */
  bytes: number;
  /**
   * false when the connection was cut before the response was complete (the proxy
   * aborted a transfer it had started); the promise still resolves then.
   */
  complete: boolean;
}

export interface ProxyGetOptions {
  method?: string;
  headers?: Record<string, string>;
  /** Bind the client socket to this address (e.g. 127.0.0.2 for `sources` rules). */
  localAddress?: string;
  agent?: Agent | false;
  body?: string;
  /** Called with each body chunk as it arrives. */
  onData?: (chunk: Buffer) => void;
}

/**
 * One request through a forward proxy with node:http: connect to the proxy, absolute
 * URI in the request line. Rejects only when no response head arrived.
 */
export function proxyRequest(proxyPort: number, url: string, opts: ProxyGetOptions = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({
      host: '127.0.0.1',
      port: proxyPort,
      method: opts.method ?? 'GET',
      path: url,
      headers: opts.headers ?? {},
      agent: opts.agent ?? false,
      localAddress: opts.localAddress,
    });
    let gotHead = false;
    req.on('error', (err) => {
      if (!gotHead) reject(err);
    });
    req.on('response', (res) => {
      gotHead = true;
      const chunks: Buffer[] = [];
      let done = false;
      const finish = (complete: boolean): void => {
        if (done) return;
        done = true;
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body.toString('utf8'), bytes: body.length, complete });
      };
      res.on('data', (c: Buffer) => {
        chunks.push(c);
        opts.onData?.(c);
      });
      res.on('end', () => finish(res.complete));
      res.on('aborted', () => finish(false));
      res.on('error', () => finish(false));
      res.on('close', () => finish(res.complete));
    });
    if (opts.body !== undefined) req.end(opts.body);
    else req.end();
  });
}
