import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { accessLine, decisionOf, INFO, startPolicyProxy, WARN, type PolicyProxy } from './helpers/pol-proxy.js';

/**
 * Response-side rules through the real proxy: content type and size (Content-Length, or
 * counted while a body without one streams), enforced and in report mode.
 */

const LIMIT = 1024;
const REASON = 'No video or large files';
const POLICY_TEXT = `version: 1
rules:
  - id: media-limits
    hosts: [media.test]
    action: allow
    response:
      denyContentTypes: ["video/*", "application/x-msdownload"]
      maxSize: 1KiB
      reason: ${REASON}
  - id: report-limits
    hosts: [report.test]
    action: allow
    response:
      denyContentTypes: ["video/*"]
      maxSize: 1KiB
      mode: report
  - id: default
    action: allow
`;

const SECRET = 'SECRET-VIDEO-BYTES';
let origin: Origin;
let px: PolicyProxy;
/** path → how the origin's response ended: 'finished' (all written) or 'closed' (cut). */
const endings = new Map<string, Promise<'finished' | 'closed'>>();

/** Chunked body (no Content-Length) of `total` bytes in 256-byte chunks, 10 ms apart. */
function stream(res: ServerResponse, total: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  let sent = 0;
  const tick = (): void => {
    if (res.destroyed) return;
    if (sent >= total) {
      res.end();
      return;
    }
    const n = Math.min(256, total - sent);
    res.write(Buffer.alloc(n, 0x61));
    sent += n;
    setTimeout(tick, 10);
  };
  tick();
}

