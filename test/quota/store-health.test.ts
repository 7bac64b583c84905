import { describe, expect, it } from 'vitest';
import { StoreHealth } from '../../src/quota/store-health.js';

describe('StoreHealth: rate-limited outage logging', () => {
  it('one warning per outage, a reminder per interval with the count, one line on recovery', () => {
    const lines: [string, Record<string, unknown>, string][] = [];
    const h = new StoreHealth({ info: (o, m) => lines.push(['info', o as Record<string, unknown>, m]), warn: (o, m) => lines.push(['warn', o as Record<string, unknown>, m]) }, 'redis x', 'closed', 30_000);
    // [ms, event]: failures at a request rate, a recovery, a second outage.
    const events: [number, 'fail' | 'ok'][] = [[0, 'fail'], [10, 'fail'], [29_999, 'fail'], [30_000, 'fail'], [30_001, 'fail'], [40_000, 'ok'], [40_001, 'ok'], [50_000, 'fail']];
    for (const [t, e] of events) {
      if (e === 'fail') h.failed(new Error('ECONNREFUSED'), t);
      else h.ok();
    }
    expect(lines.map(([level, , msg]) => `${level} ${msg}`)).toEqual([
      'warn quota store redis x unreachable: failing closed (requests are refused with 503)',
      'warn quota store redis x still unreachable: failing closed',
      'info quota store redis x reachable again: quotas enforced',
      'warn quota store redis x unreachable: failing closed (requests are refused with 503)',
    ]);
    expect(lines[1]![1]).toMatchObject({ failures: 4, err: 'ECONNREFUSED' });
    expect(lines[2]![1]).toMatchObject({ failures: 5 });
    expect(h.healthy).toBe(false);
  });
});
