import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { startPolicyProxy, WARN, type PolicyProxy } from './helpers/pol-proxy.js';
import { basic, htpasswd, htpasswdLine } from './helpers/auth-proxy.js';

/**
 * Lockout with backoff (per user and per client address, 429 + Retry-After, a log
 * line; a credential verified before still works) and the users file edited while the
 * proxy runs (picked up without a restart, the credential cache invalidated at once, a
 * broken file rejected with file:line while the old users stay).
 */

let origin: Origin;
let px: PolicyProxy;
let n = 0;

beforeAll(async () => {
  origin = await startOrigin((req, res) => res.end(`ok ${req.url}`));
  px = await startPolicyProxy({
    files: {},
    extra: { users: htpasswd({ alice: 'pw-one', carol: 'carol-pw', dave: 'dave-pw', erin: 'erin-pw' }) },
    config: { auth: { required: true, users: 'users', cacheTtl: '10m', lockout: { threshold: 3, addressThreshold: 3, baseDelay: '5s', maxDelay: '1m' } } },
  });
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

function get(user: string, password: string, from = '127.0.0.1') {
  return proxyRequest(px.port, `${origin.url}/r${++n}`, { headers: { 'proxy-authorization': basic(user, password) }, localAddress: from });
}

describe('lockout', () => {
  it('locks a user after 3 failures: 429 with Retry-After even for the right password, and logs it', async () => {
    // From three addresses, so only the user's count reaches the threshold.
    for (let i = 0; i < 3; i++) expect((await get('carol', `wrong-${i}`, `127.0.1.${i + 1}`)).status).toBe(407);
    const locked = await get('carol', 'carol-pw');
    expect(locked.status).toBe(429);
    expect(locked.headers['x-egressd-error']).toMatch(/^AUTH_LOCKED: /);
    const retry = Number(locked.headers['retry-after']);
    expect(retry).toBeGreaterThanOrEqual(1);
    expect(retry).toBeLessThanOrEqual(5);
    const line = await px.server.waitFor((l) => l.msg === 'proxy authentication refused: too many failed attempts' && l.user === 'carol');
    expect(line.level).toBe(WARN);
    expect(await px.server.waitFor((l) => l.msg === 'proxy authentication failed: locked out' && l.user === 'carol')).toMatchObject({ lockedForMs: 5000 });
  });

  it('locks a client address that tries many user names, without locking those users elsewhere', async () => {
    const from = '127.0.0.7';
    for (const u of ['u1', 'u2', 'u3']) expect((await get(u, 'guess', from)).status).toBe(407);
    expect((await get('dave', 'dave-pw', from)).status).toBe(429);
    expect((await get('dave', 'dave-pw')).status).toBe(200);
  });

  it('keeps serving a credential verified before the lock (an attacker cannot lock out an active user)', async () => {
    const from = '127.0.0.8';
    expect((await get('erin', 'erin-pw', from)).status).toBe(200);
    for (let i = 0; i < 3; i++) await get('erin', `bad-${i}`, from);
    expect((await get('erin', 'bad-x', from)).status).toBe(429);
    expect((await get('erin', 'erin-pw', from)).status).toBe(200);
  });
});

describe('users file edited while running', () => {
  const reloaded = (mark: number) => px.server.waitFor((l) => px.server.lines.indexOf(l) >= mark && (l.msg === 'users reloaded' || l.msg.startsWith('users reload rejected')));

  it('picks up a password change at once, though the old one was cached', async () => {
    expect((await get('alice', 'pw-one')).status).toBe(200);
    expect((await get('alice', 'pw-one')).status).toBe(200); // cached now
    const mark = px.server.lines.length;
    px.replace(htpasswdLine('alice', 'pw-two') + htpasswdLine('dave', 'dave-pw'), 'users');
    expect((await reloaded(mark)).msg).toBe('users reloaded');
    expect((await get('alice', 'pw-one')).status).toBe(407);
    expect((await get('alice', 'pw-two')).status).toBe(200);
  });

  it('rejects a file with a non-bcrypt hash, naming file:line, and keeps the previous users', async () => {
    const mark = px.server.lines.length;
    px.write(`${htpasswdLine('alice', 'pw-three')}mallory:$apr1$abcdefgh$0123456789abcdefghijkl\n`, 'users');
    const line = await reloaded(mark);
    expect(line.msg).toMatch(/^users reload rejected/);
    expect((line.problems as string[]).join('\n')).toMatch(/users:2:\d+: user "mallory": Apache MD5/);
    expect((await get('alice', 'pw-two')).status).toBe(200);
    expect((await get('alice', 'pw-three')).status).toBe(407);
  });

  it('drops a removed user at once, cached credential included', async () => {
    expect((await get('dave', 'dave-pw')).status).toBe(200);
    const mark = px.server.lines.length;
    px.replace(htpasswdLine('alice', 'pw-two'), 'users');
    expect((await reloaded(mark)).msg).toBe('users reloaded');
    expect((await get('dave', 'dave-pw')).status).toBe(407);
  });
});
