import type { Socket } from 'node:net';

/** What the first bytes of a redirected connection are. */
export type FirstBytes = 'tls' | 'http' | 'other' | 'incomplete';

/** Longest method name looked for (registered methods are at most 17 characters: UPDATEREDIRECTREF). */
const MAX_METHOD = 24;

/**
 * Classify the first bytes a client sent. TLS starts with a handshake record (content
 * type 22, RFC 8446 §5.1). HTTP/1.x starts with a request line, `method SP` (RFC 9112
 * §3), after optional empty lines (§2.2); every registered method is upper-case letters
 * and "-", so anything else before the first space is another protocol (SSH banners,
 * binary junk), which is closed rather than handed to a parser that may guess.
 */
export function classifyFirstBytes(b: Uint8Array): FirstBytes {
  let i = 0;
  while (i < b.length && (b[i] === 0x0d || b[i] === 0x0a)) i++;
  if (i === b.length) return b.length > MAX_METHOD ? 'other' : 'incomplete';
  if (i === 0 && b[0] === 0x16) return 'tls';
  const start = i;
  for (; i < b.length && i - start <= MAX_METHOD; i++) {
    const c = b[i]!;
    if (c === 0x20) return i > start ? 'http' : 'other';
    if (!((c >= 0x41 && c <= 0x5a) || c === 0x2d)) return 'other';
  }
  return i - start > MAX_METHOD ? 'other' : 'incomplete';
}

/** The classification (or why there is none: timeout, closed) and the bytes read. */
export interface Sniffed {
  kind: 'tls' | 'http' | 'other' | 'timeout' | 'closed';
  bytes: Buffer;
}

/**
 * Read until the first bytes are classified, the client closes, or `timeoutMs` passes.
 * Like peekClientHello: on return the socket is paused, these listeners are gone, and
 * the bytes read are returned for the caller to `unshift()` or pass on.
 */
export async function sniffFirstBytes(socket: Socket, timeoutMs: number): Promise<Sniffed> {
  const r = await readPrefix(socket, timeoutMs, (bytes) => {
    const kind = classifyFirstBytes(bytes);
    return kind === 'incomplete' ? undefined : kind;
  });
  return { kind: r.kind === 'done' ? r.value : r.kind, bytes: r.bytes };
}

export type Prefix<T> = { kind: 'done'; value: T; bytes: Buffer } | { kind: 'timeout'; bytes: Buffer } | { kind: 'closed'; bytes: Buffer };

/**
 * Read a socket until `judge` returns a verdict on the bytes so far, the peer closes, or
 * `timeoutMs` passes. On return the socket is paused and these listeners are gone; every
 * byte read is in `bytes`, for the caller to `unshift()` what is not its own. Shared by
 * the transparent sniffing and the PROXY protocol header.
 */
export function readPrefix<T>(socket: Socket, timeoutMs: number, judge: (bytes: Buffer) => T | undefined): Promise<Prefix<T>> {
  return new Promise((resolve) => {
    let bytes: Buffer = Buffer.alloc(0);
    const finish = (r: Prefix<T>): void => {
      clearTimeout(timer);
      socket.pause();
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.off('error', onEnd);
      resolve(r);
    };
    function onData(chunk: Buffer): void {
      bytes = bytes.length === 0 ? chunk : Buffer.concat([bytes, chunk]);
      const value = judge(bytes);
      if (value !== undefined) finish({ kind: 'done', value, bytes });
    }
    function onEnd(): void {
      finish({ kind: 'closed', bytes });
    }
    const timer = setTimeout(() => finish({ kind: 'timeout', bytes }), timeoutMs);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('close', onEnd);
    socket.on('error', onEnd);
    // A socket paused by an earlier reader (the PROXY header before the sniffing) stays
    // paused when a 'data' listener is added; resuming is deferred, so nothing is missed.
    socket.resume();
  });
}
