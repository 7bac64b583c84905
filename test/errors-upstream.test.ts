import { request as httpRequest, type IncomingMessage } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { closedPort, sleep } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

describe('upstream failures', () => {
  let px: TestProxy;
  let agent: ProxyAgent;
  let silent: Origin;
  let resetter: Origin;
  let uploads: Origin;
  const uploadOutcome: Promise<{ complete: boolean; received: number; events: string[] }>[] = [];
  let refused: number;

  beforeAll(async () => {
    // Never answers.
    silent = await startOrigin(() => {});
    // Sends the head and part of a Content-Length body, then destroys its socket.
    resetter = await startOrigin((_req, res) => {
      res.writeHead(200, { 'content-length': '100000', 'content-type': 'application/octet-stream' });
      res.write(Buffer.alloc(10_000, 'r'));
      setTimeout(() => res.socket?.destroy(), 50);
    });
    // Records how an upload ended.
    uploads = await startOrigin((req, res) => {
      uploadOutcome.push(
        new Promise((resolve) => {
          let received = 0;
          const events: string[] = [];
          req.on('data', (c: Buffer) => (received += c.length));
          req.on('aborted', () => events.push('aborted'));
          req.on('error', () => events.push('error'));
          req.on('end', () => {
            events.push('end');
            res.end('complete');
          });
          req.on('close', () => {
            events.push('close');
            resolve({ complete: req.complete, received, events });
          });
        }),
      );
    });
    refused = await closedPort();
    px = await startTestProxy({ timeouts: { upstreamHeaders: '500ms' } });
    agent = new ProxyAgent({ uri: px.url, proxyTunnel: false });
  });
  afterAll(async () => {
    await agent.close();
    await px.close();
    await Promise.all([silent.close(), resetter.close(), uploads.close()]);
  });

  it('unresolvable host → 502 DNS_FAILED with the reason in header, body and log', async () => {
    const res = await request('http://nonexistent.invalid/', { dispatcher: agent });
    const body = await res.body.text();
    expect(res.statusCode).toBe(502);
    expect(String(res.headers['x-egressd-error'])).toMatch(/^DNS_FAILED: /);
    expect(body).toContain('DNS_FAILED');
    expect(body.trimEnd().split('\n')).toHaveLength(1);
    const line = await px.access.waitFor((l) => l.url === 'http://nonexistent.invalid/');
    expect(line).toMatchObject({ status: 502, error: 'DNS_FAILED' });
    expect(line.level).toBe(50); // error: a proxy-side failure
  });

  it('connection refused → 502 UPSTREAM_REFUSED', async () => {
    const url = `http://127.0.0.1:${refused}/`;
    const res = await request(url, { dispatcher: agent });
    await res.body.text();
    expect(res.statusCode).toBe(502);
    expect(String(res.headers['x-egressd-error'])).toMatch(/^UPSTREAM_REFUSED: /);
    const line = await px.access.waitFor((l) => l.url === url);
    expect(line).toMatchObject({ status: 502, error: 'UPSTREAM_REFUSED' });
  });

  it('origin that never answers → 504 UPSTREAM_TIMEOUT after upstreamHeaders (500 ms)', async () => {
    const url = `${silent.url}/never`;
    const t0 = Date.now();
    const res = await request(url, { dispatcher: agent });
    await res.body.text();
    const elapsed = Date.now() - t0;
    expect(res.statusCode).toBe(504);
    expect(String(res.headers['x-egressd-error'])).toMatch(/^UPSTREAM_TIMEOUT: /);
    expect(elapsed).toBeGreaterThanOrEqual(450);
    expect(elapsed).toBeLessThan(3000);
    const line = await px.access.waitFor((l) => l.url === url);
    expect(line).toMatchObject({ status: 504, error: 'UPSTREAM_TIMEOUT' });
  });

  it('origin resets mid-body → the client sees the connection cut (not a hang) and the log has an error', async () => {
    const url = `${resetter.url}/partial`;
    const t0 = Date.now();
    const outcome = await new Promise<{ status: number; received: number; how: string }>((resolve) => {
      const req = httpRequest({ host: '127.0.0.1', port: px.port, path: url, agent: false }, (res: IncomingMessage) => {
        let received = 0;
        res.on('data', (c: Buffer) => (received += c.length));
        res.on('end', () => resolve({ status: res.statusCode!, received, how: res.complete ? 'complete' : 'end-incomplete' }));
        res.on('aborted', () => resolve({ status: res.statusCode!, received, how: 'aborted' }));
        res.on('error', () => resolve({ status: res.statusCode!, received, how: 'error' }));
        res.on('close', () => resolve({ status: res.statusCode!, received, how: res.complete ? 'complete' : 'close-incomplete' }));
      });
      req.on('error', () => resolve({ status: 0, received: 0, how: 'request-error' }));
      req.setTimeout(5000, () => {
        resolve({ status: 0, received: 0, how: 'hang' });
        req.destroy();
      });
      req.end();
    });
    expect(outcome.how).not.toBe('hang');
    expect(outcome.how).not.toBe('complete');
    expect(outcome.status).toBe(200);
    expect(outcome.received).toBeLessThan(100_000);
    expect(Date.now() - t0).toBeLessThan(3000);
    const line = await px.access.waitFor((l) => l.url === url);
    expect(line.error).not.toBeNull();
    expect(line.status).toBe(200);
    expect(line.bytesOut).toBeLessThan(100_000);
  });

  it('origin resets mid-body → undici through the proxy gets an error, not a complete body', async () => {
    const res = await request(`${resetter.url}/partial-undici`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    await expect(res.body.arrayBuffer()).rejects.toThrow();
  });

  it('client aborts mid-upload → the origin sees the abort and the log has a line', async () => {
    const url = `${uploads.url}/upload`;
    const before = uploadOutcome.length;
    const sock = await new Promise<import('node:net').Socket>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: px.port, method: 'POST', path: url, agent: false, headers: { 'content-length': '1000000' } });
      req.on('error', () => {});
      req.on('socket', (s) => s.once('connect', () => resolve(s)));
      req.on('error', reject);
      req.flushHeaders();
      req.write(Buffer.alloc(64 * 1024, 'u'));
    });
    // Wait until the origin got the request and some of the body, then vanish.
    for (let i = 0; i < 100 && uploadOutcome.length === before; i++) await sleep(20);
    expect(uploadOutcome.length).toBe(before + 1);
    await sleep(100);
    sock.destroy();
    const outcome = await Promise.race([uploadOutcome[before]!, sleep(5000).then(() => null)]);
    expect(outcome, 'origin request never closed: the abort did not reach it').not.toBeNull();
    expect(outcome!.complete).toBe(false);
    expect(outcome!.events).not.toContain('end');
    expect(outcome!.received).toBeGreaterThan(0);
    expect(outcome!.received).toBeLessThan(1_000_000);
    const line = await px.access.waitFor((l) => l.url === url);
    expect(line.error).not.toBeNull();
  });
});
