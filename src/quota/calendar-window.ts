/**
 * Calendar windows for transfer volume: "2GiB per day" resets at local midnight in the
 * configured time zone, "per month" on the 1st, "per week" on Monday, "per hour" at the
 * top of the local hour. Calendar rather than rolling windows: a user can be told
 * exactly when the allowance comes back, every instance sharing Redis agrees on the
 * window without coordination, and a counter per window is one integer (a rolling
 * window needs a history of buckets).
 */

import { Zone } from '../http/time-zone.js';

export { Zone };

export type Period = 'hour' | 'day' | 'week' | 'month';
export const PERIODS: readonly Period[] = ['hour', 'day', 'week', 'month'];

export interface Span {
  /** First millisecond of the window (epoch ms). */
  readonly start: number;
  /** First millisecond of the next window. */
  readonly end: number;
}




/** The window of `period` in `zone` that contains instant `ms`. */
export function spanAt(period: Period, zone: Zone, ms: number): Span {
  const p = zone.parts(ms);
  switch (period) {
    case 'hour': {
      // Hour boundaries: step back by minutes and seconds (time zones with half-hour
      // offsets still have local hours that start at :00).
      const start = Math.floor(ms / 1000) * 1000 - (p.mi * 60 + p.s) * 1000;
      return { start, end: start + 3_600_000 };
    }
    case 'day':
      return { start: zone.instant(p.y, p.m, p.d, 0), end: zone.instant(p.y, p.m, p.d + 1, 0) };
    case 'week': {
      const back = (p.wd + 6) % 7; // days since Monday (ISO 8601 weeks)
      return { start: zone.instant(p.y, p.m, p.d - back, 0), end: zone.instant(p.y, p.m, p.d - back + 7, 0) };
    }
    case 'month':
      return { start: zone.instant(p.y, p.m, 1, 0), end: zone.instant(p.y, p.m + 1, 1, 0) };
  }
}

/**
 * The current window of one period, cached: computing it costs an Intl call, and it
 * changes at most once per hour, so the hot path compares two numbers.
 */
export class WindowClock {
  private span: Span = { start: 0, end: 0 };
  constructor(readonly period: Period, readonly zone: Zone) {}

  at(ms: number): Span {
    const s = this.span;
    if (ms >= s.start && ms < s.end) return s;
    return (this.span = spanAt(this.period, this.zone, ms));
  }
}
