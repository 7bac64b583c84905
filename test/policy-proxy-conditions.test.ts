import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { curl } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest, type ProxyGetOptions, type Reply } from './helpers/pol-client.js';
import { accessLine, decisionOf, startPolicyProxy, type PolicyProxy } from './helpers/pol-proxy.js';

/**
 * Each rule condition, seen through the real proxy with plain HTTP: a request that
 * meets the condition is denied by that rule (and never reaches the origin), one that
 * does not falls through to the default allow.
 */

/** "HH:00-HH:00" windows in UTC around now: one that covers the current time, one that does not. */
function hourWindows(now = new Date()): { covering: string; missing: string } {
  const h = now.getUTCHours();
  const hh = (x: number): string => `${String(((x % 24) + 24) % 24).padStart(2, '0')}:00`;
  return { covering: `${hh(h - 1)}-${hh(h + 2)}`, missing: `${hh(h + 3)}-${hh(h + 5)}` };
}

let a: Origin; // 127.0.0.1, the origin every allowed request reaches
let b: Origin; // 127.0.0.1, a port that a `ports` rule closes
let c: Origin; // 127.0.0.2, an address that a `destinations` rule closes
let px: PolicyProxy;
let n = 0;

function policyText(): string {
  const { covering, missing } = hourWindows();
  return `version: 1
lists:
  ads:
    file: ads.txt
rules:
  - id: glob-subdomains
    hosts: ["*.glob.test"]
    action: deny
  - id: dot-domain
    hosts: [".dot.test"]
    action: deny
  - id: glob-pattern
    hosts: ["api-*.corp.test"]
    action: deny
  - id: idn
    hosts: ["bücher.test"]
    action: deny
  - id: ads-list
    domainLists: [ads]
    action: deny
    reason: Advertising
  - id: from-127-0-0-3
    sources: [127.0.0.3/32]
    action: deny
  - id: no-delete
    hosts: [methods.test]
    methods: [DELETE, PUT]
    action: deny
  - id: admin-paths
    hosts: [paths.test]
    paths: ["/admin{,/**}"]
    action: deny
  - id: no-curl
    headers: { User-Agent: "curl/*" }
    action: deny
  - id: no-python
    headers: { user-agent: { regex: "^python-requests/" } }
    action: deny
  - id: port-b
    ports: [${b.port}]
    action: deny
  - id: dest-127-0-0-2
    destinations: [127.0.0.2/32]
    action: deny
    reason: Not that address
  - id: sched-now
    hosts: [sched-now.test]
    schedule: { timezone: UTC, hours: ["${covering}"] }
    action: deny
  - id: sched-never
    hosts: [sched-never.test]
    schedule: { timezone: UTC, hours: ["${missing}"] }
    action: deny
  - id: sched-always
    hosts: [sched-always.test]
    schedule: { timezone: Europe/Paris, days: [mon-sun], hours: ["00:00-24:00"] }
    action: deny
  - id: default
    action: allow
`;
}

const HOSTS = [
  'glob.test', 'a.glob.test', 'a.b.glob.test', 'dot.test', 'www.dot.test', 'notdot.test',
  'api-v1.corp.test', 'api.corp.test', 'xn--bcher-kva.test', 'buecher.test',
  'ads.test', 'tracker.ads.test', 'notads.test', 'methods.test', 'paths.test', 'plain.test',
  'sched-now.test', 'sched-never.test', 'sched-always.test', 'far.test',
];

