import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startIcpProxy, type IcpProxy } from './helpers/icp-proxy.js';

/** Issue 9: the onboarding page on the admin listener too, with the CA's fingerprint, its downloads and the PAC URL. */

let px: IcpProxy;
beforeAll(async () => {
  px = await startIcpProxy({ config: { admin: { listen: { address: '127.0.0.1', port: 0 } }, pac: { enabled: true } } });
});
afterAll(async () => {
  await px?.close();
});

it('GET /onboarding on the admin listener shows the CA fingerprint, the CA downloads and the PAC URL, without a token', async () => {
  const admin = `http://127.0.0.1:${px.proxy.admin.address!.port}`;
  const res = await fetch(`${admin}/onboarding`);
  expect(res.status).toBe(200);
  const html = await res.text();
  expect(html).toContain(new X509Certificate(px.caPem).fingerprint256);
  expect(html).toContain('href="/egressd-ca.crt"');
  expect(html).toContain('href="/egressd-ca.der"');
  expect(html).toMatch(/proxy\.pac/);
  const der = await fetch(`${admin}/egressd-ca.der`);
  expect(Buffer.from(await der.arrayBuffer()).equals(new X509Certificate(px.caPem).raw)).toBe(true);
});
