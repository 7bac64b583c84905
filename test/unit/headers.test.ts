import { describe, expect, it } from 'vitest';
import { forwardRequestHeaders, forwardResponseHeaders, headerValue, viaNames, type RequestHeaderOptions } from '../../src/http/headers.js';

const opts = (o: Partial<RequestHeaderOptions> = {}): RequestHeaderOptions => ({ host: 'example.com', via: '1.1 egressd', xff: 'off', clientIp: '192.0.2.7', ...o });

/** Flat raw list → [name, value] pairs, names lowercased for comparison. */
function pairs(flat: readonly string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < flat.length; i += 2) out.push([flat[i]!.toLowerCase(), flat[i + 1]!]);
  return out;
}
const names = (flat: readonly string[]): string[] => pairs(flat).map(([n]) => n);
const all = (flat: readonly string[], name: string): string[] => pairs(flat).filter(([n]) => n === name).map(([, v]) => v);

describe('forwardRequestHeaders', () => {
  it('removes hop-by-hop fields, Proxy-Connection and Proxy-Authorization', () => {
    const raw = [
      'Host', 'wrong.example',
      'Connection', 'keep-alive',
      'Keep-Alive', 'timeout=5',
      'Proxy-Connection', 'keep-alive',
      'Proxy-Authorization', 'Basic c2VjcmV0',
      'Proxy-Authenticate', 'Basic',
      'TE', 'trailers',
      'Transfer-Encoding', 'chunked',
      'Upgrade', 'websocket',
      'Accept', '*/*',
      'User-Agent', 'test',
    ];
    const out = forwardRequestHeaders(raw, opts(), 'egressd');
    expect(names(out.headers).sort()).toEqual(['accept', 'host', 'user-agent', 'via']);
    expect(out.loop).toBe(false);
  });

  it('removes every field named in Connection (several headers, odd spacing and case)', () => {
    const raw = ['Connection', 'X-Foo ,  x-bar', 'connection', 'X-BAZ', 'X-Foo', '1', 'x-bar', '2', 'X-Baz', '3', 'X-Keep', '4'];
    const out = forwardRequestHeaders(raw, opts(), 'egressd');
    expect(names(out.headers).sort()).toEqual(['host', 'via', 'x-keep']);
  });

  it('sets Host from the target whatever the client sent (RFC 9112 §3.2.2), exactly once', () => {
    const out = forwardRequestHeaders(['Host', 'evil.example', 'host', 'other'], opts({ host: 'example.com:8080' }), 'egressd');
    expect(all(out.headers, 'host')).toEqual(['example.com:8080']);
  });

  it('appends its own Via after an existing one, and omits Via when disabled', () => {
    const out = forwardRequestHeaders(['Via', '1.0 fred'], opts(), 'egressd');
    expect(all(out.headers, 'via')).toEqual(['1.0 fred', '1.1 egressd']);
    expect(out.loop).toBe(false);
    const none = forwardRequestHeaders([], opts({ via: null }), 'egressd');
    expect(all(none.headers, 'via')).toEqual([]);
  });

  it.each([
    ['1.1 egressd', true],
    ['1.1 EGRESSD', true],
    ['1.0 fred, 1.1 egressd', true],
    ['1.0 fred,1.1   egressd (comment)', true],
    ['HTTP/1.1 egressd', true],
    ['1.1 egressd-2', false],
    ['1.1 notegressd', false],
    ['egressd', false], // no protocol: "egressd" is the version, not the name
    ['1.1 fred', false],
  ] as const)('Via %j → loop %s', (via, loop) => {
    expect(forwardRequestHeaders(['Via', via], opts(), 'egressd').loop).toBe(loop);
    expect(viaNames(via, 'egressd')).toBe(loop);
  });

  it('detects a loop for a custom proxy name', () => {
    expect(forwardRequestHeaders(['Via', '1.1 proxy-a.corp'], opts({ via: '1.1 proxy-a.corp' }), 'proxy-a.corp').loop).toBe(true);
    expect(forwardRequestHeaders(['Via', '1.1 proxy-a.corp'], opts({ via: '1.1 proxy-b.corp' }), 'proxy-b.corp').loop).toBe(false);
  });

  it('X-Forwarded-For "off" drops what the client sent and adds nothing', () => {
    const out = forwardRequestHeaders(['X-Forwarded-For', '10.0.0.1'], opts({ xff: 'off' }), 'egressd');
    expect(all(out.headers, 'x-forwarded-for')).toEqual([]);
  });

  it('X-Forwarded-For "keep" passes the client value through (joined into one) and adds nothing', () => {
    const out = forwardRequestHeaders(['X-Forwarded-For', '10.0.0.1', 'x-forwarded-for', '10.0.0.2'], opts({ xff: 'keep' }), 'egressd');
    expect(all(out.headers, 'x-forwarded-for')).toEqual(['10.0.0.1, 10.0.0.2']);
    expect(all(forwardRequestHeaders([], opts({ xff: 'keep' }), 'egressd').headers, 'x-forwarded-for')).toEqual([]);
  });

  it('X-Forwarded-For "append" adds the client address after existing entries', () => {
    expect(all(forwardRequestHeaders(['X-Forwarded-For', '10.0.0.1'], opts({ xff: 'append' }), 'egressd').headers, 'x-forwarded-for')).toEqual([
      '10.0.0.1, 192.0.2.7',
    ]);
    expect(all(forwardRequestHeaders([], opts({ xff: 'append' }), 'egressd').headers, 'x-forwarded-for')).toEqual(['192.0.2.7']);
  });

  it.each([
    ['0', 0],
    ['5', 5],
    [' 7 ', 7],
    ['-1', undefined],
    ['abc', undefined],
    ['1.5', undefined],
    ['', undefined],
  ] as const)('Max-Forwards %j → %s', (v, want) => {
    expect(forwardRequestHeaders(['Max-Forwards', v], opts(), 'egressd').maxForwards).toBe(want);
  });

  it('drops Expect (100-continue is answered hop by hop)', () => {
    expect(names(forwardRequestHeaders(['Expect', '100-continue'], opts(), 'egressd').headers)).not.toContain('expect');
  });

  it('keeps Upgrade and Connection: upgrade for a WebSocket handshake when asked', () => {
    const raw = ['Connection', 'Upgrade', 'Upgrade', 'websocket', 'Sec-WebSocket-Key', 'k'];
    const out = forwardRequestHeaders(raw, opts({ upgrade: true }), 'egressd');
    expect(all(out.headers, 'upgrade')).toEqual(['websocket']);
    expect(all(out.headers, 'connection')).toEqual(['upgrade']);
    expect(all(out.headers, 'sec-websocket-key')).toEqual(['k']);
  });

  it('keeps end-to-end fields, their order and their original case', () => {
    const raw = ['X-B', '2', 'Accept', 'a', 'x-a', '1', 'Cookie', 'c=1'];
    const out = forwardRequestHeaders(raw, opts(), 'egressd');
    expect(out.headers).toEqual(['host', 'example.com', 'X-B', '2', 'Accept', 'a', 'x-a', '1', 'Cookie', 'c=1', 'via', '1.1 egressd']);
  });
});

