import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bodyOf, headersOf } from './helpers/err-net.js';
import { startOrigin, type Origin } from './helpers/origin.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';
import { rawExchange, statusOf } from './helpers/raw.js';

describe('several listeners, IPv4 and IPv6', () => {
  let origin: Origin;
  let px: TestProxy;
  let ports: { address: string; port: number }[];
  beforeAll(async () => {
    origin = await startOrigin((req, res) => res.end(`hi ${req.url}`));
    px = await startTestProxy({
      listeners: [
        { address: '127.0.0.1', port: 0 },
        { address: '::1', port: 0 },
        { address: '[::1]', port: 0 },
      ],
    });
    // startTestProxy only reports the first port; ask the servers for the rest.
    const servers = (px.proxy as unknown as { servers: import('node:net').Server[] }).servers;
    ports = servers.map((s) => s.address() as { address: string; port: number });
  });
  afterAll(async () => {
    await px.close();
    await origin.close();
  });

  it('binds every listener, IPv6 with or without brackets', () => {
    expect(ports.map((p) => p.address)).toEqual(['127.0.0.1', '::1', '::1']);
    expect(new Set(ports.map((p) => p.port)).size).toBe(3);
  });

  it('logs one "listening on" line per listener, IPv6 in brackets', async () => {
    for (const p of ports) {
      const want = p.address.includes(':') ? `listening on [${p.address}]:${p.port}` : `listening on ${p.address}:${p.port}`;
      await px.server.waitFor((l) => l.msg === want);
    }
  });

  it('serves proxied requests on the IPv6 listener and logs the IPv6 client', async () => {
    const v6 = ports[1]!;
    const url = `${origin.url}/over-v6`;
    const r = await rawExchange(v6.port, `GET ${url} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, { host: '::1' });
    expect(statusOf(r.text)).toBe(200);
    expect(bodyOf(r.text)).toBe('hi /over-v6');
    expect(headersOf(r.text).via).toBe('1.1 egressd');
    const line = await px.access.waitFor((l) => l.url === url);
    expect(line.client).toBe('::1');
  });
});
