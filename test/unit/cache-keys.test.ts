import { describe, expect, it } from 'vitest';
import { freshenHeaders, notModified } from '../../src/cache/conditional.js';
import type { CacheEntry } from '../../src/cache/entry.js';
import { hostOfUrl, normaliseUrl, targetOfUrl } from '../../src/cache/key.js';
import { ifRangeHolds, rangeOf } from '../../src/cache/range.js';
import { normaliseVaryValue, varyMatches, varyNames } from '../../src/cache/vary.js';

/** Keys, Vary, conditionals and ranges, table-driven. */

describe('normaliseUrl (§2, RFC 3986 §6.2.2)', () => {
  it.each<[Parameters<typeof normaliseUrl>[0], string]>([
    [{ scheme: 'http', host: 'a.test', port: 80, path: '/x' }, 'http://a.test/x'],
    [{ scheme: 'http', host: 'a.test', port: 8080, path: '/x?q=1' }, 'http://a.test:8080/x?q=1'],
    [{ scheme: 'https', host: 'a.test', port: 443, path: '/' }, 'https://a.test/'],
    [{ scheme: 'http', host: 'a.test', port: 80, path: '/%7euser/%2f' }, 'http://a.test/%7Euser/%2F'],
    [{ scheme: 'http', host: '::1', port: 81, path: '/' }, 'http://[::1]:81/'],
  ])('%j → %s', (t, want) => expect(normaliseUrl(t)).toBe(want));

  it('parses Location-style URLs against a base and extracts hosts', () => {
    expect(normaliseUrl(targetOfUrl('/b?x', 'http://a.test:81/a')!)).toBe('http://a.test:81/b?x');
    expect(targetOfUrl('ftp://a/')).toBeUndefined();
    expect(hostOfUrl('http://[::1]:81/x')).toBe('::1');
    expect(hostOfUrl('http://a.test:81/x')).toBe('a.test');
  });
});

describe('Vary (§4.1)', () => {
  it.each<[string | undefined, string[]]>([
    [undefined, []],
    ['Accept-Encoding, accept-language', ['accept-encoding', 'accept-language']],
    ['accept, *', ['*']],
  ])('names of %j', (v, want) => expect(varyNames(v)).toEqual(want));

  it.each<[string | undefined, string | undefined, boolean]>([
    ['gzip, br', 'gzip,br', true], // whitespace normalised
    ['gzip,  br', 'gzip, br', true],
    ['gzip', 'br', false],
    [undefined, '', false], // absent differs from empty
    [undefined, undefined, true],
  ])('stored %j vs request %j', (stored, req, want) => {
    const reqHeaders = req === undefined ? [] : ['accept-encoding', req];
    expect(varyMatches(['accept-encoding'], [normaliseVaryValue(stored)], reqHeaders)).toBe(want);
  });

  it('Vary: * never matches', () => expect(varyMatches(['*'], [''], [])).toBe(false));
});

const e = (over: Partial<CacheEntry>): CacheEntry =>
  ({ etag: '"v1"', lastModified: 'Wed, 01 Jan 2025 00:00:00 GMT', headers: [], body: Buffer.alloc(10), ...over }) as CacheEntry;

describe('conditional requests (§4.3.2, RFC 9110 §13.1)', () => {
  it.each<[string, string[], Partial<CacheEntry>, boolean]>([
    ['If-None-Match equal', ['if-none-match', '"v1"'], {}, true],
    ['If-None-Match weak comparison', ['if-none-match', 'W/"v1"'], {}, true],
    ['If-None-Match in a list', ['if-none-match', '"a", "v1"'], {}, true],
    ['If-None-Match different', ['if-none-match', '"v2"'], {}, false],
    ['If-None-Match *', ['if-none-match', '*'], {}, true],
    ['If-Modified-Since after Last-Modified', ['if-modified-since', 'Thu, 02 Jan 2025 00:00:00 GMT'], {}, true],
    ['If-Modified-Since before Last-Modified', ['if-modified-since', 'Tue, 31 Dec 2024 00:00:00 GMT'], {}, false],
    ['§13.2.2 If-None-Match wins over If-Modified-Since', ['if-none-match', '"v2"', 'if-modified-since', 'Thu, 02 Jan 2025 00:00:00 GMT'], {}, false],
    ['no validators', [], {}, false],
  ])('%s', (_n, headers, over, want) => expect(notModified(e(over), headers)).toBe(want));

  it('§4.3.4 a 304 replaces stored fields but not the body metadata', () => {
    const stored = ['content-type', 'text/plain', 'etag', '"v1"', 'cache-control', 'max-age=1', 'x-a', 'old'];
    const got = freshenHeaders(stored, ['etag', '"v1"', 'cache-control', 'max-age=99', 'content-type', 'text/html', 'x-a', 'new']);
    expect(got).toEqual(['content-type', 'text/plain', 'etag', '"v1"', 'cache-control', 'max-age=99', 'x-a', 'new']);
  });
});

describe('ranges (RFC 9110 §14)', () => {
  it.each<[string | undefined, ReturnType<typeof rangeOf>]>([
    [undefined, { kind: 'none' }],
    ['bytes=0-3', { kind: 'range', start: 0, end: 3 }],
    ['bytes=5-', { kind: 'range', start: 5, end: 9 }],
    ['bytes=-4', { kind: 'range', start: 6, end: 9 }],
    ['bytes=8-100', { kind: 'range', start: 8, end: 9 }],
    ['bytes=10-12', { kind: 'unsatisfiable' }],
    ['bytes=0-1, 4-5', { kind: 'multi' }],
    ['items=0-1', { kind: 'none' }],
    ['bytes=5-2', { kind: 'none' }],
  ])('%j', (h, want) => expect(rangeOf(h, 10)).toEqual(want));

  it.each<[string[], boolean]>([
    [[], true],
    [['if-range', '"v1"'], true],
    [['if-range', 'W/"v1"'], false], // weak tags never match If-Range (§13.1.5)
    [['if-range', '"v2"'], false],
    [['if-range', 'Wed, 01 Jan 2025 00:00:00 GMT'], true],
  ])('If-Range %j', (h, want) => expect(ifRangeHolds(e({}), h)).toBe(want));
});
