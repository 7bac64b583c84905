import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAcProxy, type AcProxy } from './helpers/ac-proxy.js';
import { basic } from './helpers/auth-proxy.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';

/**
 * Huge numbers of users (issue 10, resource exhaustion): 2,000 distinct Basic
 * credentials, most of them wrong, from 1,000 client addresses, against tables four
 * times smaller. The credential cache
 * and both lockout tables (per user name, per address) stay within their configured
 * sizes, and a user who logged in before keeps being served during the flood.
 */

const USERS = 2000;
const GOOD = 100; // the last GOOD users send their right password
const UNKNOWN = 10; // names not in the users file (checked against a cost-10 dummy hash)
const CACHE = 50;
const TRACKED = 500;

let origin: Origin;
let px: AcProxy;
beforeAll(async () => {
  origin = await startOrigin((_req, res) => res.end('ok'));
  // One cost-4 hash for everyone keeps the test fast; the proxy checks each user as usual.
  const hash = bcrypt.hashSync('right', 4);
  const users = Array.from({ length: USERS }, (_, i) => `u${i}:${hash}\n`).join('') + `regular:${hash}\n`;
  px = await startAcProxy({
    files: { users },
    config: {
      auth: { required: true, users: 'users', watch: false, cacheSize: CACHE, cacheTtl: '10m', lockout: { threshold: 3, addressThreshold: 20, maxTracked: TRACKED } },
    },
  });
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

/** Client address for attempt i: two attempts per address, over 127.10.0.0/16. */
const addressOf = (i: number): string => `127.10.${Math.floor((i >> 1) / 250)}.${((i >> 1) % 250) + 1}`;

it(`${USERS} distinct credentials (most wrong, from ${USERS / 2} addresses): the credential cache and lockout tables stay bounded, the proxy keeps answering`, async () => {
  const auth = px.proxy.runtime.auth!;
  expect((await proxyRequest(px.port, `${origin.url}/regular`, { headers: { 'proxy-authorization': basic('regular', 'right') } })).status).toBe(200);
  const statuses = new Map<number, number>();
  const slowest: number[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < USERS + UNKNOWN; i = next++) {
      const user = i < USERS ? `u${i}` : `nobody${i}`;
      const password = i >= USERS - GOOD && i < USERS ? 'right' : `wrong${i}`;
      const r = await proxyRequest(px.port, `${origin.url}/x${i}`, { headers: { 'proxy-authorization': basic(user, password) }, localAddress: addressOf(i) });
      statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
    }
  };
  // Meanwhile the regular user (cached credential) is served, quickly.
  let flooding = true;
  const regular = (async () => {
    while (flooding) {
      const t = performance.now();
      const r = await proxyRequest(px.port, `${origin.url}/regular`, { headers: { 'proxy-authorization': basic('regular', 'right') } });
      expect(r.status).toBe(200);
      slowest.push(performance.now() - t);
      await new Promise((res) => setTimeout(res, 50));
    }
  })();
  await Promise.all(Array.from({ length: 8 }, worker));
  flooding = false;
  await regular;

  expect(statuses.get(200)).toBe(GOOD);
  expect(statuses.get(407)).toBe(USERS + UNKNOWN - GOOD);
  const sizes = auth.sizes;
  // The cache holds verified credentials only, and at most cacheSize of them.
  expect(sizes.credentials).toBe(CACHE);
  // More than TRACKED user names and addresses failed: each table kept the most recent TRACKED.
  expect(sizes.lockedUsers).toBe(TRACKED);
  expect(sizes.lockedAddresses).toBe(TRACKED);
  expect(sizes.checking).toBe(0);
  expect(slowest.length).toBeGreaterThan(5);
  // Loose: bcrypt runs on the event loop, so a saturated proxy (8 concurrent guessers on
  // a shared 2-core machine) delays everyone; it must not stall.
  expect(Math.max(...slowest)).toBeLessThan(5000);
  console.log(`regular user during the flood: ${slowest.length} requests, max ${Math.round(Math.max(...slowest))} ms`);
  // Still answering: the regular user, and a new good login.
  expect((await proxyRequest(px.port, `${origin.url}/after`, { headers: { 'proxy-authorization': basic('regular', 'right') } })).status).toBe(200);
  expect((await proxyRequest(px.port, `${origin.url}/after2`, { headers: { 'proxy-authorization': basic('u0', 'right') } })).status).toBe(200);
}, 120_000);

describe('the tables keep working at their bound', () => {
  it('a user who fails threshold times after the flood is locked (the bound forgets the oldest names, here u1\'s first failure)', async () => {
    for (let k = 0; k < 3; k++) {
      expect((await proxyRequest(px.port, `${origin.url}/late${k}`, { headers: { 'proxy-authorization': basic('u1', `bad${k}`) }, localAddress: `127.11.0.${k + 1}` })).status).toBe(407);
    }
    expect((await proxyRequest(px.port, `${origin.url}/late`, { headers: { 'proxy-authorization': basic('u1', 'right') }, localAddress: '127.11.0.9' })).status).toBe(429);
    expect(px.proxy.runtime.auth!.sizes.lockedUsers).toBe(TRACKED);
  });
});
