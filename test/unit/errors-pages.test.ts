import { describe, expect, it } from 'vitest';
import { ERROR_STATUS, isEarlyClose, ProxyError, toProxyError } from '../../src/http/errors.js';
import { errorHtml, errorText, escapeHtml, helpHtml, wantsHtml, type PageInfo } from '../../src/http/pages.js';

describe('ProxyError', () => {
  it('carries the status of its code', () => {
    for (const [code, status] of Object.entries(ERROR_STATUS)) {
      const e = new ProxyError(code as keyof typeof ERROR_STATUS, 'x');
      expect(e.status).toBe(status);
      expect(e.code).toBe(code);
    }
  });

  it.each([
    ['BAD_TARGET', 400],
    ['DESTINATION_FORBIDDEN', 403],
    ['PORT_FORBIDDEN', 403],
    ['REQUEST_TIMEOUT', 408],
    ['HEADERS_TOO_LARGE', 431],
    ['DNS_FAILED', 502],
    ['UPSTREAM_REFUSED', 502],
    ['TOO_MANY_CONNECTIONS', 503],
    ['UPSTREAM_TIMEOUT', 504],
    ['LOOP_DETECTED', 508],
  ] as const)('%s → %d', (code, status) => {
    expect(ERROR_STATUS[code]).toBe(status);
  });
});

describe('toProxyError: one errno table', () => {
  const errno = (code: string, extra: object = {}): Error => Object.assign(new Error(code), { code, ...extra });
  it.each([
    ['ECONNREFUSED', 'UPSTREAM_REFUSED', 502],
    ['ECONNRESET', 'UPSTREAM_RESET', 502],
    ['EPIPE', 'UPSTREAM_RESET', 502],
    ['EHOSTUNREACH', 'UPSTREAM_UNREACHABLE', 502],
    ['ENETUNREACH', 'UPSTREAM_UNREACHABLE', 502],
    ['ETIMEDOUT', 'UPSTREAM_TIMEOUT', 504],
    ['ENOTFOUND', 'DNS_FAILED', 502],
    ['EAI_AGAIN', 'DNS_FAILED', 502],
    ['UND_ERR_HEADERS_TIMEOUT', 'UPSTREAM_TIMEOUT', 504],
    ['UND_ERR_CONNECT_TIMEOUT', 'UPSTREAM_TIMEOUT', 504],
    ['UND_ERR_BODY_TIMEOUT', 'UPSTREAM_TIMEOUT', 504],
    ['UND_ERR_SOCKET', 'UPSTREAM_RESET', 502],
    ['HPE_INVALID_CONSTANT', 'UPSTREAM_PROTOCOL', 502],
  ] as const)('%s → %s (%d)', (code, want, status) => {
    const pe = toProxyError(errno(code));
    expect(pe.code).toBe(want);
    expect(pe.status).toBe(status);
  });

  it('looks through undici wrappers to the socket errno on the cause', () => {
    expect(toProxyError(errno('UND_ERR_SOMETHING_NEW', { cause: errno('ECONNREFUSED') })).code).toBe('UPSTREAM_REFUSED');
  });

  it('returns a ProxyError as it is, and one found on the cause', () => {
    const inner = new ProxyError('DESTINATION_FORBIDDEN', 'no');
    expect(toProxyError(inner)).toBe(inner);
    expect(toProxyError(Object.assign(new Error('wrapped'), { cause: inner }))).toBe(inner);
  });

  // Regression (test/faults-origin.test.ts): undici 7's HTTPParserError has no code.
  it.each([
    ['Response does not match the HTTP/1.1 protocol (Expected HTTP/, RTSP/ or ICE/)', 'Expected HTTP/, RTSP/ or ICE/'],
    ['Response does not match the HTTP/1.1 protocol (Invalid header token)', 'Invalid header token'],
    ['Response does not match the HTTP/1.1 protocol', 'unparsable'],
  ])('an undici HTTPParserError without a code (%s) → UPSTREAM_PROTOCOL naming the defect', (message, detail) => {
    const pe = toProxyError(Object.assign(new Error(message), { name: 'HTTPParserError', code: undefined }));
    expect(pe.code).toBe('UPSTREAM_PROTOCOL');
    expect(pe.message).toBe(`destination sent an invalid HTTP response (${detail})`);
  });

  it.each([
    [{ code: 'UND_ERR_SOCKET', message: 'other side closed' }, true],
    [{ code: 'UND_ERR_SOCKET', message: 'read ECONNRESET' }, false],
    [{ code: 'ECONNRESET', message: 'other side closed' }, false],
    [undefined, false],
  ])('isEarlyClose(%o) is %s', (err, want) => {
    expect(isEarlyClose(err)).toBe(want);
  });

  it('maps anything unknown to UPSTREAM_ERROR (502), keeping the message', () => {
    const pe = toProxyError(new Error('weird thing'));
    expect(pe.code).toBe('UPSTREAM_ERROR');
    expect(pe.status).toBe(502);
    expect(pe.message).toContain('weird thing');
    expect(toProxyError('a string').code).toBe('UPSTREAM_ERROR');
    expect(toProxyError(undefined).code).toBe('UPSTREAM_ERROR');
  });
});

