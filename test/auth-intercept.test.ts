import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeOriginCa, ORIGIN_NAMES } from './helpers/icp-certs.js';
import { curlViaProxy } from './helpers/icp-client.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { connectLine, requestLine, startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import type { Origin } from './helpers/origin.js';
import { curl, htpasswd } from './helpers/auth-proxy.js';

/**
 * Intercepted HTTPS with auth: the identity authenticated at CONNECT carries into every
 * decrypted request of the tunnel (no new challenge), group rules see it with the full
 * URL, and an anonymous tunnel allowed by an `auth: none` rule cannot reach a path whose
 * rule needs a user.
 */

const POLICY = `version: 1
rules:
  - id: staff-area
    hosts: [icp.test]
    paths: ["/staff/**"]
    groups: [staff]
    action: allow
  - id: staff-area-others
    hosts: [icp.test]
    paths: ["/staff/**"]
    action: deny
    reason: Staff only
  - id: updates-private
    hosts: [tun.test]
    paths: ["/private/**"]
    action: allow
    auth: required
  - id: updates
    hosts: [tun.test]
    action: allow
    auth: none
  - id: default
    action: allow
`;

let origin: Origin;
let px: IcpProxy;
let files: ReturnType<typeof tempFiles>;
let caFile: string;

beforeAll(async () => {
  const originCa = makeOriginCa();
  origin = await startHttpsOrigin(originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] }), 'A');
  files = tempFiles();
  const users = files.write('users', htpasswd({ alice: 'alice-pw-1', bob: 'bob-pw-2' }));
  px = await startIcpProxy({
    policy: POLICY,
    config: {
      proxy: { connectPorts: [origin.port] },
      tls: { upstreamCaFiles: [files.write('origin-ca.pem', originCa.cert)] },
      auth: { required: true, users, groups: { staff: ['alice'] } },
    },
  });
  caFile = join(px.caDir, 'ca.pem');
});
afterAll(async () => {
  await px?.close();
  await origin?.close();
  files?.remove();
});

const url = (host: string, path: string): string => `https://${host}:${origin.port}${path}`;

describe('identity inside an intercepted tunnel', () => {
  it('every decrypted request on the connection carries the CONNECT user and groups', async () => {
    // Two URLs on one curl command share the decrypted connection.
    const a = url('icp.test', '/staff/one');
    const b = url('icp.test', '/staff/two');
    const r = await curlViaProxy(px.url, a, { cacert: caFile, extra: ['--proxy-user', 'alice:alice-pw-1', b] });
    expect(r.exit).toBe(0);
    expect(r.body).toContain('origin A GET /staff/one');
    expect(r.body).toContain('origin A GET /staff/two');
    for (const u of [a, b]) expect(await requestLine(px, u)).toMatchObject({ status: 200, user: 'alice', groups: ['staff'], tls: 'intercepted' });
    expect(await connectLine(px, `icp.test:${origin.port}`, (l) => l.user === 'alice')).toMatchObject({ tls: 'intercepted', groups: ['staff'] });
  });

  it('a user outside the group is denied by the path rule, as that user (not asked again)', async () => {
    const u = url('icp.test', '/staff/secret');
    const r = await curlViaProxy(px.url, u, { cacert: caFile, extra: ['--proxy-user', 'bob:bob-pw-2'] });
    expect(r.status).toBe(403);
    expect(await requestLine(px, u)).toMatchObject({ status: 403, error: 'POLICY_DENIED', user: 'bob' });
    expect(origin.requests.some((q) => q.url === '/staff/secret')).toBe(false);
  });

  it('without credentials the CONNECT is challenged before any TLS (407)', async () => {
    const r = await curl(['--noproxy', '', '-x', px.url, '--cacert', caFile, '-o', '/dev/null', '-w', '%{http_connect}', url('icp.test', '/anon')]);
    expect(r.stdout).toBe('407');
    expect(await connectLine(px, `icp.test:${origin.port}`, (l) => l.status === 407)).toMatchObject({ error: 'AUTH_REQUIRED', tls: 'tunnel' });
  });
});

describe('anonymous tunnels allowed by auth: none', () => {
  it('passes an anonymous tunnel and its requests, and refuses a path that needs a user with AUTH_REQUIRED_IN_TUNNEL', async () => {
    const open = url('tun.test', '/update.bin');
    const priv = url('tun.test', '/private/key');
    const r = await curlViaProxy(px.url, open, { cacert: caFile, extra: [priv] });
    expect(r.body).toContain('origin A GET /update.bin');
    expect(await requestLine(px, open)).toMatchObject({ status: 200, user: null });
    const refused = await requestLine(px, priv);
    expect(refused).toMatchObject({ status: 403, error: 'AUTH_REQUIRED_IN_TUNNEL', user: null });
    expect(origin.requests.some((q) => q.url === '/private/key')).toBe(false);
  });
});