describe('forwardResponseHeaders', () => {
  it('removes hop-by-hop and Connection-listed fields, accepts Buffers, appends Via', () => {
    const raw = ['Content-Type', 'text/plain', 'Connection', 'keep-alive, X-Secret', 'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'X-Secret', 's', 'Proxy-Authenticate', 'Basic', 'Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'].map((s) => Buffer.from(s, 'latin1'));
    const out = forwardResponseHeaders(raw, '1.1 egressd');
    expect(pairs(out)).toEqual([
      ['content-type', 'text/plain'],
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['via', '1.1 egressd'],
    ]);
  });

  it('keeps an origin Via and adds its own after it; none when disabled', () => {
    expect(all(forwardResponseHeaders(['Via', '1.1 origin-cdn'], '1.1 egressd'), 'via')).toEqual(['1.1 origin-cdn', '1.1 egressd']);
    expect(all(forwardResponseHeaders(['Via', '1.1 origin-cdn'], null), 'via')).toEqual(['1.1 origin-cdn']);
  });

  it('removes every hop-by-hop field in any case when no Connection field is present', () => {
    const raw = ['Keep-Alive', 'timeout=5', 'TE', 'trailers', 'Transfer-Encoding', 'chunked', 'UPGRADE', 'h2c', 'Proxy-Connection', 'x', 'proxy-Authorization', 'y', 'Proxy-Authenticate', 'z', 'Content-Type', 't', 'X-Thirty-Four-Characters-Long-Name', 'v'];
    expect(forwardResponseHeaders(raw, null)).toEqual(['Content-Type', 't', 'X-Thirty-Four-Characters-Long-Name', 'v']);
  });

  it('removes Connection-listed fields of any length and case, whatever else Connection lists', () => {
    const long = 'X-Listed-Name-Of-Thirty-Six-Letters'; // 35 characters: its bit is 35 modulo 32
    const raw = ['connection', `keep-alive, close, ${long.toUpperCase()}, x-ab`, 'Close', 'c', long, 'l', 'X-AB', 'a', 'X-Thirty-Four-Characters-Long-Name', 'v', 'Server', 's', 'Keep-Alive', 'timeout=5'];
    expect(forwardResponseHeaders(raw, null)).toEqual(['X-Thirty-Four-Characters-Long-Name', 'v', 'Server', 's']);
    expect(forwardResponseHeaders(['Connection', 'keep-alive', 'Content-Length', '3', 'Keep-Alive', 'timeout=5', 'TE', 'x'], null)).toEqual(['Content-Length', '3']);
  });

  it('keeps Upgrade/Connection for a 101 when asked', () => {
    const out = forwardResponseHeaders(['Upgrade', 'websocket', 'Connection', 'Upgrade', 'Sec-WebSocket-Accept', 'x'], null, true);
    expect(names(out)).toEqual(['upgrade', 'connection', 'sec-websocket-accept']);
  });

  it('decodes latin1 header bytes without mangling them', () => {
    const out = forwardResponseHeaders([Buffer.from('X-Name'), Buffer.from([0x63, 0x61, 0x66, 0xe9])], null);
    expect(out).toEqual(['X-Name', 'caf\u00e9']);
  });
});

describe('headerValue', () => {
  it('finds the first value case-insensitively', () => {
    expect(headerValue(['A', '1', 'upgrade', 'ws', 'Upgrade', 'h2c'], 'upgrade')).toBe('ws');
    expect(headerValue(['A', '1'], 'upgrade')).toBeUndefined();
  });
});
