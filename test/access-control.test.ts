import { statSync } from 'node:fs';
import bcrypt from 'bcryptjs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config/load.js';
import { ConfigError } from '../src/config/yaml-source.js';
import { allLogText, basic, htpasswd } from './helpers/auth-proxy.js';
import { startAcProxy, type AcProxy } from './helpers/ac-proxy.js';
import { bodyOf, headersOf, openTunnel } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startParent, type TestParent } from './helpers/parent-proxy.js';
import { proxyRequest } from './helpers/pol-client.js';
import { rawExchange, statusOf } from './helpers/raw.js';
import { startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';

/**
 * Access control (issue 10): what egressd must never let a client reach or learn.
 * Related tests elsewhere: the egress guard's ranges (egress-guard.test.ts), loops
 * through Via (forward-headers), the admin token on 127.0.0.1 (admin-api.test.ts), the
 * CA key mode written by `egressd ca init` (cli-ca.test.ts), lockout basics
 * (auth-lockout-reload.test.ts), Proxy-Authorization kept out of logs on the usual
 * paths (auth-basic.test.ts) and URL userinfo redaction (log-redact.test.ts).
 */

/** Spellings of "this host" a client may put in a target: every one reaches our sockets. */
const LOCAL_FORMS = ['127.0.0.1', 'localhost', '[::ffff:127.0.0.1]', '[::ffff:7f00:1]', '[0:0:0:0:0:ffff:7f00:1]', '0.0.0.0', '[::]', '[::ffff:0.0.0.0]'];
/** Numeric host forms that inet_aton or a WHATWG URL would turn into 127.0.0.1: refused as targets. */
const NUMERIC_FORMS = ['2130706433', '0x7f.1', '0x7f000001', '0177.0.0.1', '127.1', '017700000001', '0x7f.0.0.1'];

describe("the proxy's own listeners (forward, transparent, admin) are not destinations", () => {
  let origin: Origin;
  let px: AcProxy;
  let own: { name: string; port: number }[];
  beforeAll(async () => {
    origin = await startOrigin((req, res) => res.end(`origin ${req.url}`));
    // Every destination open (the strongest case: only the loop check stands), no Via
    // (so a loop is not caught one hop later by the Via check), few connections (so a
    // loop, if there is one, ends quickly instead of exhausting the machine).
    const config = {
      listeners: [{ address: '127.0.0.1', port: 0 }, { address: '127.0.0.1', port: 0, mode: 'transparent' }],
      admin: { listen: { address: '127.0.0.1', port: 0 } },
      egress: { allowPrivate: ['0.0.0.0/0', '::/0'] },
      proxy: { via: false },
      limits: { maxConnections: 64 },
      timeouts: { upstreamConnect: '2s', upstreamHeaders: '3s' },
    };
    px = await startAcProxy({ config });
    own = [
      { name: 'forward', port: px.ports[0]! },
      { name: 'transparent', port: px.ports[1]! },
      { name: 'admin', port: px.adminPort },
    ];
    expect(px.adminPort).toBeGreaterThan(0);
    expect(await px.reconfigure({ ...config, proxy: { via: false, connectPorts: own.map((o) => o.port) } })).toMatchObject({ ok: true });
  });
  afterAll(async () => {
    await px.close();
    await origin.close();
  });

  it('control: a loopback origin is reachable with this config, so the refusals below are the loop check', async () => {
    const r = await proxyRequest(px.port, `${origin.url}/control`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('origin /control');
  });

  it('absolute-URI requests to every spelling of our own address and port → 508 LOOP_DETECTED, one log line each', async () => {
    for (const o of own) {
      for (const form of LOCAL_FORMS) {
        const url = `http://${form}:${o.port}/api/status`;
        const r = await proxyRequest(px.port, url);
        expect(r.status, `${o.name} ${url}`).toBe(508);
        expect(String(r.headers['x-egressd-error']), url).toMatch(/^LOOP_DETECTED: /);
        expect(r.body, url).not.toContain('"generation"');
      }
    }
    await new Promise((r) => setTimeout(r, 300));
    // A request that went round once would have a second line with the same URL.
    const urls = px.access.lines.filter((l) => String(l.url).endsWith('/api/status')).map((l) => l.url);
    expect(urls.length).toBe(own.length * LOCAL_FORMS.length);
    expect(new Set(urls).size).toBe(urls.length);
  });

  it('numeric IPv4 spellings (decimal, hex, octal, short) are refused as targets with 400 BAD_TARGET', async () => {
    for (const o of own) {
      for (const form of NUMERIC_FORMS) {
        const url = `http://${form}:${o.port}/`;
        const r = await rawExchange(px.port, `GET ${url} HTTP/1.1\r\nHost: ${form}\r\nConnection: close\r\n\r\n`);
        expect(statusOf(r.text), url).toBe(400);
        expect(headersOf(r.text)['x-egressd-error'], url).toMatch(/^BAD_TARGET: /);
      }
    }
  });

  it('CONNECT to our own ports under every spelling → 508 LOOP_DETECTED, and no tunnel opens', async () => {
    for (const o of own) {
      for (const form of ['127.0.0.1', 'localhost', '[::ffff:7f00:1]', '[0:0:0:0:0:ffff:127.0.0.1]', '0.0.0.0', '[::]']) {
        const t = await openTunnel(px.port, `${form}:${o.port}`);
        expect(t.status, `${o.name} ${form}`).toBe(508);
        expect(headersOf(t.head)['x-egressd-error']).toMatch(/^LOOP_DETECTED: /);
        t.socket.destroy();
      }
      const num = await openTunnel(px.port, `2130706433:${o.port}`);
      expect(num.status).toBe(400);
      num.socket.destroy();
    }
  });

  it('a transparent client naming our ports in Host → 508, never the admin API', async () => {
    const tp = own[1]!.port;
    for (const o of own) {
      for (const form of ['127.0.0.1', 'localhost', '[::ffff:7f00:1]', '0.0.0.0']) {
        const r = await rawExchange(tp, `GET /api/status HTTP/1.1\r\nHost: ${form}:${o.port}\r\nConnection: close\r\n\r\n`);
        // Its own exact address is answered locally (the help page), by design.
        if (o.name === 'transparent' && form === '127.0.0.1') expect(headersOf(r.text)['content-type']).toMatch(/^text\/html/);
        else expect(statusOf(r.text), `${o.name} Host ${form}`).toBe(508);
        expect(bodyOf(r.text)).not.toContain('"generation"');
      }
    }
  });

  it('origin form on the forward listener with Host naming the admin port is answered locally, not forwarded', async () => {
    const r = await rawExchange(px.port, `GET /api/status HTTP/1.1\r\nHost: 127.0.0.1:${px.adminPort}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(r.text)).toBe(200);
    expect(headersOf(r.text)['content-type']).toMatch(/^text\/html/);
    expect(bodyOf(r.text)).not.toContain('"generation"');
  });
});

describe('private ranges through names (hosts file: a public-looking name pinned to an internal address)', () => {
  let origin: Origin;
  let px: AcProxy;
  beforeAll(async () => {
    origin = await startOrigin((req, res) => res.end(`origin ${req.headers.host}`));
    // Loopback is open for the test origins, as in every other test; nothing else is.
    px = await startAcProxy({
      config: { egress: { allowPrivate: ['127.0.0.0/8'] }, proxy: { connectPorts: [443, origin.port] } },
      hosts: [
        ['169.254.169.254', 'metadata.rebind.test'],
        ['10.1.2.3', 'intranet.rebind.test'],
        ['192.168.7.7', 'router.rebind.test'],
        ['::ffff:a9fe:a9fe', 'mapped-metadata.rebind.test'],
        ['fd00:ec2::254', 'ula-metadata.rebind.test'],
        ['0.0.0.0', 'zero.rebind.test'],
        // One name with a forbidden and a permitted address: only the permitted one is dialled.
        ['169.254.169.254', 'mixed.rebind.test'],
        ['127.0.0.1', 'mixed.rebind.test'],
      ],
    });
  });
  afterAll(async () => {
    await px.close();
    await origin.close();
  });

  const refused = ['metadata', 'intranet', 'router', 'mapped-metadata', 'ula-metadata', 'zero'].map((n) => `${n}.rebind.test`);

  it('HTTP to a name resolving to 169.254.169.254, 10.x, 192.168.x, their mapped/ULA forms or 0.0.0.0 → 403 DESTINATION_FORBIDDEN', async () => {
    for (const host of refused) {
      const r = await proxyRequest(px.port, `http://${host}:${origin.port}/latest/meta-data/`);
      expect(r.status, host).toBe(403);
      expect(String(r.headers['x-egressd-error']), host).toMatch(/^DESTINATION_FORBIDDEN: /);
    }
    expect(origin.requests).toHaveLength(0);
  });

  it('CONNECT to the same names → 403', async () => {
    for (const host of refused) {
      const t = await openTunnel(px.port, `${host}:443`);
      expect(t.status, host).toBe(403);
      t.socket.destroy();
    }
  });

  it('a name with a forbidden and a permitted address is dialled at the permitted one only', async () => {
    const r = await proxyRequest(px.port, `http://mixed.rebind.test:${origin.port}/`);
    expect(r.status).toBe(200);
    const line = await px.access.waitFor((l) => String(l.url).startsWith('http://mixed.rebind.test'));
    expect(line.status).toBe(200);
  });
});

describe('credentials never reach a log line', () => {
  const PW = 'Tr0ub4dor-and-3-horses';
  const WRONG = 'wr0ng-guess-Zq7';
  const PARENT_PW = 'parent-Secret-9x';
  let origin: Origin;
  let parent: TestParent;
  let px: AcProxy;
  beforeAll(async () => {
    origin = await startOrigin((req, res) => res.end(`origin ${req.url}`));
    parent = await startParent('p1');
    parent.requireAuth = basic('puser', PARENT_PW);
    px = await startAcProxy({
      files: { users: htpasswd({ alice: PW }) },
      config: {
        // The most verbose level: nothing may leak even there.
        log: { level: 'trace' },
        auth: { required: true, users: 'users', lockout: { threshold: 0, addressThreshold: 0 } },
        proxy: { connectPorts: [origin.port] },
        admin: { listen: { address: '127.0.0.1', port: 0 } },
        upstream: { default: 'corp', groups: { corp: { parents: [`http://puser:${PARENT_PW}@127.0.0.1:${parent.port}`] } } },
      },
    });
  });
  afterAll(async () => {
    await px.close();
    await parent.close();
    await origin.close();
  });

  it('good, wrong and malformed Basic credentials, userinfo in URLs and CONNECT targets, a parent with a password: none in the access or server log', async () => {
    const good = basic('alice', PW);
    const bad = basic('alice', WRONG);
    expect((await proxyRequest(px.port, `${origin.url}/good`, { headers: { 'proxy-authorization': good } })).status).toBe(200);
    expect((await proxyRequest(px.port, `${origin.url}/bad`, { headers: { 'proxy-authorization': bad } })).status).toBe(407);
    // Not base64 at all: the password in clear where the token belongs.
    expect((await proxyRequest(px.port, `${origin.url}/clear`, { headers: { 'proxy-authorization': `Basic alice:${PW}` } })).status).toBe(407);
    expect((await proxyRequest(px.port, `${origin.url}/nocolon`, { headers: { 'proxy-authorization': `Basic ${Buffer.from(PW).toString('base64')}` } })).status).toBe(407);
    expect((await proxyRequest(px.port, `${origin.url}/digest`, { headers: { 'proxy-authorization': `Digest username="alice", response="${PW}"` } })).status).toBe(407);
    // Userinfo in an absolute URI and in a CONNECT authority: refused, and logged without it.
    const ui = await rawExchange(px.port, `GET http://alice:${PW}@127.0.0.1:${origin.port}/ui HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${good}\r\nConnection: close\r\n\r\n`);
    expect(statusOf(ui.text)).toBe(400);
    const cui = await rawExchange(px.port, `CONNECT alice:${PW}@127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${good}\r\n\r\n`);
    expect(statusOf(cui.text)).toBe(400);
    // A tunnel with good and with wrong credentials.
    const t1 = await openTunnel(px.port, `127.0.0.1:${origin.port}`, { requestLine: `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${good}\r\n\r\n` });
    expect(t1.status).toBe(200);
    t1.socket.destroy();
    const t2 = await openTunnel(px.port, `127.0.0.1:${origin.port}`, { requestLine: `CONNECT 127.0.0.1:${origin.port} HTTP/1.1\r\nHost: x\r\nProxy-Authorization: ${bad}\r\n\r\n` });
    expect(t2.status).toBe(407);
    t2.socket.destroy();
    // Everything went through the parent, which needs its own credentials.
    expect(parent.seen.some((q) => q.url.endsWith('/good') && q.proxyAuthorization === basic('puser', PARENT_PW))).toBe(true);
    await px.access.waitFor((l) => l.kind === 'connect' && l.status === 200);
    const statusPage = await fetch(`http://127.0.0.1:${px.adminPort}/api/status`).then((r) => r.text());
    const text = `${allLogText(px.access, px.server)}\n${statusPage}`;
    expect(px.access.lines.length).toBeGreaterThanOrEqual(9);
    const secrets = [PW, WRONG, PARENT_PW, good.slice(6), bad.slice(6), basic('puser', PARENT_PW).slice(6), Buffer.from(PW).toString('base64')];
    for (const s of secrets) expect(text, s).not.toContain(s);
  });
});

describe('the CA private key', () => {
  let px: IcpProxy;
  let keyPem: string;
  beforeAll(async () => {
    px = await startIcpProxy({ config: { admin: { listen: { address: '127.0.0.1', port: 0 } } } });
    const { readFileSync } = await import('node:fs');
    keyPem = readFileSync(join(px.caDir, 'ca-key.pem'), 'utf8');
  });
  afterAll(async () => {
    await px.close();
  });

  it('the key files egressd creates are 0600 (CA key and the shared leaf key)', () => {
    expect(statSync(join(px.caDir, 'ca-key.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(px.caDir, 'leaves', 'leaf-key.pem')).mode & 0o777).toBe(0o600);
    // Nobody but the owner may list or enter the leaves folder either.
    expect(statSync(join(px.caDir, 'leaves')).mode & 0o077).toBe(0);
  });

  const PATHS = ['/egressd-ca.key', '/egressd-ca-key.pem', '/ca-key.pem', '/ca.key', '/certs/ca-key.pem', '/../ca-key.pem', '/%2e%2e/ca-key.pem', '/egressd-ca.crt/../ca-key.pem', '/leaves/leaf-key.pem', '/leaf-key.pem', '/egressd-ca.p12', '/egressd-ca.pfx', '/egressd-ca.pem?key=1', '/egressd-ca.crt%00.key'];

  it('is never served: forward listener (origin form), the onboarding host, the admin listener', async () => {
    // Middle lines of the PEM: any response carrying the key would contain them.
    const keyLines = keyPem.split('\n').filter((l) => l.length === 64).slice(2, 6);
    expect(keyLines.length).toBe(4);
    const bodies: string[] = [];
    for (const path of PATHS) {
      const local = await rawExchange(px.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1:${px.port}\r\nConnection: close\r\n\r\n`);
      const onboarding = await rawExchange(px.port, `GET http://egressd.local${path} HTTP/1.1\r\nHost: egressd.local\r\nConnection: close\r\n\r\n`);
      const admin = await rawExchange(px.proxy.admin.address!.port, `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      for (const r of [local, onboarding, admin]) {
        expect(statusOf(r.text), path).toBeGreaterThanOrEqual(200);
        bodies.push(r.text);
      }
    }
    const all = bodies.join('\n');
    expect(all).not.toMatch(/PRIVATE KEY/);
    for (const l of keyLines) expect(all).not.toContain(l);
    // The certificate itself is served (the control: these are the paths that serve files).
    const crt = await rawExchange(px.port, `GET /egressd-ca.crt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    expect(bodyOf(crt.text)).toContain('BEGIN CERTIFICATE');
    expect(bodyOf(crt.text)).not.toContain('PRIVATE KEY');
  });
});

describe('the admin API beyond loopback needs its token', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'egressd-ac-admin-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const load = (yaml: string): unknown => {
    const file = join(dir, `c${Math.random().toString(36).slice(2)}.yaml`);
    writeFileSync(file, yaml);
    return loadConfig(file);
  };

  // What the schema treats as loopback: 127.0.0.0/8 and ::1 written as such.
  it.each(['0.0.0.0', '"::"', '"::ffff:127.0.0.1"', '192.0.2.10', '"0:0:0:0:0:0:0:1"'])('admin.listen.address %s without a token is a config error at file:line:col', (address) => {
    let err: unknown;
    try {
      load(`admin:\n  listen: { address: ${address}, port: 0 }\n`);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const p = (err as ConfigError).problems[0]!;
    expect(p.message).toMatch(/token of at least 16/);
    expect(p.line).toBeGreaterThan(0);
    expect(() => load(`admin:\n  listen: { address: ${address}, port: 0 }\n  token: short\n`)).toThrow(ConfigError);
  });

  it.each(['127.0.0.1', '127.0.0.2', '"::1"'])('%s (loopback) may run without a token', (address) => {
    expect(() => load(`admin:\n  listen: { address: ${address}, port: 0 }\n`)).not.toThrow();
  });

  it('a real listener on ::ffff:127.0.0.1 (not loopback to the schema) refuses requests without the token', async () => {
    const TOKEN = 'mapped-address-admin-token-0123';
    const px = await startAcProxy({ config: { admin: { listen: { address: '::ffff:127.0.0.1', port: 0 }, token: TOKEN } } });
    try {
      const base = `http://127.0.0.1:${px.adminPort}`;
      for (const path of ['/api/status', '/metrics', '/healthz', '/api/cache/stats']) {
        expect((await fetch(`${base}${path}`)).status, path).toBe(401);
        expect((await fetch(`${base}${path}`, { headers: { authorization: 'Bearer wrong-token-wrong-token-00' } })).status, path).toBe(401);
        expect((await fetch(`${base}${path}`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, path).toBe(200);
      }
      const reload = await fetch(`${base}/api/reload`, { method: 'POST' });
      expect(reload.status).toBe(401);
      const line = await px.server.waitFor((l) => l.msg === 'admin API request without a valid token refused');
      expect(line.path).toBeDefined();
    } finally {
      await px.close();
    }
  });
});

describe('password guessing is slowed', () => {
  let origin: Origin;
  let px: AcProxy;
  beforeAll(async () => {
    origin = await startOrigin((_req, res) => res.end('ok'));
    px = await startAcProxy({
      // Cost 8 (~20 ms in bcryptjs), so concurrent guesses overlap while one is checked.
      files: { users: `victim:${bcrypt.hashSync('the-right-one', 8)}\n` },
      // Per-address lockout off: this is about one user guessed at from many places.
      config: { auth: { required: true, users: 'users', lockout: { threshold: 3, addressThreshold: 0, baseDelay: '1s', maxDelay: '1m' } } },
    });
  });
  afterAll(async () => {
    await px.close();
    await origin.close();
  });

  const attempt = (password: string, n: number) =>
    proxyRequest(px.port, `${origin.url}/g${n}`, { headers: { 'proxy-authorization': basic('victim', password) }, localAddress: `127.0.2.${(n % 250) + 1}` });

  it('30 concurrent guesses for one user: at most the threshold (3) are checked, the rest get 429 without a check', async () => {
    const replies = await Promise.all(Array.from({ length: 30 }, (_, i) => attempt(`guess-${i}`, i)));
    const checked = replies.filter((r) => r.status === 407).length;
    const locked = replies.filter((r) => r.status === 429).length;
    expect(checked + locked).toBe(30);
    expect(checked).toBeLessThanOrEqual(3);
    const failures = px.server.lines.filter((l) => String(l.msg).startsWith('proxy authentication failed') && l.user === 'victim');
    expect(failures.length).toBe(checked);
    // The right password is not confirmed while locked either.
    expect((await attempt('the-right-one', 100)).status).toBe(429);
  });

  it('each failure after a lock doubles it (1 s, then 2 s), as the server log says', async () => {
    const first = await px.server.waitFor((l) => l.msg === 'proxy authentication failed: locked out' && l.user === 'victim');
    expect(first.lockedForMs).toBe(1000);
    await new Promise((r) => setTimeout(r, 1100));
    const mark = px.server.lines.length;
    expect((await attempt('guess-after-lock', 101)).status).toBe(407);
    const next = await px.server.waitFor((l) => px.server.lines.indexOf(l) >= mark && l.msg === 'proxy authentication failed: locked out');
    expect(next.lockedForMs).toBe(2000);
    const r = await attempt('the-right-one', 102);
    expect(r.status).toBe(429);
    expect(Number(r.headers['retry-after'])).toBe(2);
  });
});
