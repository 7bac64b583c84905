/**
 * Calendar windows for transfer volume: "2GiB per day" resets at local midnight in the
 * configured time zone, "per month" on the 1st, "per week" on Monday, "per hour" at the
 * top of the local hour. Calendar rather than rolling windows: a user can be told
 * exactly when the allowance comes back, every instance sharing Redis agrees on the
 * window without coordination, and a counter per window is one integer (a rolling
 * window needs a history of buckets).
 */

export type Period = 'hour' | 'day' | 'week' | 'month';
export const PERIODS: readonly Period[] = ['hour', 'day', 'week', 'month'];

export interface Span {
  /** First millisecond of the window (epoch ms). */
  readonly start: number;
  /** First millisecond of the next window. */
  readonly end: number;
}

interface LocalParts {
  y: number;
  m: number; // 1-12
  d: number;
  h: number;
  /** 0 = Sunday. */
  wd: number;
}

const WEEKDAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** Local wall-clock parts of instants in one zone (Intl does the tz database work). */
export class Zone {
  private readonly fmt: Intl.DateTimeFormat;
  constructor(readonly name: string) {
    this.fmt = new Intl.DateTimeFormat('en-US', {
      timeZone: name,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
      weekday: 'short',
      hourCycle: 'h23',
    });
  }

  parts(ms: number): LocalParts & { mi: number; s: number } {
    const p = { y: 0, m: 0, d: 0, h: 0, mi: 0, s: 0, wd: 0 };
    for (const part of this.fmt.formatToParts(ms)) {
      switch (part.type) {
        case 'year': p.y = Number(part.value); break;
        case 'month': p.m = Number(part.value); break;
        case 'day': p.d = Number(part.value); break;
        case 'hour': p.h = Number(part.value) % 24; break;
        case 'minute': p.mi = Number(part.value); break;
        case 'second': p.s = Number(part.value); break;
        case 'weekday': p.wd = WEEKDAY[part.value] ?? 0; break;
      }
    }
    return p;
  }

  /** Offset of local time from UTC at instant `ms`, in ms (Paris in winter: +3600000). */
  offset(ms: number): number {
    const p = this.parts(ms);
    const asUtc = Date.UTC(p.y, p.m - 1, p.d, p.h, p.mi, p.s);
    return asUtc - Math.floor(ms / 1000) * 1000;
  }

  /**
   * The instant at which local time reads y-m-d h:00. Date.UTC normalises overflow
   * (day 32 → next month). A local time skipped by a DST jump resolves to the instant
   * just after the gap, which is when that local hour "starts" in practice.
   */
  instant(y: number, m: number, d: number, h: number): number {
    const wall = Date.UTC(y, m - 1, d, h);
    let t = wall - this.offset(wall);
    // The offset at the guess may differ from the offset at the answer (DST edge).
    const o2 = this.offset(t);
    if (wall - o2 !== t) {
      const t2 = wall - o2;
      t = this.offset(t2) === o2 ? t2 : Math.max(t, t2);
    }
    return t;
  }
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
