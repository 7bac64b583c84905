import { createContext, runInContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cidrToMask, generatePac, type PacOptions } from '../src/pac/generate.js';
import { startTestProxy, type TestProxy } from './helpers/proxy.js';

/**
 * The generated PAC file is executed in a sandbox with the standard PAC helper
 * functions (as browsers define them) over a table of URLs. `dnsResolve` throws: the
 * file must never make the browser resolve a name.
 */

function pacSandbox(source: string): (url: string) => string {
  const ip = (s: string): number => s.split('.').reduce((a, b) => ((a << 8) | Number(b)) >>> 0, 0);
  const ctx = createContext({
    isPlainHostName: (h: string) => !h.includes('.'),
    dnsDomainIs: (h: string, d: string) => h.length >= d.length && h.slice(h.length - d.length) === d,
    shExpMatch: (s: string, p: string) => new RegExp(`^${p.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(s),
    dnsResolve: (h: string) => {
      throw new Error(`PAC resolved ${h}`);
    },
    isInNet: (h: string, pattern: string, mask: string) => {
      if (!/^\d+\.\d+\.\d+\.\d+$/.test(h)) throw new Error(`isInNet on a name (${h}) makes the browser resolve it`);
      return (ip(h) & ip(mask)) >>> 0 === (ip(pattern) & ip(mask)) >>> 0;
    },
  });
  runInContext(source, ctx, { timeout: 1000 });
  return (url) => runInContext(`FindProxyForURL(${JSON.stringify(url)}, ${JSON.stringify(new URL(url).hostname.replace(/^\[|\]$/g, ''))})`, ctx, { timeout: 1000 }) as string;
}

const options: PacOptions = {
  proxy: 'proxy.corp.example:3128',
  backup: 'proxy2.corp.example:3128',
  directDomains: ['corp.example', '*.intranet.example'],
  directCidrs: ['10.0.0.0/8', '192.168.1.0/24', '172.16.5.4'],
  directPlainHosts: true,
  fallbackDirect: false,
};

describe('generated PAC file', () => {
  const find = pacSandbox(generatePac(options));
  const PROXY = 'PROXY proxy.corp.example:3128; PROXY proxy2.corp.example:3128';
  const table: [string, string][] = [
    ['http://www.example.com/', PROXY],
    ['https://example.org/login', PROXY],
    ['http://intranet/', 'DIRECT'],
    ['http://corp.example/', 'DIRECT'],
    ['http://wiki.corp.example/page', 'DIRECT'],
    ['http://WIKI.Corp.Example/', 'DIRECT'],
    ['http://evilcorp.example/', PROXY],
    ['http://corp.example.attacker.net/', PROXY],
    ['http://intranet.example/', 'DIRECT'],
    ['http://a.b.intranet.example/', 'DIRECT'],
    ['http://10.20.30.40/', 'DIRECT'],
    ['http://192.168.1.77:8080/', 'DIRECT'],
    ['http://192.168.2.1/', PROXY],
    ['http://172.16.5.4/', 'DIRECT'],
    ['http://172.16.5.5/', PROXY],
    ['http://8.8.8.8/', PROXY],
    ['http://[2001:db8::1]/', PROXY],
  ];
  for (const [url, want] of table) it(`${url} → ${want}`, () => expect(find(url)).toBe(want));

  it('with fallbackDirect the browser may go direct when no proxy answers; without a backup only one PROXY', () => {
    const f = pacSandbox(generatePac({ ...options, backup: undefined, fallbackDirect: true }));
    expect(f('http://www.example.com/')).toBe('PROXY proxy.corp.example:3128; DIRECT');
  });

  it('plain host names go through the proxy when directPlainHosts is off', () => {
    const f = pacSandbox(generatePac({ ...options, directPlainHosts: false }));
    expect(f('http://intranet/')).toBe('PROXY proxy.corp.example:3128; PROXY proxy2.corp.example:3128');
  });

  it('CIDRs become network/mask pairs; IPv6 is refused', () => {
    expect(cidrToMask('10.1.2.3/8')).toEqual(['10.0.0.0', '255.0.0.0']);
    expect(cidrToMask('0.0.0.0/0')).toEqual(['0.0.0.0', '0.0.0.0']);
    expect(cidrToMask('1.2.3.4')).toEqual(['1.2.3.4', '255.255.255.255']);
    expect(() => cidrToMask('2001:db8::/32')).toThrow(/IPv4/);
  });
});

describe('served by the proxy', () => {
  let px: TestProxy;
  let off: TestProxy;
  beforeAll(async () => {
    px = await startTestProxy({ pac: { enabled: true, directDomains: ['corp.example'], directCidrs: ['10.0.0.0/8'] } });
    off = await startTestProxy();
  });
  afterAll(async () => {
    await px?.close();
    await off?.close();
  });

  for (const path of ['/proxy.pac', '/wpad.dat']) {
    it(`GET ${path}: the PAC content type, and the proxy address the client used`, async () => {
      const res = await fetch(`${px.url}${path}`);
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe('application/x-ns-proxy-autoconfig');
      const find = pacSandbox(await res.text());
      expect(find('http://www.example.com/')).toBe(`PROXY 127.0.0.1:${px.port}`);
      expect(find('http://x.corp.example/')).toBe('DIRECT');
    });
  }

  it('is 404 when pac.enabled is false', async () => {
    const res = await fetch(`${off.url}/proxy.pac`);
    expect(res.status).toBe(404);
    await res.text();
  });
});
