import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeDns, type FakeDns } from './helpers/fake-dns.js';
import { getThrough } from './helpers/faults.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { baseConfig, merge, startTestProxy, type TestProxy } from './helpers/proxy.js';
import { steadyLoad, type SteadyLoad } from './helpers/steady-load.js';

/**
 * Config reload under a steady load (issue 10): keep-alive clients, plain and through
 * CONNECT tunnels, never stop while the config is reloaded with a valid edit (a policy
 * change and a new proxy name: they apply to new requests), an invalid config, and an
 * invalid policy file (both rejected, the running config stays). Zero failed requests
 * throughout. Reload semantics without load: test/config-reload.test.ts and
 * test/policy-proxy-reload.test.ts; by SIGHUP: test/lifecycle-signals.test.ts.
 */

const CLIENTS = 6;
const DNS_DELAY = 400;
const TUNNELS = 2;
/** A rule on destination addresses makes the policy stage wait (DNS), the slow path. */
const policy = (denyHost: string): string => `version: 1
rules:
  - id: deny-one
    hosts: [${denyHost}]
    action: deny
    reason: denied by the reloaded policy
  - id: loopback
    destinations: [127.0.0.0/8]
    action: allow
    reason: loopback origin
  - id: default
    action: allow
`;

let origin: Origin;
let dns: FakeDns;
let px: TestProxy;
let policyA: string;
let policyB: string;

const config = (name: string, policyFile: string): Record<string, unknown> =>
  merge(baseConfig(), {
    proxy: { name, connectPorts: [origin.port] },
    policy: { files: [policyFile], watch: false },
    cache: { enabled: false },
    egress: { dns: { servers: [dns.server] } },
  });

beforeAll(async () => {
  origin = await startOrigin((req, res) => res.end(`ok ${req.url}`));
  // slow.test takes DNS_DELAY to resolve: a request is still in its policy stage when the reload swaps.
  dns = await startFakeDns((name) => (name === 'slow.test' ? { answer: '127.0.0.1', delayMs: DNS_DELAY } : 'servfail'));
  px = await startTestProxy();
  const dir = dirname(px.configFile);
  policyA = join(dir, 'policy-a.yaml');
  policyB = join(dir, 'policy-b.yaml');
  writeFileSync(policyA, policy('nothing.test'));
  writeFileSync(policyB, policy('localhost'));
  px.writeConfig(config('gen-a', policyA));
  expect((await px.proxy.reload()).ok).toBe(true);
});
afterAll(async () => {
  await px?.close();
  await origin?.close();
  await dns?.close();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('reload under a steady load', () => {
  let plain: SteadyLoad;
  let tunnelled: SteadyLoad;

  it('valid, invalid config and invalid policy reloads mid-load: zero failed requests; only the valid one takes effect', async () => {
    const url = (n: number): string => `${origin.url}/load/${n}`;
    plain = steadyLoad(px.url, { clients: CLIENTS, url });
    tunnelled = steadyLoad(px.url, { clients: TUNNELS, tunnel: true, url });
    try {
      await sleep(300);
      expect((await getThrough(px.port, `http://localhost:${origin.port}/before`)).status).toBe(200);

      // 1. Valid: a new policy (localhost denied) and a new name.
      px.writeConfig(config('gen-b', policyB));
      const valid = await px.proxy.reload();
      expect(valid.ok).toBe(true);
      const switchedAt = Date.now();
      const denied = await getThrough(px.port, `http://localhost:${origin.port}/after-valid`);
      expect(denied.status).toBe(403);
      expect(String(denied.headers['x-egressd-error'])).toMatch(/^POLICY_DENIED/);
      await sleep(300);

      // 2. Invalid config: rejected, gen-b stays.
      writeFileSync(px.configFile, 'proxy:\n  name: gen-c\n  colour: blue\n');
      expect((await px.proxy.reload()).ok).toBe(false);
      await sleep(200);

      // 3. Valid config naming an invalid policy file: rejected as a whole.
      writeFileSync(policyA, 'version: 1\nrules:\n  - id: broken\n    action: maybe\n');
      px.writeConfig(config('gen-d', policyA));
      expect((await px.proxy.reload()).ok).toBe(false);
      await sleep(300);

      expect((await getThrough(px.port, `http://localhost:${origin.port}/after-invalid`)).status).toBe(403);
      await plain.stop();
      await tunnelled.stop();

      const all = [...plain.results, ...tunnelled.results];
      expect(all.filter((r) => !r.ok), JSON.stringify(all.filter((r) => !r.ok).slice(0, 5))).toEqual([]);
      expect(plain.results.length).toBeGreaterThan(100);
      expect(tunnelled.results.length).toBeGreaterThan(20);
      // Plain requests sent after the valid reload carry the new name; none carries a rejected one.
      const later = plain.results.filter((r) => r.sentAt > switchedAt);
      expect(later.length).toBeGreaterThan(20);
      expect(later.every((r) => r.via === '1.1 gen-b')).toBe(true);
      expect(plain.results.some((r) => r.via === '1.1 gen-a')).toBe(true);
      expect(plain.results.filter((r) => r.via !== '1.1 gen-a' && r.via !== '1.1 gen-b')).toEqual([]);
      expect(px.server.lines.filter((l) => String(l.msg).startsWith('reload rejected'))).toHaveLength(2);
    } finally {
      await plain.stop();
      await tunnelled.stop();
    }
  });

  it('a request waiting for DNS in its policy stage when a reload swaps the config still completes', async () => {
    writeFileSync(policyA, policy('nothing.test'));
    px.writeConfig(config('gen-e', policyA));
    expect((await px.proxy.reload()).ok).toBe(true);
    const pending = getThrough(px.port, `http://slow.test:${origin.port}/during-reload`);
    await sleep(DNS_DELAY / 4);
    px.writeConfig(config('gen-f', policyA));
    expect((await px.proxy.reload()).ok).toBe(true);
    const out = await pending;
    expect(out.status, String(out.headers['x-egressd-error'])).toBe(200);
    expect(out.body.toString()).toBe('ok /during-reload');
  });
});
