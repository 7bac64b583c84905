import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLog, type AccessRecord } from '../../src/log/access-log.js';

/**
 * A file access log encodes its lines into one batch buffer and hands over 64 KiB at a
 * time (AccessLog.out). What reaches the file must be the lines a stream sink gets,
 * byte for byte and in order: non-ASCII text, a line longer than a batch, and enough
 * lines to fill many batches.
 */

function record(i: number, over: Partial<AccessRecord> = {}): AccessRecord {
  return {
    id: `id-${i}`, kind: 'http', mode: 'forward', clientIp: '127.0.0.1', clientPort: 5000, method: 'GET', url: `http://h.test/${i}`, status: 200,
    bytesIn: 0, bytesOut: 1024, startedAt: 0, upstream: '127.0.0.1:80', errorCode: null, errorReason: null, tls: 'plain', sni: null,
    user: null, groups: [], cache: null, decision: null, quota: null, dnsMs: -1, connectMs: -1, tlsMs: -1, ttfbMs: 0.5,
    requestHeaders: null, responseHeaders: null, ...over,
  } as AccessRecord;
}

const records: AccessRecord[] = [];
for (let i = 0; i < 3000; i++) {
  if (i === 100) records.push(record(i, { user: 'caf\u00e9 \ud83d\ude00', url: 'http://h.test/\u00e9\u2028?q="x"' }));
  else if (i === 200) records.push(record(i, { url: `http://h.test/${'a'.repeat(100_000)}` })); // more than a batch
  // 2 bytes per unit, into a batch with room for its length in units but not in bytes.
  else if (i === 50) records.push(record(i, { url: `http://h.test/${'\u00e9'.repeat(30_000)}` }));
  else records.push(record(i));
}

/** Lines with their time field blanked: the two logs write at different moments. */
const untimed = (text: string): string[] => text.split('\n').filter(Boolean).map((l) => l.replace(/"time":"[^"]*"/, '"time":"T"'));

describe('file access log batches', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes exactly the lines a stream sink gets, in order, across many batches', async () => {
    dir = mkdtempSync(join(tmpdir(), 'egressd-batch-'));
    const file = join(dir, 'access.log');
    const log = new AccessLog(file);
    let streamed = '';
    const sink = new AccessLog(new Writable({ write: (chunk, _enc, cb) => ((streamed += String(chunk)), cb()) }));
    for (const r of records) {
      log.write(r, 2.5);
      sink.write(r, 2.5);
    }
    await log.close();
    sink.flush();
    const written = readFileSync(file, 'utf8');
    expect(written.length).toBeGreaterThan(10 * 64 * 1024);
    expect(untimed(written)).toEqual(untimed(streamed));
    expect(untimed(written)).toHaveLength(records.length);
    expect(JSON.parse(untimed(written)[100]!).user).toBe('caf\u00e9 \ud83d\ude00');
  });

  it('a quiet log reaches the file within the flush interval, without close', async () => {
    dir = mkdtempSync(join(tmpdir(), 'egressd-batch-'));
    const file = join(dir, 'access.log');
    const log = new AccessLog(file);
    log.write(record(1), 2.5);
    await new Promise((r) => setTimeout(r, 600));
    expect(untimed(readFileSync(file, 'utf8'))).toHaveLength(1);
    await log.close();
  });
});
