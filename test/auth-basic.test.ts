import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { accessLine, startPolicyProxy, WARN, type PolicyProxy } from './helpers/pol-proxy.js';
import { allLogText, basic, curl, htpasswd } from './helpers/auth-proxy.js';

/**
 * Basic proxy authentication through the real proxy with auth.required: the 407
 * challenge, curl --proxy-user and undici ProxyAgent with a token on plain HTTP and
 * CONNECT, wrong password, unknown user, and credentials kept out of the logs and away
 * from the origin.
 */

const PASSWORD = 'S3cret-horse-battery';
const REALM = 'Corp "Egress" Proxy';

let origin: Origin;
let px: PolicyProxy;
let n = 0;
const uniq = (): string => `/b${++n}`;

beforeAll(async () => {
  origin = await startOrigin((req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(`origin saw ${req.url} auth=${req.headers['proxy-authorization'] ?? 'none'}`);
  });
  px = await startPolicyProxy({
    files: {},
    extra: { 'users.htpasswd': htpasswd({ alice: PASSWORD, bob: 'bobs-password' }) },
    config: {
      auth: { required: true, realm: REALM, users: 'users.htpasswd', groups: { staff: ['alice'] }, lockout: { threshold: 0 } },
      proxy: { connectPorts: [origin.port] },
    },
  });
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

const target = (path: string): string => `${origin.url}${path}`;

describe('plain HTTP', () => {
  it('answers 407 with a Basic challenge naming the configured realm when no credentials are sent', async () => {
    const path = uniq();
    const r = await proxyRequest(px.port, target(path));
    expect(r.status).toBe(407);
    expect(r.headers['proxy-authenticate']).toBe('Basic realm="Corp \\"Egress\\" Proxy", charset="UTF-8"');
    expect(r.headers['x-egressd-error']).toMatch(/^AUTH_REQUIRED: /);
    expect(origin.requests.some((q) => q.url === path)).toBe(false);
    const line = await accessLine(px, target(path));
    expect(line).toMatchObject({ status: 407, error: 'AUTH_REQUIRED', user: null });
  });

  it('lets curl --proxy-user through, strips Proxy-Authorization, and logs the user and groups', async () => {
    const path = uniq();
    const r = await curl(['-x', px.url, '--proxy-user', `alice:${PASSWORD}`, target(path)]);
    expect(r.stdout).toBe(`origin saw ${path} auth=none`);
    const line = await accessLine(px, target(path));
    expect(line).toMatchObject({ status: 200, user: 'alice', groups: ['staff'] });
  });

  it('lets undici ProxyAgent with a token through (no tunnel)', async () => {
    const agent = new ProxyAgent({ uri: px.url, proxyTunnel: false, token: basic('bob', 'bobs-password') });
    try {
      const path = uniq();
      const res = await request(target(path), { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe(`origin saw ${path} auth=none`);
      expect(await accessLine(px, target(path))).toMatchObject({ user: 'bob' });
    } finally {
      await agent.close();
    }
  });

  it('refuses a wrong password and an unknown user alike with 407, and logs the failure without the password', async () => {
    const wrong = await proxyRequest(px.port, target(uniq()), { headers: { 'proxy-authorization': basic('alice', 'not-it-x9') } });
    const unknown = await proxyRequest(px.port, target(uniq()), { headers: { 'proxy-authorization': basic('mallory', 'not-it-y8') } });
    for (const r of [wrong, unknown]) {
      expect(r.status).toBe(407);
      expect(r.headers['proxy-authenticate']).toMatch(/^Basic realm=/);
      expect(r.headers['x-egressd-error']).toMatch(/^AUTH_REQUIRED: .*wrong user name or password/);
    }
    const logged = await px.server.waitFor((l) => l.msg === 'proxy authentication failed' && l.user === 'mallory');
    expect(logged.level).toBe(WARN);
    expect(logged.client).toBe('127.0.0.1');
  });

  it('refuses a scheme other than Basic and malformed Basic credentials with 407', async () => {
    const digest = await proxyRequest(px.port, target(uniq()), { headers: { 'proxy-authorization': 'Digest username="alice"' } });
    const garbage = await proxyRequest(px.port, target(uniq()), { headers: { 'proxy-authorization': 'Basic %%%not-base64' } });
    const noColon = await proxyRequest(px.port, target(uniq()), { headers: { 'proxy-authorization': `Basic ${Buffer.from('alice').toString('base64')}` } });
    for (const r of [digest, garbage, noColon]) {
      expect(r.status).toBe(407);
      expect(r.headers['proxy-authenticate']).toMatch(/^Basic realm=/);
    }
  });
});

describe('CONNECT', () => {
  it('answers a CONNECT without credentials with 407 and the challenge (curl -p)', async () => {
    const r = await curl(['-p', '-x', px.url, '-o', '/dev/null', '-w', '%{http_connect}', target(uniq())]);
    expect(r.stdout).toBe('407');
    const line = await px.access.waitFor((l) => l.kind === 'connect' && l.status === 407);
    expect(line).toMatchObject({ error: 'AUTH_REQUIRED', user: null });
  });

  it('tunnels with curl -p --proxy-user and logs the user on the tunnel line', async () => {
    const path = uniq();
    const r = await curl(['-p', '-x', px.url, '--proxy-user', `alice:${PASSWORD}`, target(path)]);
    expect(r.stdout).toBe(`origin saw ${path} auth=none`);
    const line = await px.access.waitFor((l) => l.kind === 'connect' && l.user === 'alice');
    expect(line.groups).toEqual(['staff']);
  });

  it('undici ProxyAgent: throws on the 407 without a token, tunnels with one', async () => {
    const anon = new ProxyAgent({ uri: px.url });
    const authed = new ProxyAgent({ uri: px.url, token: basic('alice', PASSWORD) });
    try {
      await expect(request(target(uniq()), { dispatcher: anon })).rejects.toThrow(/407/);
      const path = uniq();
      const res = await request(target(path), { dispatcher: authed });
      expect(await res.body.text()).toBe(`origin saw ${path} auth=none`);
    } finally {
      await anon.close();
      await authed.close();
    }
  });

  it('answers a CONNECT with a wrong password with 407', async () => {
    const r = await curl(['-p', '-x', px.url, '--proxy-user', 'alice:wrong-z7', '-o', '/dev/null', '-w', '%{http_connect}', target(uniq())]);
    expect(r.stdout).toBe('407');
  });
});

describe('credentials in logs', () => {
  it('never writes a password or a Proxy-Authorization value to the access or server log', async () => {
    // Runs last: every request above has been logged by now.
    await proxyRequest(px.port, target(uniq()), { headers: { 'proxy-authorization': basic('alice', PASSWORD) } });
    await px.access.waitFor((l) => l.user === 'alice' && l.kind === 'http' && l.status === 200);
    const text = allLogText(px.access, px.server);
    expect(text.length).toBeGreaterThan(1000);
    for (const secret of [PASSWORD, 'bobs-password', 'not-it-x9', 'not-it-y8', 'wrong-z7', basic('alice', PASSWORD).slice(6), Buffer.from(`bob:bobs-password`).toString('base64')]) {
      expect(text).not.toContain(secret);
    }
  });
});
