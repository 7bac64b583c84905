import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

/** One HTTP/1.x response parsed from raw bytes. */
export interface RawResponse {
  version: string;
  status: number;
  reason: string;
  /** Raw [name, value, …] list as received. */
  rawHeaders: string[];
  /** Lowercased name → values joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
  /** Trailer fields of a chunked body (lowercased names). */
  trailers: Record<string, string>;
}

class Incomplete extends Error {}

/**
 * Parse as many complete responses as `buf` holds. `methods[i]` is the method of the
 * i-th request on the connection (HEAD responses have no body, RFC 9110 §9.3.2); a
 * response with neither Content-Length nor chunked coding is read to the end only when
 * `closed` is true. Strict on framing, so a body the proxy wrongly put on a HEAD/204/304
 * response shows up as garbage where the next status line should be.
 */
export function parseResponses(buf: Buffer, methods: readonly string[], closed = false): { responses: RawResponse[]; rest: Buffer } {
  const responses: RawResponse[] = [];
  let pos = 0;
  let finals = 0;
  while (pos < buf.length) {
    try {
      const [r, next] = parseOne(buf, pos, methods[finals] ?? 'GET', closed);
      pos = next;
      responses.push(r);
      // 1xx interim responses (other than 101) belong to the same request.
      if (r.status >= 200 || r.status === 101) finals++;
      if (r.status === 101) break;
    } catch (e) {
      if (e instanceof Incomplete) break;
      throw e;
    }
  }
  return { responses, rest: buf.subarray(pos) };
}

function parseOne(buf: Buffer, start: number, method: string, closed: boolean): [RawResponse, number] {
  const end = buf.indexOf('\r\n\r\n', start, 'latin1');
  if (end < 0) throw new Incomplete();
  const head = buf.toString('latin1', start, end);
  const lines = head.split('\r\n');
  const m = /^HTTP\/(1\.[01]) (\d{3})(?: (.*))?$/.exec(lines[0]!);
  if (!m) throw new Error(`not a status line at offset ${start}: ${JSON.stringify(lines[0]!.slice(0, 80))}`);
  const rawHeaders: string[] = [];
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) throw new Error(`bad header line ${JSON.stringify(line)}`);
    const name = line.slice(0, i);
    const value = line.slice(i + 1).trim();
    rawHeaders.push(name, value);
    const lower = name.toLowerCase();
    headers[lower] = headers[lower] === undefined ? value : `${headers[lower]}, ${value}`;
  }
  const status = Number(m[2]);
  const r: RawResponse = { version: m[1]!, status, reason: m[3] ?? '', rawHeaders, headers, body: Buffer.alloc(0), trailers: {} };
  let pos = end + 4;
  const noBody = method === 'HEAD' || (status >= 100 && status < 200) || status === 204 || status === 304;
  if (noBody) return [r, pos];
  const te = headers['transfer-encoding'];
  if (te !== undefined && /chunked\s*$/i.test(te)) {
    const parts: Buffer[] = [];
    for (;;) {
      const eol = buf.indexOf('\r\n', pos, 'latin1');
      if (eol < 0) throw new Incomplete();
      const size = parseInt(buf.toString('latin1', pos, eol).split(';')[0]!, 16);
      if (Number.isNaN(size)) throw new Error(`bad chunk size ${JSON.stringify(buf.toString('latin1', pos, eol))}`);
      pos = eol + 2;
      if (size === 0) break;
      if (buf.length < pos + size + 2) throw new Incomplete();
      parts.push(buf.subarray(pos, pos + size));
      pos += size + 2;
    }
    for (;;) {
      const eol = buf.indexOf('\r\n', pos, 'latin1');
      if (eol < 0) throw new Incomplete();
      const line = buf.toString('latin1', pos, eol);
      pos = eol + 2;
      if (line === '') break;
      const i = line.indexOf(':');
      r.trailers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
    }
    r.body = Buffer.concat(parts);
    return [r, pos];
  }
  const cl = headers['content-length'];
  if (cl !== undefined) {
    const n = Number(cl);
    if (buf.length < pos + n) throw new Incomplete();
    r.body = buf.subarray(pos, pos + n);
    return [r, pos + n];
  }
  if (!closed) throw new Incomplete();
  r.body = buf.subarray(pos);
  return [r, buf.length];
}

/** A raw TCP client that keeps everything it received, for pipelining and upgrade tests. */
export class RawConn {
  readonly socket: Socket;
  private chunks: Buffer[] = [];
  private waiters: (() => void)[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (c: Buffer) => {
      this.chunks.push(c);
      this.wake();
    });
    socket.on('close', () => {
      this.closed = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static async open(port: number, host = '127.0.0.1'): Promise<RawConn> {
    const s = connect(port, host);
    const c = new RawConn(s);
    await once(s, 'connect');
    return c;
  }

  get received(): Buffer {
    if (this.chunks.length > 1) this.chunks = [Buffer.concat(this.chunks)];
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  /** Forget what was received so far up to `n` bytes (after a 101, keep the tunnel bytes). */
  consume(n: number): void {
    this.chunks = [this.received.subarray(n)];
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Wait until `pred()` holds, re-checked on every data/close event. */
  async until(pred: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (this.closed && !pred()) {
        // one last check happened above; a closed socket will not bring more data
        throw new Error(`connection closed before ${what}; received:\n${this.received.toString('latin1').slice(0, 2000)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; received:\n${this.received.toString('latin1').slice(0, 2000)}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Wait for `n` complete final responses (1xx are included in the result but not counted). */
  async responses(n: number, methods: readonly string[], timeoutMs = 5000): Promise<RawResponse[]> {
    let out: RawResponse[] = [];
    const finals = (): number => out.filter((r) => r.status >= 200 || r.status === 101).length;
    await this.until(
      () => {
        out = parseResponses(this.received, methods, this.closed).responses;
        return finals() >= n;
      },
      timeoutMs,
      `${n} responses`,
    );
    return out;
  }

  close(): void {
    this.socket.destroy();
  }
}
