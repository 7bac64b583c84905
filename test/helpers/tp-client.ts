import { X509Certificate } from 'node:crypto';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { RawHttp } from './icp-client.js';

/**
 * Clients for the transparent-listener tests: they connect straight to the transparent
 * port, as a client whose traffic the firewall redirected would — origin-form HTTP with
 * a Host header, or a TLS handshake with (or without) SNI — never a proxy request.
 */

/** A raw HTTP/1.1 connection to the transparent port. */
export async function httpTo(port: number): Promise<RawHttp & { socket: Socket }> {
  const socket = connect({ port, host: '127.0.0.1' });
  socket.on('error', () => {});
  await once(socket, 'connect');
  return new RawHttp(socket);
}

export interface DirectTls {
  tls: TLSSocket;
  /** The certificate the client was presented. */
  peer: X509Certificate;
}

/**
 * A TLS handshake straight to the transparent port. `servername` undefined: no SNI (the
 * host is an IP address, so Node sends none). With `ca`, the chain is verified, and the
 * name too when there is a servername.
 */
export function tlsTo(port: number, opts: { servername?: string; ca?: string | string[] } = {}): Promise<DirectTls> {
  return new Promise((resolve, reject) => {
    const tls = tlsConnect({
      host: '127.0.0.1',
      port,
      servername: opts.servername,
      ca: opts.ca,
      rejectUnauthorized: opts.ca !== undefined,
      ...(opts.servername ? {} : { checkServerIdentity: () => undefined }),
      ALPNProtocols: ['http/1.1'],
    });
    const timer = setTimeout(() => {
      tls.destroy();
      reject(new Error('TLS handshake to the transparent port did not finish in 5 s'));
    }, 5000);
    tls.once('secureConnect', () => {
      clearTimeout(timer);
      tls.on('error', () => {});
      resolve({ tls, peer: tls.getPeerX509Certificate()! });
    });
    tls.once('error', (err) => {
      clearTimeout(timer);
      tls.destroy();
      reject(err);
    });
    tls.once('close', () => {
      clearTimeout(timer);
      reject(new Error('connection closed during the TLS handshake'));
    });
  });
}

/**
 * Write `bytes` to the transparent port and resolve with everything received until the
 * proxy closes the connection (rejects if it stays open for `timeoutMs`).
 */
export function sendUntilClosed(port: number, bytes: Buffer | string, timeoutMs = 5000): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1' });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the proxy kept the connection open for ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}
