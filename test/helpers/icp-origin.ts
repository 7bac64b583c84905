import type { IncomingMessage } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { startOrigin, type Handler, type Origin } from './origin.js';
import type { KeyCert } from './icp-certs.js';

/**
 * HTTPS origins for the interception tests. The default handler says who it is, so a
 * test can tell the request really reached this origin; an Upgrade handler answers 101
 * and echoes bytes upper-cased (no WebSocket framing: the proxy must not care).
 */
export async function startHttpsOrigin(cert: KeyCert, name: string, handler?: Handler): Promise<Origin & { upgrades: IncomingMessage[] }> {
  const origin = await startOrigin(
    handler ??
      ((req, res) => {
        const body = `origin ${name} ${req.method} ${req.url} host=${req.headers.host}`;
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      }),
    { tls: { key: cert.key, cert: cert.cert } },
  );
  const upgrades: IncomingMessage[] = [];
  origin.server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    upgrades.push(req);
    socket.on('error', () => {});
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: test\r\n\r\n');
    socket.on('data', (d: Buffer) => socket.write(d.toString('latin1').toUpperCase()));
    socket.on('end', () => socket.end());
  });
  return Object.assign(origin, { upgrades });
}

/** A temp folder with files written in it; remove() deletes it. */
export function tempFiles(prefix = 'egressd-icp-files-'): { dir: string; write(name: string, content: string | Buffer): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return {
    dir,
    write(name, content) {
      const file = join(dir, name);
      writeFileSync(file, content);
      return file;
    },
    remove() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
