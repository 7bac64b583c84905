import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawExchange, statusOf } from './helpers/raw.js';
import { nextUtcMidnight, QuotaDir, type QuotaProxy } from './helpers/quota-proxy.js';

/**
 * CONNECT tunnels count against the volume quota: bytes to the client are metered
 * every quota.tunnelCheck, a tunnel that crosses the limit is closed at the next check
 * with QUOTA_VOLUME in its log line, and the next CONNECT is refused with 403.
 */

const CHUNK = Buffer.alloc(16 * 1024, 0x61);
const LIMIT = 256 * 1024;
const CHECK_MS = 100;
let streamer: Server;
let port: number;
const streams = new Set<Socket>();
const dir = new QuotaDir();
let px: QuotaProxy;

beforeAll(async () => {
  // A "TLS server" that streams 16 KiB every 10 ms (1.6 MiB/s) until the peer leaves.
  streamer = createServer((s) => {
    streams.add(s);
    s.on('error', () => {});
    const t = setInterval(() => s.writable && s.write(CHUNK), 10);
    s.on('close', () => {
      clearInterval(t);
      streams.delete(s);
    });
  });
  streamer.listen(0, '127.0.0.1');
  await once(streamer, 'listening');
  port = (streamer.address() as AddressInfo).port;
  px = await dir.start({
    proxy: { connectPorts: [port] },
    quota: { profiles: { tunnels: { volume: ['256KiB per day'] } }, anonymous: 'tunnels', tunnelCheck: `${CHECK_MS}ms` },
  });
});
afterAll(async () => {
  await px.close();
  for (const s of streams) s.destroy();
  streamer.close();
  dir.remove();
});

/** CONNECT, then read until the proxy closes the tunnel. */
function tunnel(): Promise<{ head: string; bytes: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const s = connect(px.port, '127.0.0.1');
    let head = '';
    let bytes = 0;
    let t0 = 0;
    const guard = setTimeout(() => {
      s.destroy();
      reject(new Error(`tunnel not cut after ${bytes} bytes`));
    }, 10_000);
    s.on('connect', () => s.write(`CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`));
    s.on('data', (c: Buffer) => {
      if (!head) {
        const i = c.indexOf('\r\n\r\n');
        head = c.subarray(0, i + 4).toString('latin1');
        bytes += c.length - i - 4;
        t0 = Date.now();
      } else bytes += c.length;
    });
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(guard);
      resolve({ head, bytes, ms: Date.now() - t0 });
    });
  });
}

describe('CONNECT tunnels and the volume quota', () => {
  it('closes a tunnel that crosses the volume at the next check, and logs why', async () => {
    const r = await tunnel();
    expect(statusOf(r.head)).toBe(200);
    // It got past the limit (it is cut at a check, not at the byte)…
    expect(r.bytes).toBeGreaterThanOrEqual(LIMIT);
    // …by at most what flows in a few check intervals at 1.6 MiB/s (generous for CI).
    expect(r.bytes).toBeLessThan(LIMIT + 1.6 * 1024 * 1024);
    const line = await px.access.waitFor((l) => l.kind === 'connect' && l.error === 'QUOTA_VOLUME');
    expect(line.reason).toMatch(/transfer quota "tunnels" used up during the tunnel \(256KiB per day\); closed at the next check \(every 100 ms\)/);
    expect(line.bytesOut).toBeGreaterThanOrEqual(LIMIT);
    expect(line.quota).toEqual({ profile: 'tunnels', hit: 'volume' });
    expect(line.level).toBe(40);
    await px.server.waitFor((l) => l.level === 40 && /used up during the tunnel/.test(l.msg));
  });

  it('refuses the next CONNECT with 403 QUOTA_VOLUME and the reset time', async () => {
    const { text } = await rawExchange(px.port, `CONNECT 127.0.0.1:${port} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    expect(statusOf(text)).toBe(403);
    expect(text).toContain(`x-egressd-error: QUOTA_VOLUME: transfer quota "tunnels" used up (256KiB per day); resets at ${nextUtcMidnight()}`);
  });
});
