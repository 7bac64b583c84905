import { describe, expect, it } from 'vitest';
import { redactUrl } from '../src/log/redact.js';
import { rawExchange } from './helpers/raw.js';
import { startTestProxy } from './helpers/proxy.js';

/** What of a URL reaches the access log: never credentials; query values only when allowed. */

describe('redactUrl', () => {
  const table: [string, boolean, string][] = [
    ['http://e.example/a?x=1', false, 'http://e.example/a?x=1'],
    ['http://e.example/a?token=s3cret&page=2&flag', true, 'http://e.example/a?token=***&page=***&flag'],
    ['http://e.example/a?q=1#frag', true, 'http://e.example/a?q=***'],
    ['http://user:pass@e.example/a', false, 'http://***@e.example/a'],
    ['HTTPS://u@e.example:8443/?k=v', true, 'HTTPS://***@e.example:8443/?k=***'],
    ['http://e.example/mail/a@b.example', false, 'http://e.example/mail/a@b.example'],
    ['e.example:443', true, 'e.example:443'],
    // Regression: a CONNECT target with userinfo was logged with the password.
    ['alice:s3cret@e.example:443', false, '***@e.example:443'],
    ['u@[::1]:443', false, '***@[::1]:443'],
    ['/mail/a@b.example', false, '/mail/a@b.example'],
    ['/local?x=1', true, '/local?x=***'],
  ];
  for (const [url, query, want] of table) it(`${url} (query ${query}) → ${want}`, () => expect(redactUrl(url, query)).toBe(want));
});

describe('through the proxy', () => {
  it('a target with userinfo is refused (400) and its log line has no credentials; query values are masked with log.redact.query', async () => {
    const px = await startTestProxy({ log: { redact: { query: true } } });
    try {
      const r = await rawExchange(px.port, 'GET http://alice:hunter2@127.0.0.1:9/x?token=tok3nvalue HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n');
      expect(r.text).toMatch(/^HTTP\/1\.1 400 /);
      const line = await px.access.waitFor((l) => String(l.url).includes('127.0.0.1:9'));
      expect(line.error).toBe('BAD_TARGET');
      expect(line.url).toBe('http://***@127.0.0.1:9/x?token=***');
      expect(JSON.stringify(px.access.lines)).not.toContain('hunter2');
      expect(JSON.stringify(px.access.lines)).not.toContain('tok3nvalue');
    } finally {
      await px.close();
    }
  });
});
