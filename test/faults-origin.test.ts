import type { Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTcpServer, type TcpServer } from './helpers/err-net.js';
import { activeOf, eventually, getThrough, tcpHandles } from './helpers/faults.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * Origins that misbehave after the request went out (issue 10, faults). Covered
 * elsewhere and not repeated here: an origin that never answers (504 after
 * upstreamHeaders) and one that resets mid-body (test/errors-upstream.test.ts), and one
 * that resets after reading a whole upload (test/errors-upstream-after-body.test.ts).
 *
 * The rule checked throughout: if nothing was sent to the client yet, it gets a 502/504
 * with a one-line reason and a stable code; once the head was relayed, the connection is
 * cut (RFC 9112 §8: an incomplete message must not look complete); either way the access
 * log has the code, and no socket is left open on either side.
 */

const BODY_IDLE = 600;
const DRIP_MS = 200;

/** Raw responses by request path: each origin behaviour is a few bytes on a TCP socket. */
const BEHAVIOURS: Record<string, (s: Socket) => void> = {
  '/hang-after-headers': (s) => s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n' + 'h'.repeat(100)),
  '/garbage-status': (s) => s.end('HELLO THERE, THIS IS NOT HTTP\r\n\r\n'),
  '/bad-header': (s) => s.end('HTTP/1.1 200 OK\r\nBad Header: x\r\nContent-Length: 2\r\n\r\nok'),
  '/bad-chunk': (s) => s.end('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\nmore\r\n0\r\n\r\n'),
  '/short-body': (s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n' + 's'.repeat(100)),
  // 10 body bytes: 2 s of dripping, well over BODY_IDLE in total. Connection: close:
  // this origin reads one request per connection.
  '/drip': (s) => {
    s.write('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: 10\r\n\r\n');
    drip(s, 'drip-12345', DRIP_MS);
  },
  // The head in one-byte writes: upstreamHeaders bounds the whole head (a slowloris guard
  // towards origins), bodyIdle only what follows.
  '/drip-head': (s) => drip(s, 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok', HEAD_DRIP_MS),
  '/drip-head-forever': (s) => drip(s, `HTTP/1.1 200 OK\r\nX-Pad: ${'p'.repeat(200)}\r\nContent-Length: 2\r\n\r\nok`, HEAD_DRIP_MS),
};

const HEAD_DRIP_MS = 20;
const UPSTREAM_HEADERS = 2000;

/** Write `text` one byte every `everyMs`, then end the connection. */
function drip(s: Socket, text: string, everyMs: number): void {
  let i = 0;
  const t = setInterval(() => {
    if (s.destroyed) return clearInterval(t);
    s.write(text[i++]!);
    if (i === text.length) {
      clearInterval(t);
      s.end();
    }
  }, everyMs);
  s.once('close', () => clearInterval(t));
}

let origin: TcpServer;
let px: TestProxy;
let n = 0;

beforeAll(async () => {
  origin = await startTcpServer((s) => {
    let head = '';
    const onData = (d: Buffer): void => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      s.removeListener('data', onData);
      const path = /^GET (\S+)/.exec(head)?.[1]?.replace(/\?.*/, '') ?? '';
      BEHAVIOURS[path]?.(s);
    };
    s.on('data', onData);
  });
  px = await startTestProxy({
    timeouts: { bodyIdle: `${BODY_IDLE}ms`, upstreamHeaders: `${UPSTREAM_HEADERS}ms` },
    cache: { enabled: false },
    admin: { listen: { address: '127.0.0.1', port: 0 } },
  });
});
afterAll(async () => {
  await px?.close();
  await origin?.close();
});

const urlFor = (path: string): string => `http://127.0.0.1:${origin.port}${path}?n=${++n}`;

/** After an exchange: the proxy holds no client connection or request, and the origin's socket is closed. */
async function expectNothingLeaked(originSocketsBefore: number): Promise<void> {
  expect(await eventually(async () => {
    const a = await activeOf(px);
    return a.connections === 0 && a.requests === 0;
  })).toBe(true);
  const ours = origin.accepted.slice(originSocketsBefore);
  expect(ours.length).toBeGreaterThan(0);
  expect(await eventually(() => ours.every((s) => s.destroyed || s.readyState === 'closed'))).toBe(true);
}

describe('origin hangs after sending the headers', () => {
  it('the client gets the head and part of the body, then the connection is cut after bodyIdle; logged UPSTREAM_TIMEOUT; nothing leaks', async () => {
    const handlesBefore = tcpHandles();
    const before = origin.accepted.length;
    const url = urlFor('/hang-after-headers');
    const out = await getThrough(px.port, url);
    expect(out.status).toBe(200);
    expect(out.how).toBe('cut');
    expect(out.body.toString()).toBe('h'.repeat(100));
    // Cut by the idle timer, not at once and not after a long hang.
    expect(out.endAt - out.headAt).toBeGreaterThanOrEqual(BODY_IDLE - 100);
    expect(out.endAt).toBeLessThan(BODY_IDLE + 2000);
    const line = await px.access.waitFor((l) => l.url === url);
    expect(line).toMatchObject({ status: 200, error: 'UPSTREAM_TIMEOUT', bytesOut: 100 });
    expect(line.level).toBe(50);
    expect(String(line.reason)).toMatch(/UND_ERR_BODY_TIMEOUT/);
    await expectNothingLeaked(before);
    // The client socket, the proxy's two ends and the origin's end are all gone.
    expect(await eventually(() => tcpHandles() <= handlesBefore)).toBe(true);
  });
});

describe('origin sends invalid HTTP', () => {
  const beforeHead: [string, string][] = [
    ['a garbage status line', '/garbage-status'],
    ['an invalid header line', '/bad-header'],
  ];
  for (const [what, path] of beforeHead) {
    it(`${what}, nothing relayed yet → 502 UPSTREAM_PROTOCOL with a one-line reason and an error log line`, async () => {
      const before = origin.accepted.length;
      const url = urlFor(path);
      const out = await getThrough(px.port, url);
      expect(out.how).toBe('complete');
      expect(out.status).toBe(502);
      expect(String(out.headers['x-egressd-error'])).toMatch(/^UPSTREAM_PROTOCOL: /);
      expect(out.body.toString().trimEnd().split('\n')).toHaveLength(1);
      const line = await px.access.waitFor((l) => l.url === url);
      expect(line).toMatchObject({ status: 502, error: 'UPSTREAM_PROTOCOL' });
      expect(line.level).toBe(50);
      await expectNothingLeaked(before);
    });
  }

  const afterHead: [string, string, string][] = [
    ['a bad chunk size after the head', '/bad-chunk', 'hello'],
    ['a Content-Length longer than the body, then close', '/short-body', 's'.repeat(100)],
  ];
  for (const [what, path, relayed] of afterHead) {
    it(`${what} → the client's connection is cut (the body never looks complete), logged UPSTREAM_PROTOCOL`, async () => {
      const before = origin.accepted.length;
      const url = urlFor(path);
      const out = await getThrough(px.port, url);
      expect(out.status).toBe(200);
      expect(out.how).toBe('cut');
      expect(out.body.toString()).toBe(relayed);
      expect(out.endAt).toBeLessThan(2000);
      const line = await px.access.waitFor((l) => l.url === url);
      expect(line).toMatchObject({ status: 200, error: 'UPSTREAM_PROTOCOL' });
      expect(line.level).toBe(50);
      await expectNothingLeaked(before);
    });
  }
});

describe('origin slow-drips its body', () => {
  it(`one byte per ${DRIP_MS} ms: the whole body arrives although it takes longer than bodyIdle (${BODY_IDLE} ms) in total`, async () => {
    const url = urlFor('/drip');
    const out = await getThrough(px.port, url);
    expect(out.how).toBe('complete');
    expect(out.status).toBe(200);
    expect(out.body.toString()).toBe('drip-12345');
    // The idle timer applies between bytes, not to the whole body.
    expect(out.endAt).toBeGreaterThan(BODY_IDLE * 2);
    const line = await px.access.waitFor((l) => l.url === url);
    expect(line).toMatchObject({ status: 200, error: null, bytesOut: 10 });
  });
});

describe('origin slow-drips its response head', () => {
  it(`one byte per ${HEAD_DRIP_MS} ms, done within upstreamHeaders: relayed normally`, async () => {
    const url = urlFor('/drip-head');
    const out = await getThrough(px.port, url);
    expect(out.how).toBe('complete');
    expect(out.status).toBe(200);
    expect(out.body.toString()).toBe('ok');
    expect(out.headAt).toBeGreaterThan(BODY_IDLE); // ~40 bytes × 20 ms: longer than bodyIdle
  });

  it('a head still incomplete after upstreamHeaders → 504 UPSTREAM_TIMEOUT (the bound is on the whole head, not between bytes)', async () => {
    const before = origin.accepted.length;
    const url = urlFor('/drip-head-forever');
    const out = await getThrough(px.port, url);
    expect(out.status).toBe(504);
    expect(String(out.headers['x-egressd-error'])).toMatch(/^UPSTREAM_TIMEOUT: /);
    expect(out.endAt).toBeGreaterThanOrEqual(UPSTREAM_HEADERS - 100);
    expect(out.endAt).toBeLessThan(UPSTREAM_HEADERS + 1500);
    const line = await px.access.waitFor((l) => l.url === url);
    expect(line).toMatchObject({ status: 504, error: 'UPSTREAM_TIMEOUT' });
    await expectNothingLeaked(before);
  });
});
