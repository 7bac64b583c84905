import { Writable } from 'node:stream';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { AccessLog, type AccessRecord } from '../../src/log/access-log.js';
import { jsonMillis, jsonNumber, jsonString, jsonValue, keyTexts } from '../../src/log/json-text.js';

/**
 * The access log builds its JSON text by concatenation (log/json-text.ts); it must be
 * byte for byte what JSON.stringify writes, whatever a client put in a URL or a header.
 */

const AWKWARD = [
  '', 'plain', 'http://h.test/a?b=c&d=e#f', 'quote"inside', 'back\\slash', 'tab\there', 'nl\nline', 'nul\u0000', 'esc\u001b[31m',
  'del\u007f', 'caf\u00e9', '\u2028sep', '\ud83d\ude00 emoji', 'lone \ud800 high', 'lone \udc00 low', '</script>', "'single'",
];

describe('json-text', () => {
  it('jsonString writes what JSON.stringify writes', () => {
    for (const s of AWKWARD) expect(jsonString(s)).toBe(JSON.stringify(s));
    expect(jsonString(null)).toBe('null');
  });

  it('jsonNumber writes what JSON.stringify writes, NaN and Infinity as null', () => {
    for (const n of [0, -0, 1, -7, 1024, 0.001, 12.345, 1e21, 5e-7, Number.MAX_SAFE_INTEGER, NaN, Infinity, -Infinity]) {
      expect(jsonNumber(n)).toBe(JSON.stringify(n));
    }
  });

  it('jsonMillis writes what JSON.stringify writes of the value rounded to the microsecond', () => {
    const rounded = (v: number): number => Math.round(v * 1000) / 1000;
    const values = [0, -0, 0.0004, 0.0005, 0.001, 0.01, 0.1, 0.5, 1, 2.5, 3.25, 12.345, 12.3456, 999.9995, 1000, 86_400_000.123, 1e11 + 0.999, 1e12, 1e15, 1e21, -1, -0.0004, NaN, Infinity];
    let seed = 7;
    for (let i = 0; i < 20_000; i++) {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      values.push((seed / 2 ** 31) * 10 ** (i % 10));
    }
    for (const v of values) expect(jsonMillis(v), String(v)).toBe(JSON.stringify(rounded(v)));
  });

  it('jsonValue is JSON.stringify, with undefined as null', () => {
    expect(jsonValue({ a: [1, 'x"'] })).toBe('{"a":[1,"x\\""]}');
    expect(jsonValue(undefined)).toBe('null');
  });

  it('keyTexts quotes each name once', () => {
    expect(keyTexts({ id: 'id', odd: 'a"b' })).toEqual({ id: ',"id":', odd: ',"a\\"b":' });
  });
});

function record(over: Partial<AccessRecord> = {}): AccessRecord {
  return {
    id: 'abc-1', kind: 'http', mode: 'forward', clientIp: '127.0.0.1', clientPort: 5000, method: 'GET', url: 'http://h.test/x', status: 200,
    bytesIn: 0, bytesOut: 1024, startedAt: 0, upstream: '127.0.0.1:80', errorCode: null, errorReason: null, tls: 'plain', sni: null,
    user: null, groups: [], cache: null, decision: null, quota: null, dnsMs: -1, connectMs: -1, tlsMs: -1, ttfbMs: -1,
    requestHeaders: null, responseHeaders: null, ...over,
  } as AccessRecord;
}