describe('error pages', () => {
  const info: PageInfo = {
    status: 403,
    code: 'DESTINATION_FORBIDDEN',
    reason: 'destination <evil> & "friends" is private',
    requestId: 'abcd1234-1f',
    target: 'GET http://internal.example/<x>',
    adminContact: 'IT <it@example.test>',
    proxyName: 'egressd',
  };

  it('text: exactly one line with status, reason, code and request id', () => {
    const t = errorText(info);
    expect(t.endsWith('\n')).toBe(true);
    expect(t.trimEnd().split('\n')).toHaveLength(1);
    expect(t).toBe('403 Forbidden: destination <evil> & "friends" is private (DESTINATION_FORBIDDEN, request abcd1234-1f)\n');
  });

  it('HTML: has reason, code, target, request id and admin contact, all escaped', () => {
    const h = errorHtml(info);
    expect(h).toMatch(/^<!doctype html>/);
    expect(h).toContain('<title>403 Forbidden</title>');
    expect(h).toContain('destination &lt;evil&gt; &amp; &quot;friends&quot; is private');
    expect(h).toContain('DESTINATION_FORBIDDEN');
    expect(h).toContain('abcd1234-1f');
    expect(h).toContain('GET http://internal.example/&lt;x&gt;');
    expect(h).toContain('IT &lt;it@example.test&gt;');
    expect(h).not.toContain('<evil>');
    expect(h).not.toContain('<x>');
    // Self-contained: no external resources.
    expect(h).not.toMatch(/<(script|link|img)\b/);
  });

  it('HTML without an admin contact falls back to a generic helpdesk line', () => {
    const h = errorHtml({ ...info, adminContact: undefined });
    expect(h).toContain('IT helpdesk');
  });

  it.each([
    ['text/html,application/xhtml+xml,*/*;q=0.8', true],
    ['text/html', true],
    ['*/*', false],
    ['application/json', false],
    [undefined, false],
  ] as const)('wantsHtml(%j) → %s', (accept, want) => {
    expect(wantsHtml(accept)).toBe(want);
  });

  it('escapeHtml escapes the five specials', () => {
    expect(escapeHtml(`<a href="x">'&'</a>`)).toBe('&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;');
  });

  it('the help page names the proxy and escapes the Host it was reached at', () => {
    const h = helpHtml('egressd', 'proxy.corp:3128<script>');
    expect(h).toContain('This is egressd, an HTTP proxy');
    expect(h).toContain('HTTP_PROXY=http://proxy.corp:3128&lt;script&gt;');
    expect(h).not.toContain('<script>');
  });
});
