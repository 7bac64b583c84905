import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl, openTunnel, readToEnd } from './helpers/err-net.js';
import { RawConn } from './helpers/fwd-raw-http.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { accessLine, decisionOf, INFO, startPolicyProxy, WARN, type PolicyProxy } from './helpers/pol-proxy.js';

/**
 * CONNECT tunnels (scheme https, method CONNECT, no path) and HTTP upgrades through the
 * real proxy with a policy.
 */

const POLICY_TEXT = `version: 1
rules:
  - id: no-evil
    hosts: [evil.test]
    action: deny
    reason: No tunnels to evil
  - id: paths-skip
    hosts: [skip.test]
    paths: ["/**"]
    onUnknownPath: skip
    action: deny
    reason: Everything on skip.test, when the path is known
  - id: paths-match
    hosts: [match.test]
    paths: ["/secret/**"]
    onUnknownPath: match
    action: deny
    reason: Secrets, and tunnels whose path is unknown
  - id: connect-only
    hosts: [m.test]
    methods: [CONNECT]
    schemes: [https]
    action: deny
    reason: No tunnels to m.test
  - id: no-ws
    hosts: [ws-evil.test]
    action: deny
    reason: No websockets here
  - id: default
    action: allow
    reason: Allowed by default
`;

const NAMES = ['allowed.test', 'evil.test', 'skip.test', 'match.test', 'm.test', 'ws-evil.test', 'ws-ok.test'];

let origin: Origin;
let px: PolicyProxy;
const upgrades: IncomingMessage[] = [];

