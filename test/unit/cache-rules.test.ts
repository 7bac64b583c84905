import { describe, expect, it } from 'vitest';
import { parseCacheControl } from '../../src/cache/directives.js';
import type { CacheEntry } from '../../src/cache/entry.js';
import { currentAge, freshnessLifetime, initialAge } from '../../src/cache/freshness.js';
import { notStorableReason, type StoreFacts } from '../../src/cache/storable.js';
import { reuseOf, staleOnError } from '../../src/cache/reuse.js';

/** Freshness, age, storability and reuse rules of RFC 9111, table-driven; each row cites its section. */

const NOW = Date.parse('2026-01-01T12:00:00Z');
const date = (offsetS: number): string => new Date(NOW + offsetS * 1000).toUTCString();
const OPTS = { heuristicFraction: 0.1, maxTtl: 86_400 };

describe('parseCacheControl (§5.2)', () => {
  it.each([
    ['max-age=60, public', { 'max-age': '60', public: true }],
    ['Max-Age=5', { 'max-age': '5' }],
    ['private="set-cookie, x-a", no-cache', { private: 'set-cookie, x-a', 'no-cache': true }],
    ['max-age=1, max-age=100', { 'max-age': '1' }], // §4.2.1: the first occurrence is used
    ['', {}],
    [' , no-store ,', { 'no-store': true }],
  ])('%j', (v, want) => {
    expect({ ...parseCacheControl(v) }).toEqual(want);
  });
});

describe('freshnessLifetime (§4.2.1, §4.2.2)', () => {
  it.each<[string, number, string[], number]>([
    ['§5.2.2.10 s-maxage wins over max-age for a shared cache', 200, ['cache-control', 's-maxage=30, max-age=600'], 30],
    ['§5.2.2.1 max-age wins over Expires', 200, ['cache-control', 'max-age=60', 'expires', date(3600), 'date', date(0)], 60],
    ['§5.3 Expires minus Date', 200, ['expires', date(120), 'date', date(0)], 120],
    ['§5.3 an invalid Expires means already expired', 200, ['expires', '0', 'date', date(0)], 0],
    ['§5.3 Expires in the past', 200, ['expires', date(-10), 'date', date(0)], 0],
    ['§4.2.2 heuristic: 10% of Date − Last-Modified', 200, ['last-modified', date(-10_000), 'date', date(0)], 1000],
    ['§4.2.2 no heuristic for a status that is not heuristically cacheable', 302, ['last-modified', date(-10_000), 'date', date(0)], 0],
    ['§4.2.2 heuristic allowed by public for any status', 302, ['cache-control', 'public', 'last-modified', date(-10_000), 'date', date(0)], 1000],
    ['§4.2.2 no Last-Modified: no heuristic', 200, ['date', date(0)], 0],
    ['§1.2.2 invalid delta-seconds is stale', 200, ['cache-control', 'max-age=abc'], 0],
    ['maxTtl caps every lifetime', 200, ['cache-control', 'max-age=9999999'], 86_400],
  ])('%s', (_name, status, headers, want) => {
    const i = headers.indexOf('cache-control');
    const cc = parseCacheControl(i < 0 ? undefined : headers[i + 1]);
    expect(freshnessLifetime(status, headers, cc, NOW, OPTS)).toBe(want);
  });
});

describe('age (§4.2.3)', () => {
  it.each<[string, string[], number, number, number]>([
    ['apparent age from Date', ['date', date(-30)], NOW - 1000, NOW, 30],
    ['Age header plus the response delay', ['date', date(0), 'age', '100'], NOW - 2000, NOW, 102],
    ['a Date in the future (origin clock ahead) never makes it younger than 0', ['date', date(3600)], NOW, NOW, 0],
    ['no Date: only the delay', [], NOW - 500, NOW, 0.5],
    ['invalid Age is ignored (§5.1)', ['age', 'x', 'date', date(0)], NOW, NOW, 0],
  ])('%s', (_n, headers, reqT, resT, want) => {
    expect(initialAge(headers, reqT, resT)).toBeCloseTo(want, 3);
  });

  it('current age adds the resident time', () => {
    expect(currentAge({ initialAge: 10, responseTime: NOW }, NOW + 5000)).toBe(15);
  });
});

const facts = (over: Partial<StoreFacts>): StoreFacts => ({
  method: 'GET',
  status: 200,
  requestCc: {},
  responseCc: parseCacheControl('max-age=60'),
  responseHeaders: ['cache-control', 'max-age=60'],
  authorization: false,
  allowSetCookie: false,
  forced: false,
  ...over,
});

