import { describe, expect, it } from 'vitest';
import { isUtc, Zone } from '../../src/http/time-zone.js';
import { timezoneError } from '../../src/policy/schedule.js';
import { localTime } from '../../src/exchange/limit-stage.js';

/** The UTC fast path (no ICU) must answer exactly what ICU answers for UTC. */
function icuParts(ms: number): Record<string, number> {
  const f = new Intl.DateTimeFormat('en-US', { timeZone: 'UTC', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric', weekday: 'short', hourCycle: 'h23' });
  const wd: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
  const p: Record<string, number> = {};
  for (const x of f.formatToParts(ms)) {
    if (x.type === 'year') p.y = Number(x.value);
    else if (x.type === 'month') p.m = Number(x.value);
    else if (x.type === 'day') p.d = Number(x.value);
    else if (x.type === 'hour') p.h = Number(x.value) % 24;
    else if (x.type === 'minute') p.mi = Number(x.value);
    else if (x.type === 'second') p.s = Number(x.value);
    else if (x.type === 'weekday') p.wd = wd[x.value]!;
  }
  return p;
}

describe('Zone: UTC without ICU', () => {
  it('names UTC by its usual spellings only', () => {
    for (const n of ['UTC', 'Etc/UTC', 'GMT', 'Etc/GMT']) expect(isUtc(n)).toBe(true);
    for (const n of ['Europe/London', 'utc', 'Etc/GMT+1', '']) expect(isUtc(n)).toBe(false);
  });

  it('gives the same wall-clock parts as ICU for UTC, over leap days, year ends and midnights', () => {
    const z = new Zone('UTC');
    const fixed = [0, Date.UTC(2024, 1, 29, 23, 59, 59), Date.UTC(2026, 11, 31, 23, 59, 59, 999), Date.UTC(2027, 0, 1), Date.UTC(2000, 2, 1, 12, 30, 5)];
    let x = 12345;
    const random = Array.from({ length: 500 }, () => {
      x = (x * 1103515245 + 12345) % 2 ** 31;
      return Math.floor((x / 2 ** 31) * Date.UTC(2100, 0, 1));
    });
    for (const ms of [...fixed, ...random]) expect(z.parts(ms)).toEqual(icuParts(ms));
    expect(z.offset(Date.UTC(2026, 6, 1))).toBe(0);
  });

  it('still checks and converts other zones through ICU', () => {
    expect(timezoneError('UTC')).toBeUndefined();
    expect(timezoneError('Europe/Paris')).toBeUndefined();
    expect(timezoneError('Mars/Olympus')).toMatch(/unknown time zone "Mars\/Olympus"/);
    expect(() => new Zone('Mars/Olympus')).toThrow(RangeError);
    expect(new Zone('Europe/Paris').parts(Date.UTC(2026, 0, 1, 0, 0)).h).toBe(1);
  });

  it('formats a reset time the same way in UTC and in a named zone', () => {
    const ms = Date.UTC(2026, 11, 2, 0, 0);
    expect(localTime(ms, 'UTC')).toBe('2026-12-02 00:00 UTC');
    expect(localTime(ms, 'Europe/Paris')).toBe('2026-12-02 01:00 Europe/Paris');
  });
});
