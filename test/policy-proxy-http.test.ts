import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { RawConn } from './helpers/fwd-raw-http.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { accessLine, decisionOf, INFO, startPolicyProxy, WARN, type PolicyProxy } from './helpers/pol-proxy.js';

/**
 * Plain HTTP through the real proxy with a policy: allow, deny with the block page
 * (HTML and text), report mode, first-match order, and the decision in the access log.
 */

const ADMIN = 'IT helpdesk <helpdesk@corp.example>, ext. 4242';
const EVIL_REASON = 'Blocked <b>"evil"</b> & co';

const POLICY_TEXT = `version: 1
rules:
  - id: report-tracker
    hosts: [tracker.test]
    action: deny
    reason: Tracking would be blocked
    mode: report
  - id: block-evil
    hosts: [evil.test]
    action: deny
    reason: '${EVIL_REASON}'
  - id: order-open
    hosts: [order.test]
    paths: ["/open/**"]
    action: allow
    reason: The open section
  - id: order-deny
    hosts: [order.test]
    action: deny
    reason: Closed section
  - id: order-never
    hosts: [order.test]
    action: allow
    reason: Never reached
  - id: default
    action: allow
    reason: Allowed by default
`;

let origin: Origin;
let px: PolicyProxy;
let agent: ProxyAgent;
let n = 0;
/** A fresh path per request, so each test finds its own log line. */
const uniq = (p = ''): string => `/t${++n}${p}`;

beforeAll(async () => {
  origin = await startOrigin((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`origin saw ${req.headers.host} ${req.url}`);
  });
  px = await startPolicyProxy({
    files: { 'policy.yaml': POLICY_TEXT },
    // Every name points at the origin: a request the policy failed to stop would reach it.
    hosts: { 'allowed.test': '127.0.0.1', 'evil.test': '127.0.0.1', 'tracker.test': '127.0.0.1', 'order.test': '127.0.0.1' },
    config: { proxy: { adminContact: ADMIN } },
  });
  agent = new ProxyAgent({ uri: px.url, proxyTunnel: false });
});
afterAll(async () => {
  await agent.close();
  await px.close();
  await origin.close();
});

const seen = (path: string): boolean => origin.requests.some((r) => r.url === path);

