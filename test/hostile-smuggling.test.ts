import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, readBody, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';
import { rawExchange, statusOf } from './helpers/raw.js';

/**
 * Request-smuggling and injection vectors (issue 10) sent as raw bytes. For each one,
 * egressd answers 400 (or a 4xx it documents) — or normalises the request as RFC 9112
 * allows — and the origin never receives a second, smuggled request (`/evil`), a header
 * the client did not send as a header, or a Host other than the target's.
 */

let origin: Origin;
let px: TestProxy;
const seen: { url: string; host: string; headers: Record<string, unknown>; body: string }[] = [];

beforeAll(async () => {
  origin = await startOrigin(async (req, res) => {
    const body = (await readBody(req)).toString('latin1');
    seen.push({ url: req.url ?? '', host: String(req.headers.host), headers: req.headers, body });
    res.writeHead(200, { 'content-length': 2 });
    res.end('ok');
  });
  px = await startTestProxy();
});
afterAll(async () => {
  await px?.close();
  await origin?.close();
});

const target = (path: string): string => `http://127.0.0.1:${origin.port}${path}`;
const noEvil = (): void => expect(seen.some((s) => s.url.startsWith('/evil'))).toBe(false);
const smuggled = (path: string): string => `GET ${target('/evil')} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`.replace('/evil', path);

async function stillServes(): Promise<void> {
  const r = await rawExchange(px.port, `GET ${target('/after')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
  expect(statusOf(r.text)).toBe(200);
}

describe('Transfer-Encoding obfuscation', () => {
  const vectors: [string, string][] = [
    ['chunked, identity (chunked not last)', 'Transfer-Encoding: chunked, identity'],
    ['an unknown coding', 'Transfer-Encoding: xchunked'],
    ['space before the colon', 'Transfer-Encoding : chunked'],
    ['a tab-prefixed obs-fold continuation', 'Transfer-Encoding: identity\r\n\tchunked'],
    ['Content-Length plus a second, obfuscated TE', 'Content-Length: 4\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x'],
  ];
  for (const [name, header] of vectors) {
    it(`${name} → 400, nothing smuggled`, async () => {
      const body = `0\r\n\r\n${smuggled('/evil-te')}`;
      const r = await rawExchange(px.port, `POST ${target('/te')} HTTP/1.1\r\nHost: 127.0.0.1\r\n${header}\r\n\r\n${body}`);
      expect(statusOf(r.text)).toBe(400);
      noEvil();
      await stillServes();
    });
  }

  it('Transfer-Encoding: CHUNKED (case) is chunked: the body arrives whole, the bytes after it are not a request for the origin', async () => {
    const before = seen.length;
    const r = await rawExchange(px.port, `POST ${target('/upper')} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: CHUNKED\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`);
    expect(statusOf(r.text)).toBe(200);
    expect(seen.slice(before).map((s) => [s.url, s.body])).toEqual([['/upper', 'hello']]);
  });
});

describe('chunk and line framing', () => {
  it('an invalid chunk size is refused (400 or the connection cut), nothing smuggled', async () => {
    const r = await rawExchange(px.port, `POST ${target('/badchunk')} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n${smuggled('/evil-chunk')}`);
    expect([0, 400, 502]).toContain(statusOf(r.text));
    noEvil();
    await stillServes();
  });

  it('a chunk size with a huge value is refused', async () => {
    const r = await rawExchange(px.port, `POST ${target('/hugechunk')} HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\nx\r\n`);
    expect([0, 400, 502]).toContain(statusOf(r.text));
    noEvil();
  });

  it('bare LF line endings → 400', async () => {
    const r = await rawExchange(px.port, `GET ${target('/lf')} HTTP/1.1\nHost: 127.0.0.1\n\n`);
    expect(statusOf(r.text)).toBe(400);
    expect(seen.some((s) => s.url === '/lf')).toBe(false);
  });

  it('obs-fold in an ordinary header → 400 (RFC 9112 §5.2 allows rejecting it)', async () => {
    const r = await rawExchange(px.port, `GET ${target('/fold')} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: one\r\n two\r\n\r\n`);
    expect(statusOf(r.text)).toBe(400);
    expect(seen.some((s) => s.url === '/fold')).toBe(false);
  });

  for (const [name, bytes] of [['NUL', '\u0000'], ['a bare CR', '\r'], ['DEL', '\u007f'], ['an escape', '\u001b']] as const) {
    it(`${name} inside a header value → 400`, async () => {
      const r = await rawExchange(px.port, `GET ${target('/ctl')} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: a${bytes}b\r\n\r\n`);
      expect(statusOf(r.text)).toBe(400);
      expect(seen.some((s) => s.url === '/ctl')).toBe(false);
    });
  }
});

describe('targets and injection', () => {
  it('the Host header is rebuilt from the absolute-form target, whatever the client sent (RFC 9112 §3.2.2)', async () => {
    const r = await rawExchange(px.port, `GET ${target('/host')} HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n`);
    expect(statusOf(r.text)).toBe(200);
    expect(seen.find((s) => s.url === '/host')!.host).toBe(`127.0.0.1:${origin.port}`);
  });

  it('two Host headers with an absolute target: still the target\'s Host upstream', async () => {
    const r = await rawExchange(px.port, `GET ${target('/host2')} HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\nConnection: close\r\n\r\n`);
    expect([200, 400]).toContain(statusOf(r.text));
    const s = seen.find((x) => x.url === '/host2');
    if (s) expect(s.host).toBe(`127.0.0.1:${origin.port}`);
  });

  it('percent-encoded CRLF in the path stays encoded: no header is injected', async () => {
    const r = await rawExchange(px.port, `GET ${target('/a%0d%0aX-Injected:%20yes')} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(statusOf(r.text)).toBe(200);
    const s = seen.find((x) => x.url.startsWith('/a%0d%0a'))!;
    expect(s.url).toBe('/a%0d%0aX-Injected:%20yes');
    expect(s.headers['x-injected']).toBeUndefined();
  });

  for (const [name, authority] of [
    ['a path', `127.0.0.1:${443}/path`],
    ['userinfo', 'user:pw@127.0.0.1:443'],
    ['no port', '127.0.0.1'],
    ['a scheme', 'https://127.0.0.1:443'],
  ] as const) {
    it(`CONNECT with ${name} → 400`, async () => {
      const r = await rawExchange(px.port, `CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n\r\n`);
      expect(statusOf(r.text)).toBe(400);
    });
  }

  it('a 100 KB request line → 4xx, no crash', async () => {
    const r = await rawExchange(px.port, `GET ${target(`/${'a'.repeat(100 * 1024)}`)} HTTP/1.1\r\nHost: x\r\n\r\n`);
    expect(statusOf(r.text)).toBeGreaterThanOrEqual(400);
    expect(statusOf(r.text)).toBeLessThan(500);
    await stillServes();
  });

  it('thousands of small headers: refused (431) or forwarded without losing framing; the proxy keeps serving', async () => {
    const many = Array.from({ length: 3000 }, (_, i) => `X-H${i}: v`).join('\r\n');
    const r = await rawExchange(px.port, `GET ${target('/many')} HTTP/1.1\r\nHost: x\r\n${many}\r\nConnection: close\r\n\r\n`);
    expect([200, 431]).toContain(statusOf(r.text));
    await stillServes();
  });
});
