import type { Readable } from 'node:stream';
import { parseClientHello } from './client-hello.js';

/** Every outcome carries the bytes consumed, to `socket.unshift()` or replay upstream. */
export type PeekResult =
  | { kind: 'tls'; sni?: string; alpn?: string[]; bytes: Buffer }
  | { kind: 'not-tls'; reason: string; bytes: Buffer }
  /** Nothing decisive in time; with no bytes at all, likely a server-speaks-first protocol (SMTP, SSH banners). */
  | { kind: 'timeout'; bytes: Buffer }
  /** The client ended, closed or errored before a decision. */
  | { kind: 'closed'; bytes: Buffer; error?: Error }
  /** `maxBytes` read and still no complete ClientHello. */
  | { kind: 'too-large'; bytes: Buffer };

/**
 * Read from a client socket until its first bytes are known to be a TLS ClientHello (with
 * SNI/ALPN) or not. `head` is data already read (the `head` of node:http's 'connect' event).
 *
 * On return the socket is paused and this function's listeners are gone; the caller owns it
 * again and decides: `socket.unshift(bytes)` and wrap it in a TLSSocket (which reads the
 * unshifted data first), or write `bytes` upstream and pipe. The caller keeps its own
 * 'error' listener; this one is only attached while peeking.
 */
export function peekClientHello(socket: Readable, timeoutMs: number, maxBytes: number, head?: Buffer): Promise<PeekResult> {
  return new Promise((resolve) => {
    let chunks: Buffer[] = head?.length ? [head] : [];
    let total = head?.length ?? 0;
    let needed = 1;
    let settled = false;
    let timer: NodeJS.Timeout | undefined;

    const bytes = (): Buffer => {
      // Keep one buffer, so repeated evaluations do not re-copy every chunk.
      if (chunks.length !== 1) chunks = [Buffer.concat(chunks, total)];
      return chunks[0] ?? Buffer.alloc(0);
    };
    const finish = (result: PeekResult): void => {
      if (settled) return;
      settled = true;
      if (timer) clearTimeout(timer);
      // Pause before removing the listener: a flowing stream would drop the next chunk.
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onError);
      resolve(result);
    };
    const evaluate = (): void => {
      // The parser says how many bytes it needs to progress; a client dripping bytes
      // one at a time costs one parse per record, not one per byte.
      if (total >= needed) {
        const all = bytes();
        const parsed = parseClientHello(all);
        if (parsed.kind !== 'incomplete') return finish({ ...parsed, bytes: all });
        needed = parsed.needed;
      }
      if (total >= maxBytes) finish({ kind: 'too-large', bytes: bytes() });
    };
    function onData(chunk: Buffer): void {
      chunks.push(chunk);
      total += chunk.length;
      evaluate();
    }
    function onEnd(): void {
      finish({ kind: 'closed', bytes: bytes() });
    }
    function onError(error: Error): void {
      finish({ kind: 'closed', bytes: bytes(), error });
    }

    if (total > 0) evaluate();
    if (settled) return;
    if (socket.destroyed || socket.readableEnded) return finish({ kind: 'closed', bytes: bytes() });
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onError);
    socket.resume(); // 'data' alone does not resume a stream that was explicitly paused
    timer = setTimeout(() => finish({ kind: 'timeout', bytes: bytes() }), timeoutMs);
  });
}
