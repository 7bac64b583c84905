import { connect, type Socket } from 'node:net';

/**
 * Send raw bytes to a port and collect everything until the peer closes or `idleMs`
 * passes without data. For malformed-input tests, where no HTTP client would cooperate.
 */
export function rawExchange(port: number, data: string | Buffer, opts: { idleMs?: number; host?: string } = {}): Promise<{ text: string; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const sock: Socket = connect(port, opts.host ?? '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout;
    const finish = (closed: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve({ text: Buffer.concat(chunks).toString('latin1'), closed });
    };
    const arm = (): void => {
      clearTimeout(timer);
      timer = setTimeout(() => finish(false), opts.idleMs ?? 2000);
    };
    sock.on('data', (c) => {
      chunks.push(c);
      arm();
    });
    sock.on('end', () => finish(true));
    sock.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' ? finish(true) : reject(e)));
    sock.on('connect', () => {
      sock.write(data);
      arm();
    });
  });
}

/** Status code of the first response in a raw text, or 0. */
export function statusOf(text: string): number {
  const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
  return m ? Number(m[1]) : 0;
}
