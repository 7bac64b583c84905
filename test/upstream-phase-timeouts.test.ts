import { request as httpRequest } from 'node:http';
import { Client, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';
import { PhaseClock } from '../src/upstream/phase-timeouts.js';

/**
 * The upstream head and body timeouts (timeouts.upstreamHeaders, timeouts.bodyIdle),
 * kept by egressd's PhaseClock rather than undici's per-phase timers: what each phase
 * bounds, and what it leaves to the client side.
 */

const HEAD_MS = 300;
const BODY_MS = 300;

interface Outcome {
  status: number;
  body: string;
  error: string | null;
  at: number;
}

/**
 * Dispatch through `clock` on a real undici Client (its own timers off, as in egressd's
 * pools). `pauseMs`: the handler refuses the first body chunk and resumes that long after.
 */
function fetchTimed(client: Client, clock: PhaseClock, path: string, pauseMs = 0): Promise<Outcome> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    let status = 0;
    let body = '';
    let paused = false;
    const handler: Dispatcher.DispatchHandler = {
      onConnect: () => {},
      onHeaders: (s, _h, resume) => {
        status = s;
        if (pauseMs > 0 && !paused) {
          paused = true;
          setTimeout(resume, pauseMs);
          return false;
        }
        return true;
      },
      onData: (c) => {
        body += c.toString();
        return true;
      },
      onComplete: () => resolve({ status, body, error: null, at: Date.now() - t0 }),
      onError: (e) => resolve({ status, body, error: (e as { code?: string }).code ?? e.message, at: Date.now() - t0 }),
    };
    client.dispatch({ path, method: 'GET' }, clock.wrap(handler));
  });
}

describe('PhaseClock on a real undici client', () => {
  let origin: Origin;
  let client: Client;
  const clock = new PhaseClock({ headersMs: HEAD_MS, bodyMs: BODY_MS });
  beforeAll(async () => {
    origin = await startOrigin((req, res) => {
      if (req.url === '/silent') return; // never answers
      if (req.url === '/stall-body') {
        res.writeHead(200, { 'content-length': '10' });
        res.write('12345'); // and never the rest
        return;
      }
      if (req.url === '/slow-chunks') {
        // Silent for 2/3 of BODY_MS at a time, for 3 x BODY_MS in all.
        res.writeHead(200, { 'content-length': '5' });
        let i = 0;
        const t = setInterval(() => {
          res.write(String(i++));
          if (i === 5) {
            clearInterval(t);
            res.end();
          }
        }, (BODY_MS * 2) / 3);
        return;
      }
      res.end('whole body');
    });
    client = new Client(origin.url, { headersTimeout: 0, bodyTimeout: 0 });
  });
  afterAll(async () => {
    await client.destroy();
    await origin.close();
  });

  it('no head within headersMs: UND_ERR_HEADERS_TIMEOUT, near the limit', async () => {
    const out = await fetchTimed(client, clock, '/silent');
    expect(out.error).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(out.at).toBeGreaterThanOrEqual(HEAD_MS - 5);
    expect(out.at).toBeLessThan(HEAD_MS + 250);
  });

  it('a body that goes silent: UND_ERR_BODY_TIMEOUT after what arrived', async () => {
    const out = await fetchTimed(client, clock, '/stall-body');
    expect(out).toMatchObject({ status: 200, body: '12345', error: 'UND_ERR_BODY_TIMEOUT' });
    expect(out.at).toBeLessThan(BODY_MS + 250);
  });

  it('each chunk moves the body deadline: a body slower in total than bodyMs arrives whole', async () => {
    const out = await fetchTimed(client, clock, '/slow-chunks');
    expect(out).toMatchObject({ status: 200, body: '01234', error: null });
    expect(out.at).toBeGreaterThan(BODY_MS * 2);
  });

  it('while the handler holds the body back (a slow client), the origin is not timed', async () => {
    const out = await fetchTimed(client, clock, '/', BODY_MS * 3);
    expect(out).toMatchObject({ status: 200, body: 'whole body', error: null });
    expect(out.at).toBeGreaterThanOrEqual(BODY_MS * 3 - 5);
  });

  it('finished requests leave the clock, and its interval ends when none is left', async () => {
    await Promise.all([fetchTimed(client, clock, '/'), fetchTimed(client, clock, '/silent'), fetchTimed(client, clock, '/stall-body')]);
    expect(clock.size).toBe(0);
    await sleep(100); // a sweep with nothing to watch stops the interval
    expect((clock as unknown as { timer: unknown }).timer).toBeNull();
  });
});

describe('through the proxy: upstreamHeaders starts when the request is sent', () => {
  let px: TestProxy;
  let origin: Origin;
  beforeAll(async () => {
    // Reads the whole upload, then answers after ?delay= ms.
    origin = await startOrigin((req, res) => {
      let n = 0;
      req.on('data', (c: Buffer) => (n += c.length));
      req.on('end', () => {
        const delay = Number(new URL(req.url!, 'http://x').searchParams.get('delay') ?? 0);
        setTimeout(() => res.end(`got ${n}`), delay);
      });
    });
    px = await startTestProxy({ timeouts: { upstreamHeaders: `${HEAD_MS}ms`, bodyIdle: '5s' } });
  });
  afterAll(async () => {
    await px.close();
    await origin.close();
  });

  function slowUpload(path: string, pieces: number, gapMs: number): Promise<{ status: number; body: string; error: string | undefined }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: px.port, method: 'POST', path: `${origin.url}${path}`, headers: { 'content-length': String(pieces) } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => (body += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body, error: res.headers['x-egressd-error'] as string | undefined }));
      });
      req.on('error', reject);
      let i = 0;
      const t = setInterval(() => {
        req.write('x');
        if (++i === pieces) {
          clearInterval(t);
          req.end();
        }
      }, gapMs);
    });
  }

  it('an upload that takes longer than upstreamHeaders, answered at once: 200', async () => {
    const out = await slowUpload('/?delay=0', 6, HEAD_MS / 2); // 900 ms of upload
    expect(out).toMatchObject({ status: 200, body: 'got 6' });
  });

  it('an origin that takes longer than upstreamHeaders after the upload ended: 504 UPSTREAM_TIMEOUT, logged', async () => {
    const out = await slowUpload(`/?delay=${HEAD_MS * 3}`, 3, HEAD_MS / 2);
    expect(out.status).toBe(504);
    expect(out.error).toMatch(/^UPSTREAM_TIMEOUT: /);
    const line = await px.access.waitFor((l) => l.method === 'POST' && l.status === 504);
    expect(String(line.reason)).toMatch(/UND_ERR_HEADERS_TIMEOUT/);
  });
});
