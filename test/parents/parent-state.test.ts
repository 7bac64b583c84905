import { describe, expect, it } from 'vitest';
import { Parent } from '../../src/upstream/parents/parent.js';
import { basicAuthorization, parseProxyUrl } from '../../src/http/proxy-url.js';

/** A parent's health state machine: passive ejection with backoff, half-open trial, active rise/fall. */

const spec = { name: 'p', host: '10.0.0.1', port: 3128, authorization: null, weight: 1, maxConnections: 2 };
const make = () => new Parent(spec, { failures: 3, base: 1000, max: 4000 });

describe('passive health', () => {
  it('three consecutive failures eject it for base; a success in between resets the count', () => {
    const p = make();
    p.failed(0);
    p.failed(0);
    p.succeeded();
    p.failed(0);
    p.failed(0);
    expect(p.state(0)).toBe('up');
    p.failed(0);
    expect(p.state(10)).toBe('ejected');
    expect(p.usable(999)).toBe(false);
    expect(p.status(10)).toMatchObject({ state: 'ejected', ejectedUntil: new Date(1000).toISOString(), failures: 5 });
  });

  it('after the backoff one trial request goes through (half-open); its failure ejects again for twice as long, up to max', () => {
    const p = make();
    for (let i = 0; i < 3; i++) p.failed(0);
    expect(p.state(1000)).toBe('half-open');
    expect(p.usable(1000)).toBe(true);
    p.begin(1000);
    expect(p.usable(1000)).toBe(false); // one trial at a time
    p.end();
    p.failed(1000);
    expect(p.state(2999)).toBe('ejected');
    expect(p.state(3000)).toBe('half-open');
    p.begin(3000);
    p.end();
    p.failed(3000);
    expect(p.state(6999)).toBe('ejected');
    p.begin(7000);
    p.end();
    p.failed(7000);
    // Capped at max (4000): not 8000.
    expect(p.state(10_999)).toBe('ejected');
    expect(p.state(11_000)).toBe('half-open');
  });

  it('a successful trial brings it back up and resets the backoff', () => {
    const p = make();
    for (let i = 0; i < 3; i++) p.failed(0);
    p.begin(1000);
    p.end();
    p.succeeded();
    expect(p.state(1000)).toBe('up');
    for (let i = 0; i < 3; i++) p.failed(2000);
    expect(p.state(2999)).toBe('ejected');
    expect(p.state(3000)).toBe('half-open');
  });

  it('is not usable at maxConnections', () => {
    const p = make();
    p.begin(0);
    p.begin(0);
    expect(p.usable(0)).toBe(false);
    p.end();
    expect(p.usable(0)).toBe(true);
  });
});

describe('active checks', () => {
  it('fall failures take it down, rise successes bring it back', () => {
    const p = make();
    p.checked(false, 2, 2);
    expect(p.state(0)).toBe('up');
    p.checked(false, 2, 2);
    expect(p.state(0)).toBe('down');
    expect(p.usable(0)).toBe(false);
    p.checked(true, 2, 2);
    expect(p.state(0)).toBe('down');
    p.checked(true, 2, 2);
    expect(p.state(0)).toBe('up');
  });
});

describe('parent URLs', () => {
  const ok: [string, object][] = [
    ['http://10.0.0.1:3128', { host: '10.0.0.1', port: 3128, username: null, password: null }],
    ['http://Proxy.Corp.Example:8080/', { host: 'proxy.corp.example', port: 8080, username: null }],
    ['http://[::1]:3128', { host: '::1', port: 3128 }],
    ['http://svc:p%40ss%3Aw@10.0.0.2:3128', { username: 'svc', password: 'p@ss:w' }],
  ];
  for (const [url, want] of ok) it(`parses ${url}`, () => expect(parseProxyUrl(url)).toMatchObject(want));

  const bad: [string, RegExp][] = [
    ['http://10.0.0.1', /port is required/],
    ['https://10.0.0.1:3128', /TLS to a parent proxy/],
    ['socks5://10.0.0.1:1080', /must be http:/],
    ['http://10.0.0.1:70000', /out of range/],
    ['http://[1:2:3]:3128', /not an IPv6 address/],
    ['http://u:%zz@h:1', /percent-encoding/],
  ];
  for (const [url, want] of bad) it(`rejects ${url}`, () => expect(parseProxyUrl(url)).toMatch(want));

  it('credentials become a Basic Proxy-Authorization value', () => {
    const u = parseProxyUrl('http://svc:s3cret@h:1');
    expect(typeof u !== 'string' && basicAuthorization(u)).toBe(`Basic ${Buffer.from('svc:s3cret').toString('base64')}`);
  });
});