beforeAll(async () => {
  origin = await startOrigin((req, res) => res.end(`origin ${req.method} ${req.url}`));
  origin.server.on('upgrade', (req: IncomingMessage, socket: Duplex) => {
    upgrades.push(req);
    socket.on('error', () => {});
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
    socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
    socket.on('end', () => socket.end());
  });
  px = await startPolicyProxy({
    files: { 'policy.yaml': POLICY_TEXT },
    hosts: Object.fromEntries(NAMES.map((h) => [h, '127.0.0.1'])),
    config: { proxy: { connectPorts: [origin.port] } },
  });
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

/** curl through a CONNECT tunnel (-p) to the plain HTTP origin: "CONNECT-status GET-status". */
async function curlTunnel(host: string, path: string): Promise<{ connect: string; code: string; body: string; exit: number }> {
  const r = await curl(['--noproxy', '', '-x', px.url, '-p', '-w', '\n%{http_connect} %{http_code}', `http://${host}:${origin.port}${path}`]);
  const lines = r.stdout.split('\n');
  const [connect = '', code = ''] = lines.pop()!.split(' ');
  return { connect, code, body: lines.join('\n'), exit: r.code };
}

describe('CONNECT', () => {
  it('denied: curl sees 403 on the CONNECT and the origin sees nothing', async () => {
    const before = origin.connections;
    const r = await curlTunnel('evil.test', '/never');
    expect(r.connect).toBe('403');
    expect(r.code).toBe('000');
    expect(r.exit).not.toBe(0);
    expect(origin.connections).toBe(before);
    expect(origin.requests.some((q) => q.url === '/never')).toBe(false);
  });

  it('denied: a raw 403 with the reason in the body and x-egressd-error / x-egressd-rule headers, logged as a tunnel', async () => {
    const before = origin.connections;
    const t = await openTunnel(px.port, `evil.test:${origin.port}`);
    const rest = await readToEnd(t.socket, t.rest);
    expect(t.status).toBe(403);
    expect(t.head).toMatch(/\r\nx-egressd-error: POLICY_DENIED: No tunnels to evil\r\n/i);
    expect(t.head).toMatch(/\r\nx-egressd-rule: no-evil\r\n/i);
    expect(t.head).toMatch(/\r\nconnection: close\r\n/i);
    const id = /\r\nx-request-id: (\S+)\r\n/i.exec(t.head)?.[1];
    expect(id).toBeDefined();
    expect(rest.data.toString()).toBe(`403 Forbidden: No tunnels to evil (POLICY_DENIED, rule no-evil, request ${id})\n`);
    expect(rest.how).not.toBe('timeout'); // the proxy closes the connection
    expect(origin.connections).toBe(before);
    const line = await accessLine(px, `evil.test:${origin.port}`, (l) => l.id === id);
    expect(line.level).toBe(WARN);
    expect(line).toMatchObject({ kind: 'connect', method: 'CONNECT', status: 403, error: 'POLICY_DENIED', upstream: null });
    expect(decisionOf(line)).toEqual({ action: 'deny', rule: 'no-evil', reason: 'No tunnels to evil', mode: 'enforce' });
  });

  it('allowed: the tunnel opens and carries the request; the tunnel line has the decision', async () => {
    const r = await curlTunnel('allowed.test', '/through-tunnel');
    expect(r.connect).toBe('200');
    expect(r.code).toBe('200');
    expect(r.body).toBe('origin GET /through-tunnel');
    const line = await accessLine(px, `allowed.test:${origin.port}`);
    expect(line.level).toBe(INFO);
    expect(line).toMatchObject({ kind: 'connect', status: 200, error: null });
    expect(decisionOf(line)).toEqual({ action: 'allow', rule: 'default', reason: 'Allowed by default', mode: 'enforce' });
  });

  it('a tunnel has no path: a "paths" rule with onUnknownPath skip passes it over, plain HTTP is checked', async () => {
    const t = await curlTunnel('skip.test', '/anything');
    expect(t.connect).toBe('200');
    expect(t.body).toBe('origin GET /anything');
    const h = await proxyRequest(px.port, `http://skip.test:${origin.port}/anything-plain`);
    expect(h.status).toBe(403);
    expect(h.headers['x-egressd-rule']).toBe('paths-skip');
  });

  it('onUnknownPath: match denies the tunnel on host alone; plain HTTP still needs the path to match', async () => {
    const t = await curlTunnel('match.test', '/public');
    expect(t.connect).toBe('403');
    const ok = await proxyRequest(px.port, `http://match.test:${origin.port}/public`);
    expect(ok.status).toBe(200);
    const no = await proxyRequest(px.port, `http://match.test:${origin.port}/secret/x`);
    expect(no.status).toBe(403);
    expect(no.headers['x-egressd-rule']).toBe('paths-match');
  });

  it('a tunnel is method CONNECT and scheme https; a plain GET to the same host is neither', async () => {
    const t = await openTunnel(px.port, `m.test:${origin.port}`);
    t.socket.destroy();
    expect(t.status).toBe(403);
    expect(t.head).toMatch(/\r\nx-egressd-rule: connect-only\r\n/i);
    const ok = await proxyRequest(px.port, `http://m.test:${origin.port}/plain`);
    expect(ok.status).toBe(200);
  });
});

describe('Upgrade', () => {
  function upgradeRequest(url: string): string {
    return `GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;
  }

  it('denied: 403 with the rule, the connection closes, the origin sees no upgrade', async () => {
    const url = `http://ws-evil.test:${origin.port}/chat`;
    const before = upgrades.length;
    const conn = await RawConn.open(px.port);
    try {
      conn.write(upgradeRequest(url));
      const [r] = await conn.responses(1, ['GET']);
      expect(r!.status).toBe(403);
      expect(r!.headers['x-egressd-rule']).toBe('no-ws');
      expect(r!.headers['x-egressd-error']).toMatch(/^POLICY_DENIED: /);
      expect(r!.body.toString()).toMatch(/^403 Forbidden: No websockets here \(POLICY_DENIED, rule no-ws, request \S+\)\n$/);
      await conn.until(() => conn.closed, 3000, 'the proxy to close the connection');
    } finally {
      conn.close();
    }
    expect(upgrades.length).toBe(before);
    const line = await accessLine(px, url);
    expect(line).toMatchObject({ kind: 'upgrade', status: 403, error: 'POLICY_DENIED' });
    expect(decisionOf(line)).toEqual({ action: 'deny', rule: 'no-ws', reason: 'No websockets here', mode: 'enforce' });
  });

  it('allowed: 101 and the tunnel carries data', async () => {
    const url = `http://ws-ok.test:${origin.port}/chat`;
    const conn = await RawConn.open(px.port);
    try {
      conn.write(upgradeRequest(url));
      await conn.until(() => conn.received.includes('\r\n\r\n'), 5000, '101');
      expect(conn.received.toString('latin1')).toMatch(/^HTTP\/1\.1 101 /);
      conn.consume(conn.received.indexOf('\r\n\r\n') + 4);
      conn.write('ping');
      await conn.until(() => conn.received.toString() === 'PING', 5000, 'echo');
    } finally {
      conn.close();
    }
    const line = await accessLine(px, url);
    expect(line).toMatchObject({ kind: 'upgrade', status: 101 });
    expect(decisionOf(line)).toMatchObject({ action: 'allow', rule: 'default' });
  });
});
