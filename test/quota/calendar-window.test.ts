import { describe, expect, it } from 'vitest';
import { spanAt, WindowClock, Zone, type Period } from '../../src/quota/calendar-window.js';

const T = (iso: string): number => Date.parse(iso);

/**
 * [period, zone, instant, expected start, expected end]. Expected values were worked
 * out by hand from the zones' offsets, including DST days (23 and 25 hours long),
 * half-hour offsets, leap and non-leap Februaries and the year end.
 */
const CASES: [Period, string, string, string, string][] = [
  // Days
  ['day', 'UTC', '2026-12-01T10:00:00Z', '2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z'],
  ['day', 'UTC', '2026-12-01T00:00:00Z', '2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z'], // start is inclusive
  ['day', 'UTC', '2026-12-01T23:59:59.999Z', '2026-12-01T00:00:00Z', '2026-12-02T00:00:00Z'],
  ['day', 'Europe/Paris', '2026-12-01T10:00:00Z', '2026-11-30T23:00:00Z', '2026-12-01T23:00:00Z'],
  ['day', 'Europe/Paris', '2026-11-30T23:00:00Z', '2026-11-30T23:00:00Z', '2026-12-01T23:00:00Z'], // local midnight
  ['day', 'Europe/Paris', '2026-11-30T22:59:59Z', '2026-11-29T23:00:00Z', '2026-11-30T23:00:00Z'],
  ['day', 'Europe/Paris', '2026-03-29T12:00:00Z', '2026-03-28T23:00:00Z', '2026-03-29T22:00:00Z'], // 23-hour day
  ['day', 'Europe/Paris', '2026-10-25T12:00:00Z', '2026-10-24T22:00:00Z', '2026-10-25T23:00:00Z'], // 25-hour day
  ['day', 'Asia/Kolkata', '2026-12-01T00:00:00Z', '2026-11-30T18:30:00Z', '2026-12-01T18:30:00Z'], // +05:30
  ['day', 'America/Los_Angeles', '2026-12-01T07:59:00Z', '2026-11-30T08:00:00Z', '2026-12-01T08:00:00Z'],
  // Months
  ['month', 'UTC', '2024-02-15T00:00:00Z', '2024-02-01T00:00:00Z', '2024-03-01T00:00:00Z'], // leap February: 29 days
  ['month', 'UTC', '2026-02-28T23:59:59Z', '2026-02-01T00:00:00Z', '2026-03-01T00:00:00Z'], // 28 days
  ['month', 'UTC', '2026-04-30T12:00:00Z', '2026-04-01T00:00:00Z', '2026-05-01T00:00:00Z'], // 30 days
  ['month', 'UTC', '2026-12-31T23:00:00Z', '2026-12-01T00:00:00Z', '2027-01-01T00:00:00Z'], // year end
  ['month', 'America/New_York', '2026-11-15T12:00:00Z', '2026-11-01T04:00:00Z', '2026-12-01T05:00:00Z'], // EDT → EST inside
  ['month', 'America/New_York', '2026-12-01T04:30:00Z', '2026-11-01T04:00:00Z', '2026-12-01T05:00:00Z'], // still Nov locally
  ['month', 'Europe/Paris', '2026-03-31T22:30:00Z', '2026-03-31T22:00:00Z', '2026-04-30T22:00:00Z'], // already April in Paris
  // Weeks (ISO: Monday to Monday); 2026-12-01 is a Tuesday
  ['week', 'UTC', '2026-12-01T10:00:00Z', '2026-11-30T00:00:00Z', '2026-12-07T00:00:00Z'],
  ['week', 'UTC', '2026-12-06T23:59:59Z', '2026-11-30T00:00:00Z', '2026-12-07T00:00:00Z'], // Sunday
  ['week', 'UTC', '2026-12-07T00:00:00Z', '2026-12-07T00:00:00Z', '2026-12-14T00:00:00Z'], // Monday starts the next
  ['week', 'Europe/Paris', '2026-03-30T12:00:00Z', '2026-03-29T22:00:00Z', '2026-04-05T22:00:00Z'],
  ['week', 'UTC', '2026-12-31T12:00:00Z', '2026-12-28T00:00:00Z', '2027-01-04T00:00:00Z'], // across the year
  // Hours
  ['hour', 'UTC', '2026-12-01T10:59:59.500Z', '2026-12-01T10:00:00Z', '2026-12-01T11:00:00Z'],
  ['hour', 'Asia/Kolkata', '2026-12-01T00:10:00Z', '2026-11-30T23:30:00Z', '2026-12-01T00:30:00Z'],
];

describe('calendar windows', () => {
  it.each(CASES)('%s in %s at %s starts %s and ends %s', (period, zone, at, start, end) => {
    const s = spanAt(period, new Zone(zone), T(at));
    expect(new Date(s.start).toISOString()).toBe(new Date(T(start)).toISOString());
    expect(new Date(s.end).toISOString()).toBe(new Date(T(end)).toISOString());
  });

  it('WindowClock moves to the next window exactly at the boundary', () => {
    const c = new WindowClock('day', new Zone('Europe/Paris'));
    const a = c.at(T('2026-12-01T22:59:59.999Z'));
    expect(a.end).toBe(T('2026-12-01T23:00:00Z'));
    const b = c.at(T('2026-12-01T23:00:00Z'));
    expect(b.start).toBe(a.end);
    expect(c.at(T('2026-12-01T23:30:00Z'))).toBe(b); // cached
  });

  it('Zone.offset follows DST', () => {
    const z = new Zone('Europe/Paris');
    expect(z.offset(T('2026-01-15T12:00:00Z'))).toBe(3_600_000);
    expect(z.offset(T('2026-07-15T12:00:00Z'))).toBe(7_200_000);
  });
});
