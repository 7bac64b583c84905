import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError, formatProblem } from '../../src/config/yaml-source.js';
import { targetUrl, transparentTarget } from '../../src/exchange/transparent-target.js';
import { ProxyError } from '../../src/http/errors.js';
import { classifyFirstBytes, type FirstBytes } from '../../src/server/first-bytes.js';

/** Socket-free parts of transparent mode: sniffing the first bytes, rebuilding targets, config. */

describe('classifyFirstBytes', () => {
  const table: [string, Buffer | string, FirstBytes][] = [
    ['empty', '', 'incomplete'],
    ['TLS handshake record', Buffer.from([0x16, 0x03, 0x01]), 'tls'],
    ['TLS: one byte is enough', Buffer.from([0x16]), 'tls'],
    ['GET request line', 'GET / HTTP/1.1\r\n', 'http'],
    ['method and space only', 'POST ', 'http'],
    ['hyphenated method', 'M-SEARCH * HTTP/1.1\r\n', 'http'],
    ['leading empty line (RFC 9112 §2.2)', '\r\nGET / HTTP/1.1\r\n', 'http'],
    ['partial method', 'GE', 'incomplete'],
    ['only CRLFs so far', '\r\n', 'incomplete'],
    ['lower-case method', 'get / HTTP/1.1\r\n', 'other'],
    ['SSH banner', 'SSH-2.0-OpenSSH_9.2\r\n', 'other'],
    ['leading space', ' GET /', 'other'],
    ['binary', Buffer.from([0x00, 0x01, 0x02]), 'other'],
    ['TLS record type 23 (application data)', Buffer.from([0x17, 0x03, 0x03]), 'other'],
    ['a "method" too long to be one', 'A'.repeat(40), 'other'],
    ['TLS byte after an empty line is not TLS', Buffer.from([0x0d, 0x0a, 0x16]), 'other'],
  ];
  for (const [name, input, want] of table) {
    it(`${name} → ${want}`, () => expect(classifyFirstBytes(typeof input === 'string' ? Buffer.from(input, 'latin1') : input)).toBe(want));
  }
});

describe('transparentTarget', () => {
  const info = { httpPort: 80, tlsPort: 443 };
  const ok: [string, string, string][] = [
    ['/', 'example.com', 'http://example.com/'],
    ['/a?b=c', 'Example.COM', 'http://example.com/a?b=c'],
    ['/x', 'example.com:8080', 'http://example.com:8080/x'],
    ['/x', 'example.com.', 'http://example.com/x'],
    ['/x', '[2001:db8::1]:81', 'http://[2001:db8::1]:81/x'],
    ['/x', '192.0.2.7', 'http://192.0.2.7/x'],
  ];
  for (const [url, host, want] of ok) {
    it(`${url} with Host ${host} → ${want}`, () => expect(targetUrl(transparentTarget(url, host, info))).toBe(want));
  }

  it('httpPort is used when Host names no port', () => {
    expect(transparentTarget('/', 'example.com', { httpPort: 8081, tlsPort: 443 })).toEqual({ scheme: 'http', host: 'example.com', port: 8081, path: '/' });
  });

  const bad: [string, string | undefined, string][] = [
    ['/', undefined, 'TRANSPARENT_NO_HOST'],
    ['/', '', 'TRANSPARENT_NO_HOST'],
    ['/', 'exa mple.com', 'BAD_TARGET'],
    ['/', 'user@example.com', 'BAD_TARGET'],
    ['/', 'example.com:0', 'BAD_TARGET'],
    ['/', 'example.com:99999', 'BAD_TARGET'],
    ['/', '1.2.3', 'BAD_TARGET'],
    ['*', 'example.com', 'BAD_TARGET'],
  ];
  for (const [url, host, code] of bad) {
    it(`${url} with Host ${JSON.stringify(host)} → ${code}`, () => {
      let err: unknown;
      try {
        transparentTarget(url, host, info);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ProxyError);
      expect((err as ProxyError).code).toBe(code);
    });
  }
});

describe('config: transparent listeners', () => {
  let dir: string;
  let n = 0;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'egressd-tp-cfg-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const load = (text: string) => {
    const file = join(dir, `c${++n}.yaml`);
    writeFileSync(file, text);
    return loadConfig(file);
  };
  const problems = (text: string): string[] => {
    try {
      load(text);
    } catch (e) {
      if (e instanceof ConfigError) return e.problems.map(formatProblem);
      throw e;
    }
    throw new Error('config was accepted');
  };

  it('mode transparent with httpPort and tlsPort is accepted; the onboarding host defaults to egressd.local', () => {
    const { config } = load('listeners:\n  - { address: 127.0.0.1, port: 3129, mode: transparent, httpPort: 80, tlsPort: 443 }\n');
    expect(config.listeners[0]).toMatchObject({ mode: 'transparent', httpPort: 80, tlsPort: 443 });
    expect(config.tls.onboardingHost).toBe('egressd.local');
  });

  it('httpPort on a forward listener is an error at its line', () => {
    const p = problems('listeners:\n  - address: 127.0.0.1\n    port: 3128\n    httpPort: 80\n');
    expect(p.some((l) => /:4:\d+: .*httpPort only applies to listeners with mode: transparent/.test(l))).toBe(true);
  });

  it('an unknown mode is an error', () => {
    expect(problems('listeners:\n  - { mode: reverse }\n').join('\n')).toMatch(/mode/);
  });

  it('a transparent listener beyond loopback needs clients.allow, like a forward one', () => {
    expect(problems('listeners:\n  - { address: 0.0.0.0, port: 3129, mode: transparent }\n').join('\n')).toMatch(/clients\.allow is empty/);
  });

  it('tls.onboardingHost must be a lowercase host name or empty', () => {
    expect(problems('tls:\n  onboardingHost: "Not A Host"\n').join('\n')).toMatch(/onboardingHost/);
    expect(load('tls:\n  onboardingHost: ""\n').config.tls.onboardingHost).toBe('');
  });
});
