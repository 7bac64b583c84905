import { ProxyAgent, request } from 'undici';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { makeOriginCa, ORIGIN_NAMES } from './helpers/icp-certs.js';
import { startHttpsOrigin, tempFiles } from './helpers/icp-origin.js';
import { requestLine, startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';
import type { Origin } from './helpers/origin.js';
import { startParent, type TestParent } from './helpers/parent-proxy.js';

/**
 * A decrypted request whose route is a parent group: egressd reaches the origin through
 * a CONNECT tunnel the parent opens, still verifies the origin's certificate itself, and
 * the request's log line names the parent.
 */

let origin: Origin;
let parent: TestParent;
let px: IcpProxy;
let files: ReturnType<typeof tempFiles>;

beforeAll(async () => {
  const ca = makeOriginCa('parent-test origin CA');
  origin = await startHttpsOrigin(ca.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] }), 'P');
  files = tempFiles();
  parent = await startParent('p0');
  px = await startIcpProxy({
    config: {
      proxy: { connectPorts: [origin.port] },
      tls: { upstreamCaFiles: [files.write('origin-ca.pem', ca.cert)] },
      upstream: { default: 'corp', groups: { corp: { health: { check: 'none' }, parents: [{ url: parent.url, name: 'corp-1' }] } } },
    },
  });
});

afterAll(async () => {
  await px?.close();
  await parent?.close();
  await origin?.close();
  files?.remove();
});

it('the decrypted request goes to the origin through a CONNECT tunnel of the parent', async () => {
  const agent = new ProxyAgent({ uri: px.url, requestTls: { ca: px.caPem } });
  try {
    const res = await request(`https://localhost:${origin.port}/inside`, { dispatcher: agent });
    expect(res.statusCode).toBe(200);
    expect(await res.body.text()).toBe(`origin P GET /inside host=localhost:${origin.port}`);
  } finally {
    await agent.close();
  }
  // The parent saw a tunnel to the origin, never the decrypted request.
  expect(parent.seen.map((s) => `${s.method} ${s.url}`)).toEqual([`CONNECT localhost:${origin.port}`]);
  const line = await requestLine(px, `https://localhost:${origin.port}/inside`);
  expect(line.upstream).toBe('parent:corp-1');
  expect(line.tls).toBe('intercepted');
});
