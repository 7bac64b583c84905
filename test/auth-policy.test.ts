import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { accessLine, startPolicyProxy, type PolicyProxy } from './helpers/pol-proxy.js';
import { basic, htpasswd } from './helpers/auth-proxy.js';

/**
 * Auth and policy together: auth.required with an `auth: none` rule (anonymous access
 * to an update server), group rules that see the user, a deny reached anonymously
 * becoming a challenge, identity by source address, `auth: required` on one rule
 * without the global switch, and upgrades challenged like any request.
 */

const USERS = htpasswd({ alice: 'alice-pw', bob: 'bob-pw' });
const GLOBAL = `version: 1
rules:
  - id: updates
    hosts: [updates.test]
    action: allow
    auth: none
  - id: intranet-staff
    hosts: [intranet.test]
    groups: [staff]
    action: allow
  - id: build-servers
    hosts: [build.test]
    groups: [servers]
    action: allow
  - id: default
    action: deny
    reason: Not allowed
`;
const PER_RULE = `version: 1
rules:
  - id: secure
    hosts: [secure.test]
    action: allow
    auth: required
  - id: default
    action: allow
`;
const HOSTS = { 'updates.test': '127.0.0.1', 'intranet.test': '127.0.0.1', 'build.test': '127.0.0.1', 'secure.test': '127.0.0.1', 'other.test': '127.0.0.1' };

let origin: Origin;
let global: PolicyProxy;
let perRule: PolicyProxy;
let n = 0;

beforeAll(async () => {
  origin = await startOrigin((req, res) => res.end(`ok ${req.url}`));
  origin.server.on('upgrade', (_req, socket: import('node:stream').Duplex) => {
    socket.on('error', () => {});
    socket.end('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n');
  });
  global = await startPolicyProxy({
    files: { 'policy.yaml': GLOBAL },
    extra: { users: USERS, groups: 'staff: alice\n' },
    hosts: HOSTS,
    config: { auth: { required: true, users: 'users', groupsFile: 'groups', sources: [{ cidr: '127.0.0.2/32', user: 'build-01', groups: ['servers'] }] } },
  });
  perRule = await startPolicyProxy({ files: { 'policy.yaml': PER_RULE }, extra: { users: USERS }, hosts: HOSTS, config: { auth: { users: 'users' } } });
});
afterAll(async () => {
  await global.close();
  await perRule.close();
  await origin.close();
});

function get(px: PolicyProxy, host: string, opts: { user?: [string, string]; from?: string; headers?: Record<string, string> } = {}) {
  const url = `http://${host}:${origin.port}/p${++n}`;
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.user) headers['proxy-authorization'] = basic(...opts.user);
  return proxyRequest(px.port, url, { headers, localAddress: opts.from }).then((r) => ({ ...r, url }));
}

describe('auth.required with rules', () => {
  it('lets an anonymous client reach a host whose rule says auth: none', async () => {
    const r = await get(global, 'updates.test');
    expect(r.status).toBe(200);
    expect(await accessLine(global, r.url)).toMatchObject({ user: null, decision: { rule: 'updates' } });
  });

  it('challenges an anonymous client that would fall to the default deny (it may be staff)', async () => {
    const r = await get(global, 'intranet.test');
    expect(r.status).toBe(407);
    expect(r.headers['proxy-authenticate']).toMatch(/^Basic realm="egressd"/);
  });

  it('allows a user whose group (from the groups file) a rule names', async () => {
    const r = await get(global, 'intranet.test', { user: ['alice', 'alice-pw'] });
    expect(r.status).toBe(200);
    expect(await accessLine(global, r.url)).toMatchObject({ user: 'alice', groups: ['staff'], decision: { rule: 'intranet-staff' } });
  });

  it('denies (403, not 407) an authenticated user outside the group', async () => {
    const r = await get(global, 'intranet.test', { user: ['bob', 'bob-pw'] });
    expect(r.status).toBe(403);
    expect(r.headers['x-egressd-error']).toMatch(/^POLICY_DENIED/);
  });

  it('identifies a client by its source address without a challenge, with the mapped groups', async () => {
    const ok = await get(global, 'build.test', { from: '127.0.0.2' });
    expect(ok.status).toBe(200);
    expect(await accessLine(global, ok.url)).toMatchObject({ user: 'build-01', groups: ['servers'], client: '127.0.0.2' });
    const denied = await get(global, 'intranet.test', { from: '127.0.0.2' });
    expect(denied.status).toBe(403);
  });

  it('uses credentials over the source mapping when a mapped client sends them', async () => {
    const r = await get(global, 'intranet.test', { from: '127.0.0.2', user: ['alice', 'alice-pw'] });
    expect(r.status).toBe(200);
    expect(await accessLine(global, r.url)).toMatchObject({ user: 'alice' });
  });

  it('challenges an anonymous upgrade (WebSocket handshake) like any request', async () => {
    const r = await get(global, 'intranet.test', { headers: { connection: 'Upgrade', upgrade: 'websocket' } });
    expect(r.status).toBe(407);
    expect(r.headers['proxy-authenticate']).toMatch(/^Basic /);
    expect(await global.access.waitFor((l) => l.url === r.url)).toMatchObject({ kind: 'upgrade', error: 'AUTH_REQUIRED' });
  });
});

/** Send an Upgrade request by hand and return the status line of the answer. */
function upgradeStatus(px: PolicyProxy, host: string, auth?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(px.port, '127.0.0.1');
    let data = '';
    const t = setTimeout(() => (s.destroy(), reject(new Error(`no answer: ${data}`))), 5000);
    s.on('connect', () =>
      s.write(`GET http://${host}:${origin.port}/ws HTTP/1.1\r\nHost: ${host}:${origin.port}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n${auth ? `Proxy-Authorization: ${auth}\r\n` : ''}\r\n`),
    );
    s.on('data', (d: Buffer) => {
      data += d.toString('latin1');
      const nl = data.indexOf('\r\n');
      if (nl >= 0) {
        clearTimeout(t);
        s.destroy();
        resolve(data.slice(0, nl));
      }
    });
    s.on('error', reject);
  });
}

describe('upgrades with credentials', () => {
  it('switches protocols for an authenticated staff user, and challenges without credentials', async () => {
    expect(await upgradeStatus(global, 'intranet.test', basic('alice', 'alice-pw'))).toBe('HTTP/1.1 101 Switching Protocols');
    expect(await upgradeStatus(global, 'intranet.test')).toMatch(/^HTTP\/1.1 407 /);
    expect(await global.access.waitFor((l) => l.kind === 'upgrade' && l.status === 101)).toMatchObject({ user: 'alice', groups: ['staff'] });
  });
});

describe('auth: required on one rule, auth.required off', () => {
  it('challenges only the requests that rule decides', async () => {
    const secure = await get(perRule, 'secure.test');
    expect(secure.status).toBe(407);
    const other = await get(perRule, 'other.test');
    expect(other.status).toBe(200);
    const authed = await get(perRule, 'secure.test', { user: ['bob', 'bob-pw'] });
    expect(authed.status).toBe(200);
    expect(await accessLine(perRule, authed.url)).toMatchObject({ user: 'bob', decision: { rule: 'secure' } });
  });

  it('still refuses wrong credentials sent to a host that needs none', async () => {
    const r = await get(perRule, 'other.test', { user: ['bob', 'wrong'] });
    expect(r.status).toBe(407);
  });
});
