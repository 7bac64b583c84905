import { request as httpRequest } from 'node:http';
import { Client } from 'undici';
import type { TestProxy } from './proxy.js';

/** How one request through the proxy ended, seen by a plain node:http client. */
export interface Outcome {
  /** 0: no response head arrived. */
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  /** complete: the body ended as framed; cut: the connection ended mid-body; error: no response. */
  how: 'complete' | 'cut' | 'error' | 'hang';
  /** ms from sending to the response head, and to the end. */
  headAt: number;
  endAt: number;
}

/**
 * GET `url` through the proxy on a fresh connection (agent: false), never rejects.
 * `hangMs` bounds the whole exchange: past it the outcome is 'hang'.
 */
export function getThrough(proxyPort: number, url: string, hangMs = 8000): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    let headAt = 0;
    let status = 0;
    let headers: Outcome['headers'] = {};
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (how: Outcome['how']): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ status, headers, body: Buffer.concat(chunks), how, headAt, endAt: Date.now() - t0 });
    };
    const req = httpRequest({ host: '127.0.0.1', port: proxyPort, path: url, agent: false }, (res) => {
      headAt = Date.now() - t0;
      status = res.statusCode ?? 0;
      headers = res.headers;
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => finish(res.complete ? 'complete' : 'cut'));
      res.on('aborted', () => finish('cut'));
      res.on('error', () => finish('cut'));
      res.on('close', () => finish(res.complete ? 'complete' : 'cut'));
    });
    req.on('error', () => finish(status ? 'cut' : 'error'));
    const timer = setTimeout(() => {
      finish('hang');
      req.destroy();
    }, hangMs);
    req.end();
  });
}

/** `/api/status` `active` of a proxy started with `admin.listen` (port 0). */
export async function activeOf(px: TestProxy): Promise<{ connections: number; requests: number; tunnels: number }> {
  // A client of its own, closed at once: a pooled keep-alive socket would count in tcpHandles().
  const client = new Client(`http://127.0.0.1:${px.proxy.admin.address!.port}`);
  try {
    const res = await client.request({ path: '/api/status', method: 'GET' });
    const body = (await res.body.json()) as { active: { connections: number; requests: number; tunnels: number } };
    return body.active;
  } finally {
    await client.close();
  }
}

/** Poll `probe` until it returns true or `timeoutMs` passes; returns the last result. */
export async function eventually(probe: () => boolean | Promise<boolean>, timeoutMs = 3000, stepMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await probe()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, stepMs));
  }
}

/** TCP sockets this test process holds open (client, origin and proxy ends alike). */
export function tcpHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;
}
