import { describe, expect, it } from 'vitest';
import { ProxyError } from '../../src/http/errors.js';
import { formatAuthority, normaliseHost, parseAbsoluteTarget, parseAuthority } from '../../src/http/target.js';

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return e instanceof ProxyError ? e.code : `not a ProxyError: ${String(e)}`;
  }
  return undefined;
}

describe('normaliseHost', () => {
  const table: [string, string | undefined][] = [
    ['example.com', 'example.com'],
    ['EXAMPLE.Com', 'example.com'],
    ['example.com.', 'example.com'],
    ['Sub.Example.COM.', 'sub.example.com'],
    ['a-b.c_d.example', 'a-b.c_d.example'],
    ['127.0.0.1', '127.0.0.1'],
    ['[::1]', '::1'],
    ['[2001:DB8::1]', '2001:db8::1'],
    ['[::ffff:127.0.0.1]', '::ffff:127.0.0.1'],
    ['bücher.example', 'xn--bcher-kva.example'],
    ['BÜCHER.example', 'xn--bcher-kva.example'],
    ['münchen.de.', 'xn--mnchen-3ya.de'],
    ['xn--bcher-kva.example', 'xn--bcher-kva.example'],
    // Numeric last label: an IPv4 address to inet_aton / WHATWG URL (regression: 0x7f.1 passed as a name).
    ['0x7f.1', undefined],
    ['0x7f000001', undefined],
    ['evil.0x10', undefined],
    ['a.b.123', undefined],
    ['123abc.example', '123abc.example'],
    ['', undefined],
    ['.', undefined],
    ['a..b', undefined],
    ['-lead.example', undefined],
    ['trail-.example', undefined],
    ['exa mple.com', undefined],
    ['exa$mple.com', undefined],
    ['[::1', undefined],
    ['[example.com]', undefined],
    ['[127.0.0.1]', undefined],
    ['::1', undefined], // IPv6 needs brackets in a URI
    ['1.2.3', undefined], // all-numeric: some resolvers read it as an IPv4 address
    ['999.1.1.1', undefined],
    [`${'a'.repeat(64)}.example`, undefined], // label > 63
    [`${'a'.repeat(63)}.example`, `${'a'.repeat(63)}.example`],
    [Array(130).fill('a').join('.'), undefined], // > 253 characters
  ];
  it.each(table)('%j → %j', (input, want) => {
    expect(normaliseHost(input)).toBe(want);
  });
});

describe('parseAbsoluteTarget', () => {
  const ok: [string, { host: string; port: number; path: string }][] = [
    ['http://example.com', { host: 'example.com', port: 80, path: '/' }],
    ['http://example.com/', { host: 'example.com', port: 80, path: '/' }],
    ['HTTP://EXAMPLE.COM/A?B', { host: 'example.com', port: 80, path: '/A?B' }],
    ['http://example.com:8080/x/y?z=1', { host: 'example.com', port: 8080, path: '/x/y?z=1' }],
    ['http://example.com?q=1', { host: 'example.com', port: 80, path: '/?q=1' }],
    ['http://example.com./p', { host: 'example.com', port: 80, path: '/p' }],
    ['http://example.com:/p', { host: 'example.com', port: 80, path: '/p' }],
    ['http://example.com/p#frag', { host: 'example.com', port: 80, path: '/p' }],
    ['http://[::1]:8080/', { host: '::1', port: 8080, path: '/' }],
    ['http://[2001:db8::1]/', { host: '2001:db8::1', port: 80, path: '/' }],
    ['http://127.0.0.1:65535/', { host: '127.0.0.1', port: 65535, path: '/' }],
    ['http://bücher.example/', { host: 'xn--bcher-kva.example', port: 80, path: '/' }],
    ['http://example.com/%2e%2e/a b', { host: 'example.com', port: 80, path: '/%2e%2e/a b' }],
  ];
  it.each(ok)('%s', (url, want) => {
    expect(parseAbsoluteTarget(url)).toEqual({ scheme: 'http', ...want });
  });

  const bad: string[] = [
    '/origin-form',
    'example.com/',
    'ftp://example.com/',
    'https://example.com/',
    'ws://example.com/',
    'http://u@example.com/',
    'http://u:p@example.com/',
    'http://:80/',
    'http:///',
    'http://example.com:0/',
    'http://example.com:65536/',
    'http://example.com:99999/',
    'http://example.com:8o/',
    'http://example.com:123456/',
    'http://[::1/',
    'http://::1/',
    'http://[zz::1]/',
    'http://exa$mple.com/',
    'http://a..b/',
    'http://1.2.3/',
  ];
  it.each(bad)('%s → BAD_TARGET', (url) => {
    expect(codeOf(() => parseAbsoluteTarget(url))).toBe('BAD_TARGET');
  });
});

describe('parseAuthority (CONNECT targets)', () => {
  const ok: [string, { host: string; port: number }][] = [
    ['example.com:443', { host: 'example.com', port: 443 }],
    ['EXAMPLE.com.:443', { host: 'example.com', port: 443 }],
    ['127.0.0.1:1', { host: '127.0.0.1', port: 1 }],
    ['[::1]:443', { host: '::1', port: 443 }],
    ['[2001:DB8::A]:65535', { host: '2001:db8::a', port: 65535 }],
    ['xn--bcher-kva.example:443', { host: 'xn--bcher-kva.example', port: 443 }],
  ];
  it.each(ok)('%s', (a, want) => {
    expect(parseAuthority(a)).toEqual(want);
  });

  const bad = [
    'example.com',
    'example.com:',
    ':443',
    'example.com:0',
    'example.com:70000',
    'example.com:65536',
    'example.com:443x',
    'example.com:https',
    'http://example.com:443',
    'example.com:443/',
    'u@example.com:443',
    'u:p@example.com:443',
    'a b:443',
    '::1:443',
    '[::1]',
    '[::1]:',
    '[example.com]:443',
    'exa$mple.com:443',
    'a..b:443',
    'example.com:443:443',
    '',
  ];
  it.each(bad)('%j → BAD_TARGET', (a) => {
    expect(codeOf(() => parseAuthority(a))).toBe('BAD_TARGET');
  });
});

describe('formatAuthority', () => {
  it.each([
    ['example.com', 443, undefined, 'example.com:443'],
    ['example.com', 80, 80, 'example.com'],
    ['example.com', 8080, 80, 'example.com:8080'],
    ['::1', 443, undefined, '[::1]:443'],
    ['::1', 80, 80, '[::1]'],
  ] as const)('%s %d (default %s) → %s', (h, p, d, want) => {
    expect(formatAuthority(h, p, d)).toBe(want);
  });
});
