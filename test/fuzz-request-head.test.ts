import { describe, expect, it } from 'vitest';
import { ProxyError } from '../src/http/errors.js';
import { formatAuthority, parseAbsoluteTarget, parseAuthority } from '../src/http/target.js';
import { startOrigin } from './helpers/origin.js';
import { startTestProxy } from './helpers/proxy.js';
import { rawExchange, statusOf } from './helpers/raw.js';
import { prng } from './tls/helpers.js';

/**
 * Randomised fuzzing (issue 10), seeded so a failure can be replayed: mutations of valid
 * request heads and CONNECT targets. The parsers either return a well-formed target or
 * throw a ProxyError; the proxy answers every head (or closes) in bounded time, never
 * crashes, and keeps serving. Bounded: a few seconds in CI.
 */

const SEED = Number(process.env.EGRESSD_FUZZ_SEED ?? 20261201);
const ALPHABET = 'aZ09.-_:/?#[]@!$&\'()*+,;=%~ \t\r\n\u0000\u007f\u00e9\u4e2d';

function mutate(rand: () => number, base: string, edits: number): string {
  let s = base;
  for (let i = 0; i < edits; i++) {
    const at = Math.floor(rand() * (s.length + 1));
    const op = rand();
    const ch = ALPHABET[Math.floor(rand() * ALPHABET.length)]!;
    if (op < 0.4) s = s.slice(0, at) + ch + s.slice(at);
    else if (op < 0.7) s = s.slice(0, at) + s.slice(at + 1);
    else if (op < 0.9) s = s.slice(0, at) + ch + s.slice(at + 1);
    else s = s.slice(0, at) + s.slice(at, at + 8).repeat(3) + s.slice(at + 8);
  }
  return s;
}

describe('target parsers under random input', () => {
  it('parseAbsoluteTarget and parseAuthority return well-formed targets or throw a ProxyError, for 20,000 mutated inputs', () => {
    const rand = prng(SEED);
    const bases = ['http://example.com:8080/a/b?c=d#e', 'http://[2001:db8::1]:80/x', 'http://xn--bcher-kva.example/', 'example.com:443', '[::1]:8443', '10.0.0.1:443'];
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const input = mutate(rand, bases[i % bases.length]!, 1 + Math.floor(rand() * 6));
      for (const parse of [parseAbsoluteTarget, parseAuthority]) {
        let out: { host: string; port: number } | undefined;
        try {
          out = parse(input);
        } catch (err) {
          expect(err, JSON.stringify(input)).toBeInstanceOf(ProxyError);
          continue;
        }
        accepted++;
        // What is accepted is normalised: no whitespace or controls in the host, a valid port, and it round-trips.
        expect(out.host, JSON.stringify(input)).toMatch(/^[a-z0-9._:-]+$/); // underscores occur in real names
        expect(out.port).toBeGreaterThan(0);
        expect(out.port).toBeLessThan(65536);
        expect(parseAuthority(formatAuthority(out.host, out.port))).toEqual({ host: out.host, port: out.port });
      }
    }
    expect(accepted).toBeGreaterThan(1000); // the mutations do not only produce garbage
  });
});

describe('the proxy under mutated request heads', () => {
  it('answers or closes every one of 300 mutated heads within 3 s, and still serves afterwards', async () => {
    const origin = await startOrigin((_q, r) => r.end('ok'));
    const px = await startTestProxy({ timeouts: { requestHeaders: '1s' }, proxy: { connectPorts: [origin.port] } });
    try {
      const rand = prng(SEED + 1);
      const bases = [
        `GET http://127.0.0.1:${origin.port}/p?q=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: */*\r\nConnection: close\r\n\r\n`,
        `POST http://127.0.0.1:${origin.port}/u HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello`,
        `POST http://127.0.0.1:${origin.port}/c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n`,
        `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: 127.0.0.1:${origin.port}\r\n\r\n`,
      ];
      const statuses = new Map<number, number>();
      for (let batch = 0; batch < 30; batch++) {
        const results = await Promise.all(
          Array.from({ length: 10 }, (_, i) => {
            const head = mutate(rand, bases[(batch + i) % bases.length]!, 1 + Math.floor(rand() * 4));
            const t0 = Date.now();
            return rawExchange(px.port, head, { idleMs: 1500 }).then((r) => ({ r, ms: Date.now() - t0 }));
          }),
        );
        for (const { r, ms } of results) {
          expect(ms).toBeLessThan(3000);
          const s = statusOf(r.text);
          statuses.set(s, (statuses.get(s) ?? 0) + 1);
          // No 5xx from egressd's own faults: every refusal of bad input is a 4xx.
          if (s >= 500) expect(r.text).toMatch(/x-egressd-error: (UPSTREAM_|DNS_|DESTINATION)/i);
        }
      }
      expect(statuses.get(400) ?? 0).toBeGreaterThan(10);
      const ok = await rawExchange(px.port, `GET http://127.0.0.1:${origin.port}/after HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      expect(statusOf(ok.text)).toBe(200);
    } finally {
      await px.close();
      await origin.close();
    }
  }, 60_000);
});
