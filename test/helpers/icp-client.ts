import { X509Certificate } from 'node:crypto';
import type { Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { curl, openTunnel } from './err-net.js';
import { parseResponses, type RawResponse } from './fwd-raw-http.js';

/**
 * Clients for the interception tests: a TLS handshake through a raw CONNECT (to see the
 * certificate the client is presented), raw HTTP/1.1 on that TLS socket (to control
 * keep-alive and Host exactly), and curl through the proxy.
 */

export interface TlsThroughProxy {
  /** The TLS socket inside the tunnel (open; destroy it when done). */
  tls: TLSSocket;
  /** The certificate the client was presented (the leaf). */
  peer: X509Certificate;
  /** The whole chain presented, leaf first. */
  chain: X509Certificate[];
  alpn: string | false | null;
}

export interface TlsOptions {
  /** SNI; none for an IP target unless given. */
  servername?: string;
  /** CA(s) the client trusts; without it the handshake is made without verification. */
  ca?: string | string[];
  /** Host name checked against the certificate (defaults to servername, then the CONNECT host). */
  checkHost?: string;
}

/** CONNECT `authority`, then a TLS handshake inside the tunnel. Rejects if the handshake fails. */
export async function tlsThroughProxy(proxyPort: number, authority: string, opts: TlsOptions = {}): Promise<TlsThroughProxy> {
  const t = await openTunnel(proxyPort, authority);
  if (t.status !== 200) {
    t.socket.destroy();
    throw new Error(`CONNECT ${authority} answered ${t.status}: ${t.head}`);
  }
  const host = authority.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      socket: t.socket,
      servername: opts.servername,
      host: opts.checkHost ?? opts.servername ?? host,
      ca: opts.ca,
      rejectUnauthorized: opts.ca !== undefined,
      ALPNProtocols: ['http/1.1'],
    });
    // Closing the TLS socket must close the TCP connection to the proxy too.
    tls.once('close', () => t.socket.destroy());
    const timer = setTimeout(() => {
      tls.destroy();
      reject(new Error(`TLS handshake through CONNECT ${authority} did not finish in 5 s`));
    }, 5000);
    tls.once('secureConnect', () => {
      clearTimeout(timer);
      const chain: X509Certificate[] = [];
      let c = tls.getPeerCertificate(true);
      const seen = new Set<string>();
      while (c && c.raw && !seen.has(c.fingerprint256)) {
        seen.add(c.fingerprint256);
        chain.push(new X509Certificate(c.raw));
        c = c.issuerCertificate;
      }
      tls.on('error', () => {});
      resolve({ tls, peer: tls.getPeerX509Certificate()!, chain, alpn: tls.alpnProtocol });
    });
    tls.once('error', (err) => {
      clearTimeout(timer);
      tls.destroy();
      t.socket.destroy();
      reject(err);
    });
  });
}

/**
 * Write one raw request on a connection and resolve with its response (parsed strictly).
 * Data after the response stays buffered for the next call on the same `reader`.
 */
export class RawHttp {
  private buf: Buffer = Buffer.alloc(0);
  private closed = false;
  private wake: (() => void) | null = null;

  constructor(
    readonly socket: Socket,
    initial: Buffer = Buffer.alloc(0),
  ) {
    this.buf = initial;
    socket.on('data', (c: Buffer) => {
      this.buf = Buffer.concat([this.buf, c]);
      this.wake?.();
    });
    const end = (): void => {
      this.closed = true;
      this.wake?.();
    };
    socket.on('end', end);
    socket.on('close', end);
    socket.on('error', end);
    // openTunnel leaves the socket paused; a 'data' listener alone does not resume it.
    socket.resume();
  }

  async request(raw: string, method = 'GET', timeoutMs = 5000): Promise<RawResponse> {
    this.socket.write(raw);
    return this.next(method, timeoutMs);
  }

  /** The next complete response (e.g. a 101 and what follows it). */
  async next(method = 'GET', timeoutMs = 5000): Promise<RawResponse> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { responses, rest } = parseResponses(this.buf, [method], this.closed);
      if (responses.length > 0) {
        // One request is written at a time, so more than one response is a framing bug.
        if (responses.length > 1) throw new Error(`${responses.length} responses to one request: ${responses.map((r) => r.status).join(', ')}`);
        this.buf = rest;
        return responses[0]!;
      }
      if (this.closed) throw new Error(`connection closed before a complete response; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no complete response within ${timeoutMs} ms; got ${JSON.stringify(this.buf.toString('latin1').slice(0, 300))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          resolve();
        };
      });
    }
  }

  /** Bytes received after the last parsed response (e.g. tunnel data after a 101). */
  async bytes(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buf.length < n) {
      if (this.closed || Date.now() > deadline) throw new Error(`only ${this.buf.length} of ${n} bytes: ${JSON.stringify(this.buf.toString('latin1'))}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.max(1, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(t);
          this.wake = null;
          resolve();
        };
      });
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

/** A GET in origin form, as a client inside a decrypted tunnel sends it. */
export function getRequest(host: string, path: string, extra: Record<string, string> = {}): string {
  let s = `GET ${path} HTTP/1.1\r\nHost: ${host}\r\n`;
  for (const [k, v] of Object.entries(extra)) s += `${k}: ${v}\r\n`;
  return `${s}\r\n`;
}

export interface CurlResult {
  exit: number;
  status: number;
  body: string;
  stderr: string;
}

/**
 * curl an https URL through the proxy (CONNECT). `cacert`: a CA file the client trusts
 * (curl then trusts only it). Proxy settings in the environment are overridden.
 */
export async function curlViaProxy(proxyUrl: string, url: string, opts: { cacert?: string; extra?: string[] } = {}): Promise<CurlResult> {
  const args = ['--noproxy', '', '-x', proxyUrl, '-w', '\n%{http_code}', ...(opts.cacert ? ['--cacert', opts.cacert] : []), ...(opts.extra ?? []), url];
  const r = await curl(args);
  const lines = r.stdout.split('\n');
  const status = Number(lines.pop() ?? 0);
  return { exit: r.code, status, body: lines.join('\n'), stderr: r.stderr };
}
