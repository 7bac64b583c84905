import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyOf, headersOf, sleep } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';
import { rawExchange, statusOf } from './helpers/raw.js';

/** Every error response carries the code in x-egressd-error, a one-line body with it, and a request id. */
function expectErrorResponse(text: string, status: number, code: string): { id: string } {
  expect(statusOf(text), text).toBe(status);
  const h = headersOf(text);
  expect(h['x-egressd-error']).toMatch(new RegExp(`^${code}: \\S`));
  expect(h['x-egressd-error']).not.toMatch(/[\r\n]/);
  const body = bodyOf(text);
  expect(body).toContain(code);
  expect(body.trimEnd().split('\n')).toHaveLength(1);
  expect(h['x-request-id']).toBeTruthy();
  expect(body).toContain(h['x-request-id']!);
  return { id: h['x-request-id']! };
}

describe('malformed and unacceptable requests', () => {
  let origin: Origin;
  let px: TestProxy;
  beforeAll(async () => {
    origin = await startOrigin((req, res) => {
      req.resume();
      req.on('end', () => res.end('origin saw it'));
    });
    px = await startTestProxy({ limits: { maxHeaderSize: '8KiB' }, proxy: { adminContact: 'helpdesk@example.test' } });
  });
  afterAll(async () => {
    await px.close();
    await origin.close();
  });

  it('malformed request line → 400 BAD_REQUEST with a log line, connection closed', async () => {
    const r = await rawExchange(px.port, 'THIS IS NOT HTTP\r\n\r\n');
    const { id } = expectErrorResponse(r.text, 400, 'BAD_REQUEST');
    expect(r.closed).toBe(true);
    const line = await px.access.waitFor((l) => l.id === id);
    expect(line).toMatchObject({ status: 400, error: 'BAD_REQUEST', msg: 'request' });
    expect(line.reason).toBeTruthy();
  });

  // node's parser accepts an HTTP/0.9-style line (no version) and reports httpVersion
  // "0.9"; RFC 9112 §3 requires the version, and forwarding it as HTTP/1.1 upstream
  // while answering a 0.9 client with an HTTP/1.1 head is a protocol mix-up.
  it('request line without an HTTP version → 400, not forwarded', async () => {
    const r = await rawExchange(px.port, `GET http://127.0.0.1:${origin.port}/nover\r\n\r\n`);
    expectErrorResponse(r.text, 400, 'BAD_REQUEST');
    expect(origin.requests.some((q) => q.url === '/nover')).toBe(false);
  });

  it.each([
    ['lowercase method', 'get http://example.com/ HTTP/1.1'],
    ['control byte in target', 'GET http://example.com/\x01 HTTP/1.1'],
    ['bad version', 'GET http://example.com/ HTTP/9.9x'],
    ['bare LF junk', '\x00\x01\x02'],
  ])('invalid request line (%s) → 400', async (_name, line) => {
    const r = await rawExchange(px.port, `${line}\r\nHost: example.com\r\n\r\n`);
    expectErrorResponse(r.text, 400, 'BAD_REQUEST');
  });

  const badHosts = ['http://exa$mple.com/', 'http://-bad-.example/', 'http://a..b/', 'http://[::g]/', 'http://[::1/', 'http://host:99999/', 'http://host:0/', 'http://u:p@example.com/', 'http:///nohost', 'http://1.2.3/'];
  it.each(badHosts)('absolute URI with a bad authority %s → 400 BAD_TARGET, logged', async (url) => {
    const r = await rawExchange(px.port, `GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    const { id } = expectErrorResponse(r.text, 400, 'BAD_TARGET');
    const line = await px.access.waitFor((l) => l.id === id);
    // Credentials never reach the log (src/log/redact.ts).
    expect(line).toMatchObject({ status: 400, error: 'BAD_TARGET', url: url.replace('u:p@', '***@') });
  });

  it.each(['ftp://example.com/file', 'https://example.com/', 'gopher://example.com/', 'file:///etc/passwd'])('unsupported scheme %s → 400 BAD_TARGET', async (url) => {
    const r = await rawExchange(px.port, `GET ${url} HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n`);
    expectErrorResponse(r.text, 400, 'BAD_TARGET');
  });

  it('Content-Length with Transfer-Encoding → 400, and the origin sees nothing', async () => {
    const before = origin.connections;
    const body = 'a'.repeat(10);
    const r = await rawExchange(
      px.port,
      `POST http://127.0.0.1:${origin.port}/smuggle HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\nTransfer-Encoding: chunked\r\n\r\na\r\n${body}\r\n0\r\n\r\n`,
    );
    expectErrorResponse(r.text, 400, 'BAD_REQUEST');
    expect(r.closed).toBe(true);
    await sleep(100);
    expect(origin.connections).toBe(before);
    expect(origin.requests.some((q) => q.url === '/smuggle')).toBe(false);
  });

  it('two different Content-Length values → 400, not forwarded', async () => {
    const before = origin.connections;
    const r = await rawExchange(px.port, `POST http://127.0.0.1:${origin.port}/twocl HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde`);
    expectErrorResponse(r.text, 400, 'BAD_REQUEST');
    await sleep(100);
    expect(origin.connections).toBe(before);
  });

  it('Content-Length with a comma-list of different values → 400', async () => {
    const r = await rawExchange(px.port, `POST http://127.0.0.1:${origin.port}/clist HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3, 5\r\n\r\nabcde`);
    expect(statusOf(r.text)).toBe(400);
    expect(origin.requests.some((q) => q.url === '/clist')).toBe(false);
  });

  it('headers beyond limits.maxHeaderSize (8 KiB) → 431 HEADERS_TOO_LARGE, logged', async () => {
    const r = await rawExchange(px.port, `GET http://127.0.0.1:${origin.port}/big HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(10 * 1024)}\r\n\r\n`);
    const { id } = expectErrorResponse(r.text, 431, 'HEADERS_TOO_LARGE');
    expect(r.closed).toBe(true);
    const line = await px.access.waitFor((l) => l.id === id);
    expect(line).toMatchObject({ status: 431, error: 'HEADERS_TOO_LARGE' });
    expect(origin.requests.some((q) => q.url === '/big')).toBe(false);
  });

  it('headers just under the limit are forwarded', async () => {
    const r = await rawExchange(px.port, `GET http://127.0.0.1:${origin.port}/almost HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'b'.repeat(6 * 1024)}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(r.text)).toBe(200);
    expect(bodyOf(r.text)).toContain('origin saw it');
  });

  it('plain-text error for a client without Accept: text/html', async () => {
    const r = await rawExchange(px.port, 'GET ftp://example.com/x HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\nConnection: close\r\n\r\n');
    expect(statusOf(r.text)).toBe(400);
    expect(headersOf(r.text)['content-type']).toMatch(/^text\/plain/);
    expect(bodyOf(r.text)).not.toContain('<');
  });

  it('HTML error page for Accept: text/html with reason, code, request id and admin contact', async () => {
    const r = await rawExchange(
      px.port,
      'GET ftp://example.com/x HTTP/1.1\r\nHost: example.com\r\nAccept: text/html,application/xhtml+xml,*/*;q=0.8\r\nConnection: close\r\n\r\n',
    );
    expect(statusOf(r.text)).toBe(400);
    const h = headersOf(r.text);
    expect(h['content-type']).toMatch(/^text\/html/);
    expect(h['x-egressd-error']).toMatch(/^BAD_TARGET: /);
    const html = bodyOf(r.text);
    expect(html).toMatch(/^<!doctype html>/i);
    expect(html).toContain('BAD_TARGET');
    expect(html).toContain('unsupported scheme');
    expect(html).toContain(h['x-request-id']!);
    expect(html).toContain('helpdesk@example.test');
    expect(Buffer.byteLength(html, 'latin1')).toBe(Number(h['content-length']));
  });

  it('escapes the request target in the HTML page', async () => {
    const r = await rawExchange(px.port, 'GET http://exa<script>.com/ HTTP/1.1\r\nHost: x\r\nAccept: text/html\r\nConnection: close\r\n\r\n');
    expect(statusOf(r.text)).toBe(400);
    expect(bodyOf(r.text)).not.toContain('<script>');
  });
});

describe('slowloris: request head sent one byte at a time', () => {
  let px: TestProxy;
  beforeAll(async () => {
    px = await startTestProxy({ timeouts: { requestHeaders: '1s' } });
  });
  afterAll(async () => {
    await px.close();
  });

  it('answers 408 REQUEST_TIMEOUT and disconnects a client that trickles headers (one byte / 200 ms)', async () => {
    const sock = connect(px.port, '127.0.0.1');
    sock.on('error', () => {});
    const head = Buffer.from('GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\nX-Slow: ' + 'z'.repeat(200));
    const chunks: Buffer[] = [];
    let closedAt = 0;
    sock.on('data', (c: Buffer) => chunks.push(c));
    const closed = new Promise<void>((r) =>
      sock.once('close', () => {
        closedAt = Date.now();
        r();
      }),
    );
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const start = Date.now();
    let i = 0;
    const timer = setInterval(() => {
      if (sock.destroyed || sock.writableEnded || i >= head.length) return;
      sock.write(head.subarray(i, i + 1));
      i++;
    }, 200);
    await Promise.race([closed, sleep(5000)]);
    clearInterval(timer);
    sock.destroy();
    const text = Buffer.concat(chunks).toString('latin1');
    expect(closedAt, 'the proxy never disconnected the trickling client').toBeGreaterThan(0);
    const elapsed = closedAt - start;
    expect(elapsed).toBeGreaterThanOrEqual(900);
    expect(elapsed).toBeLessThan(3500);
    expect(statusOf(text)).toBe(408);
    expect(headersOf(text)['x-egressd-error']).toMatch(/^REQUEST_TIMEOUT: /);
    const line = await px.access.waitFor((l) => l.error === 'REQUEST_TIMEOUT');
    expect(line.status).toBe(408);
  });
});
