import { describe, expect, it } from 'vitest';
import { HeaderFields } from '../../src/log/header-fields.js';

/** Which header fields reach the access log, and how they are masked. */

const raw = (...pairs: string[]): Buffer[] => pairs.map((p) => Buffer.from(p, 'latin1'));

describe('HeaderFields', () => {
  it('is null when nothing is chosen: the hot path pays one check', () => {
    expect(HeaderFields.build({ request: [], response: [], redact: ['cookie'] })).toBeNull();
  });

  const h = HeaderFields.build({ request: ['User-Agent', 'cookie', 'authorization', 'proxy-authorization', 'x-absent'], response: ['Content-Type', 'set-cookie'], redact: ['cookie', 'set-cookie'] })!;

  it('picks the chosen request fields (names case-insensitive), masks redacted ones, credentials by scheme only', () => {
    expect(h.fromRequest({ 'user-agent': 'curl/8', cookie: 'sid=1', authorization: 'Bearer abc.def', 'proxy-authorization': 'Basic YTpi', accept: '*/*' })).toEqual({
      'user-agent': 'curl/8',
      cookie: '***',
      authorization: 'Bearer ***',
      'proxy-authorization': 'Basic ***',
    });
    expect(h.fromRequest({ 'proxy-authorization': '   ' })).toEqual({ 'proxy-authorization': '***' });
    expect(h.fromRequest({ accept: '*/*' })).toBeNull();
  });

  it('joins repeated fields and cuts very long values', () => {
    expect(h.fromRequest({ 'user-agent': 'x'.repeat(600) })!['user-agent']).toBe(`${'x'.repeat(512)}…`);
    expect(h.fromResponse(raw('Content-Type', 'text/html', 'Set-Cookie', 'a=1', 'set-cookie', 'b=2', 'Server', 'nginx'))).toEqual({ 'content-type': 'text/html', 'set-cookie': '***, ***' });
    expect(h.fromResponse(raw('server', 'nginx'))).toBeNull();
  });

  it('response fields are skipped entirely when none is chosen', () => {
    const reqOnly = HeaderFields.build({ request: ['user-agent'], response: [], redact: [] })!;
    expect(reqOnly.fromResponse(raw('content-type', 'text/html'))).toBeNull();
  });
});