/** The line as one JSON.stringify of the documented field order writes it (the reference). */
function reference(r: AccessRecord, level: number, base: Record<string, unknown> | null, durationMs: number): Record<string, unknown> {
  const timing: Record<string, number> = {};
  if (r.dnsMs >= 0) timing.dnsMs = r.dnsMs;
  if (r.connectMs >= 0) timing.connectMs = r.connectMs;
  if (r.tlsMs >= 0) timing.tlsMs = r.tlsMs;
  if (r.ttfbMs >= 0) timing.ttfbMs = r.ttfbMs;
  return {
    level, time: 'T', ...base, id: r.id, kind: r.kind, mode: r.mode, client: r.clientIp, user: r.user,
    groups: r.groups.length ? r.groups : undefined, method: r.method, url: r.url, status: r.status, bytesIn: r.bytesIn, bytesOut: r.bytesOut,
    durationMs, timing: Object.keys(timing).length ? timing : null, upstream: r.upstream, error: r.errorCode, reason: r.errorReason,
    tls: r.tls, sni: r.sni,
    decision: r.decision && { action: r.decision.action, rule: r.decision.ruleId, reason: r.decision.reason, mode: r.decision.mode },
    cache: r.cache, quota: r.quota && { profile: r.quota.profile.name, tokens: Math.floor(r.quota.tokens), left: r.quota.left - r.bytesOut },
    requestHeaders: r.requestHeaders ?? undefined, responseHeaders: r.responseHeaders ?? undefined,
    msg: r.kind === 'http' ? 'request' : 'tunnel',
  };
}

function linesOf(records: AccessRecord[], base: Record<string, unknown> | null): string[] {
  const out: string[] = [];
  const sink = new Writable({ write: (chunk, _enc, cb) => (out.push(String(chunk)), cb()) });
  const log = new AccessLog(sink, { base });
  for (const r of records) log.write(r, r.startedAt + 2.5);
  log.flush();
  return out.join('').split('\n').filter(Boolean);
}

describe('access-log line text', () => {
  const records = [
    record(),
    record({ kind: 'connect', method: 'CONNECT', url: 'h.test:443', tls: 'tunnel', status: 200, dnsMs: 0.5, connectMs: 1.25 }),
    record({ user: 'ann "the admin"', groups: ['staff', 'caf\u00e9'], url: 'http://h.test/\u00e9?q="x"', ttfbMs: 3 }),
    record({ status: 502, errorCode: 'UPSTREAM_RESET', errorReason: 'reset\nby peer \ud800', upstream: null, sni: 'h.test' }),
    record({ decision: { action: 'deny', ruleId: 'r"1', reason: 'Not\there', mode: 'enforce' }, status: 403, errorCode: 'POLICY_DENIED', errorReason: 'denied' }),
    record({ quota: { profile: { name: 'std' }, hit: null, tokens: 4.7, left: 5000, unmetered: false } as unknown as AccessRecord['quota'], cache: 'miss' }),
    record({ requestHeaders: { 'user-agent': 'curl/8 "x"' }, responseHeaders: { 'content-type': 'text/html' } }),
  ];

  for (const base of [null, { worker: 2 }]) {
    it(`is what JSON.stringify writes for the same fields (${base ? 'with' : 'without'} base fields)`, () => {
      const lines = linesOf(records, base);
      expect(lines).toHaveLength(records.length);
      lines.forEach((line, i) => {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        const want = reference(records[i]!, parsed.level as number, base, 2.5);
        // Same text, key order included: the time is the one field the reference cannot know.
        expect(line).toBe(JSON.stringify({ ...want, time: parsed.time }));
      });
    });
  }
});

describe('access-log line time', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('is the ISO time of the write, to the millisecond, across second and day boundaries', () => {
    vi.useFakeTimers();
    const times = ['2026-12-02T13:00:00.007Z', '2026-12-02T13:00:00.007Z', '2026-12-02T13:00:00.070Z', '2026-12-02T13:00:00.700Z', '2026-12-02T13:00:01.000Z', '2026-12-02T23:59:59.999Z', '2026-12-03T00:00:00.001Z'];
    const out: string[] = [];
    const sink = new Writable({ write: (chunk, _enc, cb) => (out.push(String(chunk)), cb()) });
    const log = new AccessLog(sink);
    for (const t of times) {
      vi.setSystemTime(new Date(t));
      log.write(record(), 0);
    }
    log.flush();
    const got = out.join('').split('\n').filter(Boolean).map((l) => (JSON.parse(l) as { time: string }).time);
    expect(got).toEqual(times);
  });
});
