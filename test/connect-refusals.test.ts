import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closedPort, curl, headersOf, openTunnel, readToEnd, startEcho, type TcpServer } from './helpers/err-net.js';
import { rawExchange, statusOf } from './helpers/raw.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

describe('CONNECT refusals', () => {
  let echo: TcpServer;
  let other: TcpServer;
  let px: TestProxy;
  let closed: number;
  beforeAll(async () => {
    echo = await startEcho();
    other = await startEcho();
    closed = await closedPort();
    px = await startTestProxy({ proxy: { connectPorts: [echo.port, closed, 443] } });
  });
  afterAll(async () => {
    await px.close();
    await echo.close();
    await other.close();
  });

  it('refuses a port not in proxy.connectPorts with 403 PORT_FORBIDDEN (curl -p)', async () => {
    const r = await curl(['-p', '-x', px.url, '-o', '/dev/null', '-w', '%{http_connect}', `https://127.0.0.1:${other.port}/`]);
    expect(r.stdout).toBe('403');
    expect(r.code).not.toBe(0);
    const line = await px.access.waitFor((l) => l.method === 'CONNECT' && l.url === `127.0.0.1:${other.port}`);
    expect(line).toMatchObject({ status: 403, error: 'PORT_FORBIDDEN', msg: 'tunnel' });
    expect(other.accepted.length).toBe(0);
  });

  it('PORT_FORBIDDEN carries the reason in x-egressd-error and the body, and closes', async () => {
    const t = await openTunnel(px.port, `127.0.0.1:${other.port}`);
    expect(t.status).toBe(403);
    const h = headersOf(t.head);
    expect(h['x-egressd-error']).toMatch(/^PORT_FORBIDDEN: /);
    const { data, how } = await readToEnd(t.socket, t.rest);
    expect(data.toString()).toContain('PORT_FORBIDDEN');
    expect(data.toString().trim().split('\n')).toHaveLength(1);
    expect(how).toBe('end');
    expect(other.accepted.length).toBe(0);
  });

  // "a b:443" never reaches the proxy's own validation: node's parser rejects the
  // request line (four parts), which is a malformed request, also 400.
  const badTargets: [string, string, RegExp][] = [
    ['host without port', 'example.com', /^BAD_TARGET: /],
    ['absolute URI', 'http://example.com:443', /^BAD_TARGET: /],
    ['absolute URI with path', 'http://example.com:443/', /^BAD_TARGET: /],
    ['space in target', 'a b:443', /^(BAD_TARGET|BAD_REQUEST): /],
    ['userinfo', 'u@example.com:443', /^BAD_TARGET: /],
    ['userinfo with password', 'u:p@example.com:443', /^BAD_TARGET: /],
    ['port 0', 'example.com:0', /^BAD_TARGET: /],
    ['port 70000', 'example.com:70000', /^BAD_TARGET: /],
    ['empty port', 'example.com:', /^BAD_TARGET: /],
    ['non-numeric port', 'example.com:https', /^BAD_TARGET: /],
    ['path after port', 'example.com:443/x', /^BAD_TARGET: /],
    ['unbracketed IPv6', '::1:443', /^BAD_TARGET: /],
    ['invalid host characters', 'exa$mple.com:443', /^BAD_TARGET: /],
    ['IPv6 literal with zone junk', '[::1%eth0]:443', /^BAD_TARGET: /],
  ];
  it.each(badTargets)('rejects %s (CONNECT %s) with 400 and never dials', async (_name, target, code) => {
    const r = await rawExchange(px.port, `CONNECT ${target} HTTP/1.1\r\nHost: x\r\n\r\n`, { idleMs: 1500 });
    expect(statusOf(r.text)).toBe(400);
    expect(r.closed).toBe(true);
    expect(headersOf(r.text)['x-egressd-error']).toMatch(code);
  });

  it('logs a strict-validation refusal as BAD_TARGET with the raw target, userinfo redacted', async () => {
    const r = await rawExchange(px.port, 'CONNECT u@example.com:443 HTTP/1.1\r\nHost: example.com\r\n\r\n');
    expect(statusOf(r.text)).toBe(400);
    expect(headersOf(r.text)['x-egressd-error']).toMatch(/^BAD_TARGET: /);
    // The userinfo may be a credential: the log keeps its place, not its value.
    const line = await px.access.waitFor((l) => l.method === 'CONNECT' && l.url === '***@example.com:443');
    expect(line).toMatchObject({ status: 400, error: 'BAD_TARGET' });
  });

  it('answers 502 DNS_FAILED for an unresolvable host', async () => {
    const t = await openTunnel(px.port, 'nonexistent.invalid:443');
    expect(t.status).toBe(502);
    expect(headersOf(t.head)['x-egressd-error']).toMatch(/^DNS_FAILED: /);
    t.socket.destroy();
    const line = await px.access.waitFor((l) => l.method === 'CONNECT' && l.url === 'nonexistent.invalid:443');
    expect(line).toMatchObject({ status: 502, error: 'DNS_FAILED' });
  });

  it('answers 502 UPSTREAM_REFUSED for a closed port', async () => {
    const t = await openTunnel(px.port, `127.0.0.1:${closed}`);
    expect(t.status).toBe(502);
    expect(headersOf(t.head)['x-egressd-error']).toMatch(/^UPSTREAM_REFUSED: /);
    t.socket.destroy();
    const line = await px.access.waitFor((l) => l.method === 'CONNECT' && l.url === `127.0.0.1:${closed}`);
    expect(line).toMatchObject({ status: 502, error: 'UPSTREAM_REFUSED' });
  });

  it('curl sees 502 for a refused CONNECT', async () => {
    const r = await curl(['-p', '-x', px.url, '-o', '/dev/null', '-w', '%{http_connect}', `https://127.0.0.1:${closed}/`]);
    expect(r.stdout).toBe('502');
  });

  it('still tunnels to an allowed port afterwards (the refusals left the proxy healthy)', async () => {
    const t = await openTunnel(px.port, `127.0.0.1:${echo.port}`);
    expect(t.status).toBe(200);
    t.socket.end('ok');
    const { data } = await readToEnd(t.socket, t.rest);
    expect(data.toString()).toBe('ok');
  });
});
