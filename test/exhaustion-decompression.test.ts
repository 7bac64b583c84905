import { execFile } from 'node:child_process';
import { createWriteStream, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip, gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ensureBuilt } from './helpers/err-cli.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * Decompression bombs (issue 10, resource exhaustion). Where egressd decompresses:
 * only `egressd audit`, which reads rotated `.gz` access logs (src/audit/read-lines.ts;
 * src/log/rotation.ts compresses, it never inflates). The request path never does: the
 * proxy and the cache relay and store `Content-Encoding: gzip` bodies as they are.
 * Both are tried here with gzip files that expand more than 1000 times.
 */

let dir: string;
beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'egressd-bomb-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Write `unit` repeated `count` times, gzipped, to `file`; returns the file's size. */
async function gzipBomb(file: string, unit: Buffer, count: number): Promise<number> {
  const perBlock = Math.max(1, Math.floor((1 << 20) / unit.length));
  const block = Buffer.concat(Array.from({ length: perBlock }, () => unit));
  let left = count;
  const source = Readable.from(
    (function* () {
      while (left > 0) {
        const n = Math.min(left, perBlock);
        left -= n;
        yield block.subarray(0, n * unit.length);
      }
    })(),
  );
  await pipeline(source, createGzip({ level: 9 }), createWriteStream(file));
  return statSync(file).size;
}

/** `egressd audit` in a child whose V8 heap is capped, so unbounded buffering fails it. */
function auditCapped(file: string, heapMiB: number): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [`--max-old-space-size=${heapMiB}`, BIN, 'audit', '--format', 'json', file], { encoding: 'utf8', timeout: 60_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      resolve({ status: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

describe('egressd audit on gzip bombs (heap capped at 64 MiB)', () => {
  it('one endless line: 256 MiB without a newline in a ~256 KiB gzip is skipped in bounded memory', async () => {
    const file = join(dir, 'one-line.log.gz');
    const total = 256 * 2 ** 20;
    const size = await gzipBomb(file, Buffer.from('A'), total);
    expect(total / size).toBeGreaterThan(1000);
    const r = await auditCapped(file, 64);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout) as { lines: number; skipped: number; requests: number };
    expect(report).toMatchObject({ lines: 1, skipped: 1, requests: 0 });
  }, 90_000);

  it('a line too long between valid lines is skipped alone: the lines around it still count', async () => {
    const line = (i: number): string => JSON.stringify({ level: 30, time: '2026-12-01T08:00:00.000Z', id: `x-${i}`, kind: 'http', user: 'alice', method: 'GET', url: `http://a.example/${i}`, status: 200, bytesOut: 10, msg: 'request' });
    const file = join(dir, 'mixed.log.gz');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(file, gzipSync(`${line(1)}\n${'B'.repeat(3 * 2 ** 20)}\n${line(2)}\n`));
    const r = await auditCapped(file, 64);
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ lines: 3, skipped: 1, requests: 2 });
  });

  it('300,000 valid lines (~70 MiB from a small gzip) are streamed, not held', async () => {
    const one = `${JSON.stringify({ level: 30, time: '2026-12-01T08:00:00.000Z', id: 'x-1', kind: 'http', client: '10.0.0.9', user: 'alice', method: 'GET', url: 'http://a.example/p', status: 200, bytesIn: 0, bytesOut: 100, error: null, cache: null, decision: { action: 'allow', rule: 'default', reason: 'allowed', mode: 'enforce' }, msg: 'request' })}\n`;
    const n = 300_000;
    const file = join(dir, 'many.log.gz');
    const size = await gzipBomb(file, Buffer.from(one), n);
    expect((one.length * n) / size).toBeGreaterThan(200);
    const r = await auditCapped(file, 64);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ requests: n, skipped: 0 });
  }, 90_000);
});

describe('the request path does not decompress', () => {
  let origin: Origin;
  let px: TestProxy;
  let bomb: Buffer;
  beforeAll(async () => {
    // 64 MiB of zeros as a ~64 KiB gzip body.
    bomb = gzipSync(Buffer.alloc(64 * 2 ** 20), { level: 9 });
    origin = await startOrigin((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-encoding': 'gzip', 'cache-control': 'max-age=60', 'content-length': bomb.length });
      res.end(bomb);
    });
    px = await startTestProxy();
  });
  afterAll(async () => {
    await px.close();
    await origin.close();
  });

  it('a gzip bomb body is relayed and cached byte for byte, still compressed', async () => {
    expect((64 * 2 ** 20) / bomb.length).toBeGreaterThan(1000);
    for (const expected of ['miss', 'hit']) {
      const r = await proxyRequest(px.port, `${origin.url}/bomb`, { headers: { 'accept-encoding': 'gzip' } });
      expect(r.status).toBe(200);
      expect(r.headers['content-encoding']).toBe('gzip');
      expect(r.bytes).toBe(bomb.length);
      const line = await px.access.waitFor((l) => l.url === `${origin.url}/bomb` && l.cache === expected);
      expect(line.bytesOut).toBe(bomb.length);
    }
    expect(origin.requests).toHaveLength(1);
  });
});