beforeAll(async () => {
  const handler = (tag: string) => (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => res.end(`${tag} ${req.method} ${req.url}`);
  a = await startOrigin(handler('a'));
  b = await startOrigin(handler('b'));
  c = await startOrigin(handler('c'), { host: '127.0.0.2' });
  px = await startPolicyProxy({
    files: { 'policy.yaml': policyText() },
    extra: { 'ads.txt': '# advertising domains\nads.test\ndoubleclick.test\n' },
    hosts: { ...Object.fromEntries(HOSTS.map((h) => [h, '127.0.0.1'])), 'near.test': '127.0.0.2' },
  });
});
afterAll(async () => {
  await px.close();
  await Promise.all([a.close(), b.close(), c.close()]);
});

/** GET http://HOST:PORT/PATH through the proxy, with a path unique to this call. */
async function get(host: string, opts: ProxyGetOptions & { path?: string; port?: number } = {}): Promise<Reply & { url: string; path: string }> {
  const path = opts.path ?? `/r${++n}`;
  const url = `http://${host}:${opts.port ?? a.port}${path}`;
  return { ...(await proxyRequest(px.port, url, opts)), url, path };
}

function reached(o: Origin, path: string): boolean {
  return o.requests.some((r) => r.url === path);
}

async function expectDenied(r: Reply & { path: string }, rule: string, o: Origin = a): Promise<void> {
  expect(r.status, `${rule}: ${r.body}`).toBe(403);
  expect(r.headers['x-egressd-rule']).toBe(rule);
  expect(reached(o, r.path)).toBe(false);
}

function expectAllowed(r: Reply & { path: string }, o: Origin = a): void {
  expect(r.status, r.body).toBe(200);
  expect(r.headers['x-egressd-rule']).toBeUndefined();
  expect(reached(o, r.path)).toBe(true);
}

describe('hosts', () => {
  it('"*.glob.test" matches subdomains at any depth but not glob.test itself', async () => {
    await expectDenied(await get('a.glob.test'), 'glob-subdomains');
    await expectDenied(await get('a.b.glob.test'), 'glob-subdomains');
    expectAllowed(await get('glob.test'));
  });

  it('".dot.test" matches the domain and its subdomains, not a name that merely ends alike', async () => {
    await expectDenied(await get('dot.test'), 'dot-domain');
    await expectDenied(await get('www.dot.test'), 'dot-domain');
    expectAllowed(await get('notdot.test'));
  });

  it('other globs ("api-*.corp.test")', async () => {
    await expectDenied(await get('api-v1.corp.test'), 'glob-pattern');
    expectAllowed(await get('api.corp.test'));
  });

  it('an IDN pattern written in Unicode matches the punycode host clients send', async () => {
    await expectDenied(await get('xn--bcher-kva.test'), 'idn');
    expectAllowed(await get('buecher.test'));
  });
});

describe('domainLists', () => {
  it('a list file entry matches the domain and its subdomains', async () => {
    const r = await get('tracker.ads.test');
    await expectDenied(r, 'ads-list');
    await expectDenied(await get('ads.test'), 'ads-list');
    expectAllowed(await get('notads.test'));
    const line = await accessLine(px, r.url);
    expect(decisionOf(line)).toEqual({ action: 'deny', rule: 'ads-list', reason: 'Advertising', mode: 'enforce' });
  });
});

describe('sources', () => {
  it('matches the client address the proxy sees', async () => {
    const r = await get('plain.test', { localAddress: '127.0.0.3' });
    await expectDenied(r, 'from-127-0-0-3');
    expect(await accessLine(px, r.url)).toMatchObject({ client: '127.0.0.3', error: 'POLICY_DENIED' });
    expectAllowed(await get('plain.test', { localAddress: '127.0.0.4' }));
  });
});

describe('methods', () => {
  it('denies the listed methods only', async () => {
    await expectDenied(await get('methods.test', { method: 'DELETE' }), 'no-delete');
    await expectDenied(await get('methods.test', { method: 'PUT', body: 'x' }), 'no-delete');
    const ok = await get('methods.test', { method: 'POST', body: 'x' });
    expectAllowed(ok);
    expect(ok.body).toBe(`a POST ${ok.path}`);
  });
});

describe('paths (plain HTTP)', () => {
  it('"/admin{,/**}" matches /admin and below, not /administrator or /Admin', async () => {
    for (const path of ['/admin', '/admin/', '/admin/users/1', `/admin?x=${n}`]) {
      await expectDenied(await get('paths.test', { path }), 'admin-paths');
    }
    for (const path of ['/administrator', '/Admin', '/public/admin']) {
      expectAllowed(await get('paths.test', { path }));
    }
  });

  it('equivalent spellings do not slip past a path rule (dot segments, %-encoding, double slashes)', async () => {
    for (const path of ['/x/../admin', '/%61dmin/users', '//admin', '/./admin']) {
      await expectDenied(await get('paths.test', { path }), 'admin-paths');
    }
  });
});

describe('headers', () => {
  it('a User-Agent glob ("curl/*") is anchored and case-insensitive', async () => {
    await expectDenied(await get('plain.test', { headers: { 'user-agent': 'curl/8.5.0' } }), 'no-curl');
    await expectDenied(await get('plain.test', { headers: { 'user-agent': 'CURL/7' } }), 'no-curl');
    expectAllowed(await get('plain.test', { headers: { 'user-agent': 'Mozilla/5.0 curl/8' } }));
    // A missing header never matches.
    expectAllowed(await get('plain.test'));
  });

  it('a regex header condition', async () => {
    await expectDenied(await get('plain.test', { headers: { 'user-agent': 'python-requests/2.31.0' } }), 'no-python');
    expectAllowed(await get('plain.test', { headers: { 'user-agent': 'my-python-requests/1' } }));
  });

  it('real curl is refused by its User-Agent', async () => {
    const path = `/curl${++n}`;
    const r = await curl(['--noproxy', '', '-x', px.url, '-o', '/dev/null', '-w', '%{http_code}', `http://plain.test:${a.port}${path}`]);
    expect(r.stdout).toBe('403');
    expect(reached(a, path)).toBe(false);
  });
});

describe('ports', () => {
  it('denies the listed port only', async () => {
    await expectDenied(await get('plain.test', { port: b.port }), 'port-b', b);
    expectAllowed(await get('plain.test'));
  });
});

describe('destinations (destination IP after DNS)', () => {
  it('denies a name that resolves into the CIDR, and the IP literal itself', async () => {
    const r = await get('near.test', { port: c.port });
    await expectDenied(r, 'dest-127-0-0-2', c);
    expect(decisionOf(await accessLine(px, r.url))).toEqual({ action: 'deny', rule: 'dest-127-0-0-2', reason: 'Not that address', mode: 'enforce' });
    await expectDenied(await get('127.0.0.2', { port: c.port }), 'dest-127-0-0-2', c);
    expect(c.requests).toHaveLength(0);
  });

  it('allows a name that resolves elsewhere', async () => {
    const r = await get('far.test');
    expectAllowed(r);
    expect(decisionOf(await accessLine(px, r.url))).toMatchObject({ action: 'allow', rule: 'default' });
  });
});

describe('schedule', () => {
  it('a rule whose hours cover now denies; one whose hours do not is passed over', async () => {
    await expectDenied(await get('sched-now.test'), 'sched-now');
    expectAllowed(await get('sched-never.test'));
  });

  it('every day, all day, in another time zone: always denies', async () => {
    await expectDenied(await get('sched-always.test'), 'sched-always');
  });
});
