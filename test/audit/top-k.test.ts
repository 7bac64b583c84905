import { describe, expect, it } from 'vitest';
import { TopK } from '../../src/audit/top-k.js';

describe('TopK', () => {
  it('is exact while the keys fit, and keeps heavy hitters when they do not', () => {
    const t = new TopK<{ count: number }>(100, () => ({ count: 0 }));
    for (let i = 0; i < 50; i++) for (let k = 0; k <= i; k++) t.get(`k${i}`).count++;
    expect(t.top(3)).toEqual([['k49', { count: 50 }], ['k48', { count: 49 }], ['k47', { count: 48 }]]);
    expect(t.approximate).toBe(false);
    // 100,000 one-off keys interleaved with three heavy ones.
    for (let i = 0; i < 100_000; i++) {
      t.get(`once-${i}`).count++;
      if (i % 100 === 0) for (const h of ['h1', 'h2', 'h3']) t.get(h).count += 10;
    }
    expect(t.approximate).toBe(true);
    expect(t.top(3).map(([k]) => k).sort()).toEqual(['h1', 'h2', 'h3']);
  });
});