describe('notStorableReason (§3, §3.5)', () => {
  it.each<[string, Partial<StoreFacts>, string | null]>([
    ['§3 a fresh GET 200 is stored', {}, null],
    ['§3 only GET is stored', { method: 'POST' }, 'method'],
    ['§3.3 a 206 is never stored as complete', { status: 206 }, 'partial'],
    ['§3 a 500 is not stored', { status: 500 }, 'status'],
    ['§5.2.2.5 response no-store', { responseCc: parseCacheControl('no-store, max-age=60') }, 'no-store'],
    ['§5.2.1.5 request no-store', { requestCc: parseCacheControl('no-store') }, 'no-store'],
    ['§5.2.2.7 private is never stored by a shared cache', { responseCc: parseCacheControl('private, max-age=60') }, 'private'],
    ['§5.2.2.7 qualified private too', { responseCc: parseCacheControl('private="x", max-age=60') }, 'private'],
    ['§3.5 Authorization without permission', { authorization: true }, 'authorization'],
    ['§3.5 Authorization with public', { authorization: true, responseCc: parseCacheControl('public, max-age=60') }, null],
    ['§3.5 Authorization with s-maxage', { authorization: true, responseCc: parseCacheControl('s-maxage=60') }, null],
    ['§3.5 Authorization with must-revalidate', { authorization: true, responseCc: parseCacheControl('must-revalidate, max-age=60') }, null],
    ['Set-Cookie is not stored by default', { responseHeaders: ['cache-control', 'max-age=60', 'set-cookie', 'a=b'] }, 'set-cookie'],
    ['Set-Cookie stored when the config allows it', { responseHeaders: ['cache-control', 'max-age=60', 'set-cookie', 'a=b'], allowSetCookie: true }, null],
    ['§4.1 Vary: * is pointless to store', { responseHeaders: ['cache-control', 'max-age=60', 'vary', 'accept, *'] }, 'vary-star'],
    ['§4.2.2 a heuristically cacheable status without freshness is stored', { responseCc: {}, responseHeaders: [] }, null],
    ['§3 a 302 without freshness information is not', { status: 302, responseCc: {}, responseHeaders: [] }, 'no-freshness'],
    ['a force rule stores a 302 without freshness', { status: 302, responseCc: {}, responseHeaders: [], forced: true }, null],
    ['a force rule never overrides private', { responseCc: parseCacheControl('private'), forced: true }, 'private'],
  ])('%s', (_n, over, want) => {
    expect(notStorableReason(facts(over))).toBe(want);
  });
});

function entry(over: Partial<CacheEntry>): CacheEntry {
  return {
    key: 'GET http://a/',
    url: 'http://a/',
    status: 200,
    statusText: 'OK',
    headers: [],
    body: Buffer.alloc(0),
    varyNames: [],
    varyValues: [],
    responseTime: NOW,
    initialAge: 0,
    lifetime: 60,
    etag: '"v1"',
    lastModified: undefined,
    mustRevalidate: false,
    noCache: false,
    staleWhileRevalidate: 0,
    staleIfError: 0,
    ...over,
  };
}

describe('reuseOf (§4, §5.2.1, RFC 5861)', () => {
  const at = (s: number): number => NOW + s * 1000;
  it.each<[string, Partial<CacheEntry>, string, number, string]>([
    ['§4.2 fresh', {}, '', 10, 'fresh'],
    ['§4.2 stale', {}, '', 70, 'validate'],
    ['§5.2.1.4 request no-cache validates a fresh entry', {}, 'no-cache', 10, 'validate'],
    ['§5.2.2.4 response no-cache validates every time', { noCache: true }, '', 1, 'validate'],
    ['§5.2.1.1 request max-age below the age', {}, 'max-age=5', 10, 'validate'],
    ['§5.2.1.1 request max-age above the age', {}, 'max-age=30', 10, 'fresh'],
    ['§5.2.1.3 min-fresh not met', {}, 'min-fresh=55', 10, 'validate'],
    ['§5.2.1.3 min-fresh met', {}, 'min-fresh=40', 10, 'fresh'],
    ['§5.2.1.2 max-stale without a value accepts any staleness', {}, 'max-stale', 10_000, 'stale'],
    ['§5.2.1.2 max-stale=30 within', {}, 'max-stale=30', 80, 'stale'],
    ['§5.2.1.2 max-stale=30 beyond', {}, 'max-stale=30', 100, 'validate'],
    ['§5.2.2.2 must-revalidate ignores max-stale', { mustRevalidate: true }, 'max-stale', 80, 'validate'],
    ['RFC 5861 §3 within stale-while-revalidate', { staleWhileRevalidate: 30 }, '', 80, 'swr'],
    ['RFC 5861 §3 beyond stale-while-revalidate', { staleWhileRevalidate: 30 }, '', 100, 'validate'],
  ])('%s', (_n, over, cc, t, want) => {
    expect(reuseOf(entry(over), parseCacheControl(cc), at(t))).toBe(want);
  });

  it('§5.4 Pragma: no-cache validates', () => {
    expect(reuseOf(entry({}), {}, at(1), true)).toBe('validate');
  });
});

describe('staleOnError (RFC 5861 §4, §4.2.4)', () => {
  const at = (s: number): number => NOW + s * 1000;
  it.each<[string, Partial<CacheEntry>, string, boolean, number, boolean]>([
    ['stale-if-error in the response covers the error', { staleIfError: 60 }, '', false, 0, true],
    ['stale-if-error in the request', {}, 'stale-if-error=60', false, 0, true],
    ['beyond stale-if-error', { staleIfError: 10 }, '', false, 0, false],
    ['no directive, origin unreachable, config grace covers it', {}, '', true, 120, true],
    ['config grace only applies when unreachable', {}, '', false, 120, false],
    ['§5.2.2.2 must-revalidate: never stale', { staleIfError: 600, mustRevalidate: true }, '', true, 600, false],
    ['§5.2.2.4 no-cache: never stale', { staleIfError: 600, noCache: true }, '', true, 600, false],
  ])('%s', (_n, over, cc, unreachable, grace, want) => {
    expect(staleOnError(entry(over), parseCacheControl(cc), at(100), unreachable, grace)).toBe(want);
  });
});