describe('HTTP allow and deny', () => {
  it('allows a request the default rule allows, and logs the decision at info', async () => {
    const path = uniq();
    const url = `http://allowed.test:${origin.port}${path}`;
    const res = await request(url, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe(`origin saw allowed.test:${origin.port} ${path}`);
    expect(res.headers['x-egressd-rule']).toBeUndefined();
    const line = await accessLine(px, url);
    expect(line.level).toBe(INFO);
    expect(line).toMatchObject({ status: 200, error: null });
    expect(decisionOf(line)).toEqual({ action: 'allow', rule: 'default', reason: 'Allowed by default', mode: 'enforce' });
  });

  it('denies with an HTML block page for a browser: reason, rule id, request id, admin contact, no external assets', async () => {
    const path = uniq('?q=<script>');
    const url = `http://evil.test:${origin.port}${path}`;
    const r = await proxyRequest(px.port, url, { headers: { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' } });
    expect(r.status).toBe(403);
    expect(r.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(r.headers['x-egressd-rule']).toBe('block-evil');
    expect(String(r.headers['x-egressd-error'])).toMatch(/^POLICY_DENIED: /);
    const id = String(r.headers['x-request-id']);
    expect(id).toMatch(/\S/);
    const html = r.body;
    expect(html).toMatch(/^<!doctype html>/i);
    // The reason is shown, HTML-escaped (an admin's reason text is not markup).
    expect(html).toContain('Blocked &lt;b&gt;&quot;evil&quot;&lt;/b&gt; &amp; co');
    expect(html).not.toContain('<b>"evil"</b>');
    expect(html).toMatch(/<th>Rule<\/th><td>block-evil<\/td>/);
    expect(html).toMatch(new RegExp(`<th>Request ID</th><td>${id}</td>`));
    expect(html).toContain('IT helpdesk &lt;helpdesk@corp.example&gt;, ext. 4242');
    expect(html).toContain(`GET http://evil.test:${origin.port}/t`);
    expect(html).not.toContain('<script>'); // the query string is escaped too
    expect(html).toMatch(/<th>Time<\/th><td>\d{4}-\d\d-\d\dT/);
    // Self-contained: nothing the browser would fetch from elsewhere.
    for (const external of [/<script/i, /<link/i, /<img/i, /<iframe/i, /\bsrc=/i, /\bhref=/i, /url\(/i, /@import/i]) {
      expect(html, String(external)).not.toMatch(external);
    }
    expect(Number(r.headers['content-length'])).toBe(Buffer.byteLength(html));
    expect(seen(path)).toBe(false);

    const line = await accessLine(px, url);
    expect(line.level).toBe(WARN);
    expect(line).toMatchObject({ id, status: 403, error: 'POLICY_DENIED', reason: EVIL_REASON });
    expect(decisionOf(line)).toEqual({ action: 'deny', rule: 'block-evil', reason: EVIL_REASON, mode: 'enforce' });
  });

  it('gives a non-HTML client one line of text with the reason, rule and request id', async () => {
    for (const accept of [undefined, 'application/json', '*/*']) {
      const url = `http://evil.test:${origin.port}${uniq()}`;
      const r = await proxyRequest(px.port, url, { headers: accept ? { accept } : {} });
      expect(r.status, String(accept)).toBe(403);
      expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
      expect(r.headers['x-egressd-rule']).toBe('block-evil');
      const id = String(r.headers['x-request-id']);
      expect(r.body).toBe(`403 Forbidden: ${EVIL_REASON} (POLICY_DENIED, rule block-evil, request ${id})\n`);
    }
  });

  it('denies through undici too (a library client), and keeps the client connection usable', async () => {
    const denied = `http://evil.test:${origin.port}${uniq()}`;
    const allowedPath = uniq();
    const conn = await RawConn.open(px.port);
    try {
      // Two requests pipelined on one connection: the refusal must not cost the second one.
      conn.write(`GET ${denied} HTTP/1.1\r\nHost: evil.test\r\n\r\nGET http://allowed.test:${origin.port}${allowedPath} HTTP/1.1\r\nHost: allowed.test\r\n\r\n`);
      const [a, b] = await conn.responses(2, ['GET', 'GET']);
      expect(a!.status).toBe(403);
      expect(a!.headers['x-egressd-rule']).toBe('block-evil');
      expect(a!.headers.connection).not.toBe('close');
      expect(b!.status).toBe(200);
      expect(b!.body.toString()).toBe(`origin saw allowed.test:${origin.port} ${allowedPath}`);
    } finally {
      conn.close();
    }
    const res = await request(`http://evil.test:${origin.port}${uniq()}`, { dispatcher: agent });
    expect(res.statusCode).toBe(403);
    expect(res.headers['x-egressd-rule']).toBe('block-evil');
    await res.body.text();
  });

  it('answers a denied HEAD with the headers and no body', async () => {
    const url = `http://evil.test:${origin.port}${uniq()}`;
    const r = await proxyRequest(px.port, url, { method: 'HEAD' });
    expect(r.status).toBe(403);
    expect(r.headers['x-egressd-rule']).toBe('block-evil');
    expect(r.bytes).toBe(0);
  });

  it('matches the host case-insensitively and ignores a trailing dot', async () => {
    for (const host of ['EVIL.test', 'evil.test.', 'Evil.Test.']) {
      const path = uniq();
      const r = await proxyRequest(px.port, `http://${host}:${origin.port}${path}`);
      expect(r.status, host).toBe(403);
      expect(r.headers['x-egressd-rule'], host).toBe('block-evil');
      expect(seen(path), host).toBe(false);
    }
  });
});

describe('report mode', () => {
  it('lets the request through and logs wouldDeny with the report rule', async () => {
    const path = uniq();
    const url = `http://tracker.test:${origin.port}${path}`;
    const r = await proxyRequest(px.port, url);
    expect(r.status).toBe(200);
    expect(r.body).toBe(`origin saw tracker.test:${origin.port} ${path}`);
    expect(r.headers['x-egressd-rule']).toBeUndefined();
    expect(seen(path)).toBe(true);
    const line = await accessLine(px, url);
    expect(line.level).toBe(INFO);
    expect(line).toMatchObject({ status: 200, error: null });
    expect(decisionOf(line)).toEqual({ action: 'allow', rule: 'report-tracker', reason: 'Tracking would be blocked', mode: 'report', wouldDeny: true });
  });
});

describe('first match wins', () => {
  it('an earlier allow beats a later deny, and a later allow never rescues an earlier deny', async () => {
    const open = `http://order.test:${origin.port}/open/${++n}`;
    const ok = await proxyRequest(px.port, open);
    expect(ok.status).toBe(200);
    expect(decisionOf(await accessLine(px, open))).toMatchObject({ action: 'allow', rule: 'order-open' });

    const closedPath = `/closed/${++n}`;
    const closed = `http://order.test:${origin.port}${closedPath}`;
    const no = await proxyRequest(px.port, closed);
    expect(no.status).toBe(403);
    expect(no.headers['x-egressd-rule']).toBe('order-deny');
    expect(seen(closedPath)).toBe(false);
    expect(decisionOf(await accessLine(px, closed))).toEqual({ action: 'deny', rule: 'order-deny', reason: 'Closed section', mode: 'enforce' });
  });
});
