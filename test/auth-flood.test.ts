import bcrypt from 'bcryptjs';
import { performance } from 'node:perf_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { basic } from './helpers/auth-proxy.js';
import { startAcProxy, type AcProxy } from './helpers/ac-proxy.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';

/**
 * bcrypt runs in a worker thread (src/auth/password-check.ts): a flood of wrong passwords
 * queues there, and a user whose credentials are cached is served at once meanwhile.
 * In this thread, bcryptjs runs each check in slices of up to 100 ms on the event loop,
 * and 24 concurrent checks made every other request wait for most of them.
 */
describe('a flood of wrong passwords does not stall the proxy', () => {
  let origin: Origin;
  let px: AcProxy;
  beforeAll(async () => {
    origin = await startOrigin((_req, res) => res.end('ok'));
    px = await startAcProxy({
      // Cost 10: about 70 ms of CPU per check in bcryptjs, the cost `htpasswd -B` uses.
      files: { users: `alice:${bcrypt.hashSync('right', 10)}\n` },
      // Lockout off: every guess is checked, as from a botnet of addresses and names.
      config: { auth: { required: true, users: 'users', lockout: { threshold: 0, addressThreshold: 0 } } },
    });
  });
  afterAll(async () => {
    await px?.close();
    await origin?.close();
  });

  const get = (user: string, password: string, n: number) => proxyRequest(px.port, `${origin.url}/r${n}`, { headers: { 'proxy-authorization': basic(user, password) } });

  it('24 concurrent wrong passwords are all checked (407), while a logged-in user gets answers in well under 250 ms each', async () => {
    expect((await get('alice', 'right', 0)).status).toBe(200); // now in the credential cache
    let floodDone = false;
    const flood = Promise.all(Array.from({ length: 24 }, (_, i) => get(`nobody-${i}`, `wrong-${i}`, i + 1))).finally(() => (floodDone = true));
    await new Promise((r) => setTimeout(r, 30)); // the checks are under way
    const waits: number[] = [];
    for (let i = 0; i < 5; i++) {
      const t = performance.now();
      expect((await get('alice', 'right', 100 + i)).status).toBe(200);
      waits.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 20));
    }
    const measuredDuringFlood = !floodDone;
    const replies = await flood;
    expect(replies.map((r) => r.status)).toEqual(Array(24).fill(407));
    expect(measuredDuringFlood).toBe(true);
    expect(Math.max(...waits)).toBeLessThan(250);
  }, 30_000);
});
