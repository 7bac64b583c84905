import { describe, expect, it } from 'vitest';
import { refill, retryAfterSeconds, take, type BucketState } from '../../src/quota/token-bucket.js';

describe('token bucket', () => {
  // rate 2/s, burst 3: [ms since start, expected result of take()] (negative: ms to wait)
  const SEQUENCE: [number, number][] = [
    [0, 2],
    [0, 1],
    [0, 0],
    [0, -500], // empty: one token is 500 ms away
    [250, -250], // half a token back
    [500, 0], // one token refilled, taken
    [10_000, 2], // long idle: capped at the burst, minus the one taken
  ];
  it('takes, refuses with the wait, refills and caps at the burst', () => {
    const s: BucketState = { tokens: 3, at: 0 };
    const got = SEQUENCE.map(([t]) => take(s, 2, 3, t));
    expect(got).toEqual(SEQUENCE.map(([, want]) => want));
  });

  it('a refusal does not consume or move the clock', () => {
    const s: BucketState = { tokens: 0, at: 1000 };
    expect(take(s, 1, 1, 1500)).toBe(-500);
    expect(s).toEqual({ tokens: 0, at: 1000 });
    expect(take(s, 1, 1, 2000)).toBe(0);
  });

  it.each([
    [{ tokens: 0, at: 0 }, 10, 5, 100, 1],
    [{ tokens: 0, at: 0 }, 10, 5, 10_000, 5],
    [{ tokens: 4.5, at: 1000 }, 1, 5, 500, 4.5], // clock went back: no refill, no loss
    [undefined, 10, 7, 0, 7],
  ] as [BucketState | undefined, number, number, number, number][])('refill(%o, rate %d, burst %d, at %d) = %d', (s, rate, burst, now, want) => {
    expect(refill(s, rate, burst, now)).toBeCloseTo(want, 9);
  });

  it.each([
    [0, 1],
    [1, 1],
    [999, 1],
    [1000, 1],
    [1001, 2],
    [59_500, 60],
  ])('Retry-After for a %d ms wait is %d s', (ms, s) => {
    expect(retryAfterSeconds(ms)).toBe(s);
  });
});