function handler(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url!, 'http://x');
  endings.set(
    url.pathname,
    new Promise((resolve) => {
      res.once('finish', () => resolve('finished'));
      res.once('close', () => resolve(res.writableFinished ? 'finished' : 'closed'));
    }),
  );
  const type = url.searchParams.get('type');
  const size = Number(url.searchParams.get('size') ?? '0');
  if (url.searchParams.has('stream')) return stream(res, size);
  const body = type?.startsWith('video') || type?.startsWith('Video') ? SECRET : 'x'.repeat(size);
  res.writeHead(200, { 'content-type': type ?? 'text/plain', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

beforeAll(async () => {
  origin = await startOrigin(handler);
  px = await startPolicyProxy({
    files: { 'policy.yaml': POLICY_TEXT },
    hosts: { 'media.test': '127.0.0.1', 'report.test': '127.0.0.1', 'other.test': '127.0.0.1' },
  });
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

let n = 0;
const url = (host: string, query: string): string => `http://${host}:${origin.port}/r${++n}?${query}`;
const pathOf = (u: string): string => new URL(u).pathname;

describe('denyContentTypes', () => {
  it('a video response becomes the block page; no origin byte is relayed', async () => {
    const u = url('media.test', 'type=video/mp4');
    const r = await proxyRequest(px.port, u, { headers: { accept: 'text/html' } });
    expect(r.status).toBe(403);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['x-egressd-rule']).toBe('media-limits');
    expect(r.body).toContain('No video or large files (content type video/mp4)');
    expect(r.body).toContain('<th>Rule</th><td>media-limits</td>');
    expect(r.body).not.toContain(SECRET);
    expect(origin.requests.some((q) => q.url === `${pathOf(u)}?type=video/mp4`)).toBe(true);
    const line = await accessLine(px, u);
    expect(line.level).toBe(WARN);
    expect(line).toMatchObject({ status: 403, error: 'POLICY_DENIED', bytesOut: 0 });
    expect(decisionOf(line)).toEqual({
      action: 'deny',
      rule: 'media-limits',
      reason: `${REASON} (content type video/mp4)`,
      mode: 'enforce',
      responseCheck: 'content-type',
    });
  });

  it('matches the media type case-insensitively, ignoring parameters; other types pass', async () => {
    const r = await proxyRequest(px.port, url('media.test', `type=${encodeURIComponent('Video/MP4; codecs="avc1"')}`));
    expect(r.status).toBe(403);
    expect(r.body).not.toContain(SECRET);
    const exe = await proxyRequest(px.port, url('media.test', 'type=application/x-msdownload&size=10'));
    expect(exe.status).toBe(403);
    const ok = await proxyRequest(px.port, url('media.test', 'type=text/plain&size=10'));
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('x'.repeat(10));
  });

  it('a rule without response limits relays the same video', async () => {
    const r = await proxyRequest(px.port, url('other.test', 'type=video/mp4'));
    expect(r.status).toBe(200);
    expect(r.body).toBe(SECRET);
  });
});

describe('maxSize', () => {
  it('a Content-Length over the limit is refused before any byte is relayed', async () => {
    const u = url('media.test', `size=${LIMIT + 1}`);
    const r = await proxyRequest(px.port, u);
    expect(r.status).toBe(403);
    expect(r.headers['x-egressd-rule']).toBe('media-limits');
    expect(r.body).toMatch(/^403 Forbidden: No video or large files \(larger than 1024 bytes\) \(POLICY_DENIED, rule media-limits, request \S+\)\n$/);
    expect(decisionOf(await accessLine(px, u))).toMatchObject({ action: 'deny', rule: 'media-limits', responseCheck: 'size' });
  });

  it('a Content-Length at the limit passes whole', async () => {
    const r = await proxyRequest(px.port, url('media.test', `size=${LIMIT}`));
    expect(r.status).toBe(200);
    expect(r.bytes).toBe(LIMIT);
    expect(r.complete).toBe(true);
  });

  it('a streamed body that grows past the limit is cut: the client sees a truncated transfer, the origin is aborted', async () => {
    const u = url('media.test', `stream&size=${8 * LIMIT}`);
    const r = await proxyRequest(px.port, u);
    expect(r.status).toBe(200); // the head was relayed before the size was known
    expect(r.headers['content-length']).toBeUndefined();
    expect(r.complete).toBe(false);
    expect(r.bytes).toBeLessThanOrEqual(LIMIT);
    expect(await endings.get(pathOf(u))).toBe('closed');
    const line = await accessLine(px, u);
    expect(line.level).toBe(WARN);
    expect(line).toMatchObject({ error: 'POLICY_DENIED', reason: `${REASON} (larger than 1024 bytes)` });
    expect(line.bytesOut as number).toBeGreaterThan(LIMIT);
    expect(decisionOf(line)).toEqual({
      action: 'deny',
      rule: 'media-limits',
      reason: `${REASON} (larger than 1024 bytes)`,
      mode: 'enforce',
      responseCheck: 'size',
    });
  });

  it('a streamed body within the limit passes whole', async () => {
    const u = url('media.test', `stream&size=${LIMIT}`);
    const r = await proxyRequest(px.port, u);
    expect(r.status).toBe(200);
    expect(r.complete).toBe(true);
    expect(r.bytes).toBe(LIMIT);
    expect(await endings.get(pathOf(u))).toBe('finished');
    expect(await accessLine(px, u)).toMatchObject({ error: null, decision: { action: 'allow', rule: 'media-limits' } });
  });
});

describe('report mode response checks', () => {
  it('a video passes and the log says wouldDeny with the content-type check', async () => {
    const u = url('report.test', 'type=video/mp4');
    const r = await proxyRequest(px.port, u);
    expect(r.status).toBe(200);
    expect(r.body).toBe(SECRET);
    const line = await accessLine(px, u);
    expect(line.level).toBe(INFO);
    expect(decisionOf(line)).toMatchObject({ action: 'allow', rule: 'report-limits', mode: 'report', wouldDeny: true, responseCheck: 'content-type' });
  });

  it('a streamed body over the limit passes whole and the log says wouldDeny with the size check', async () => {
    const u = url('report.test', `stream&size=${4 * LIMIT}`);
    const r = await proxyRequest(px.port, u);
    expect(r.status).toBe(200);
    expect(r.complete).toBe(true);
    expect(r.bytes).toBe(4 * LIMIT);
    const line = await accessLine(px, u);
    expect(line).toMatchObject({ error: null, status: 200 });
    expect(decisionOf(line)).toMatchObject({ action: 'allow', rule: 'report-limits', mode: 'report', wouldDeny: true, responseCheck: 'size' });
  });
});
