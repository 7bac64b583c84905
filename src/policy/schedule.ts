/**
 * Schedules: days of the week and hour ranges in an IANA time zone.
 *
 * `hours: ["22:00-06:00"]` crosses midnight; the part after midnight belongs to the day
 * the range started on, so `days: [fri], hours: ["22:00-06:00"]` is Friday 22:00 to
 * Saturday 06:00. Ranges include their start and exclude their end; "24:00" is allowed
 * as an end. Time zone conversion uses Intl.DateTimeFormat (ICU), so DST is handled.
 */

import { Zone } from '../http/time-zone.js';

const DAY_NAMES = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const DAY_INDEX: Record<string, number> = { sun: 0, mon: 1, tue: 2, wed: 3, thu: 4, fri: 5, sat: 6 };
const DAY_SPEC = /^(sun|mon|tue|wed|thu|fri|sat)(?:-(sun|mon|tue|wed|thu|fri|sat))?$/;
const HOUR_SPEC = /^(\d{2}):(\d{2})-(\d{2}):(\d{2})$/;

export interface LocalTime {
  /** 0 = Sunday … 6 = Saturday, as Date#getDay. */
  day: number;
  /** Minutes since local midnight. */
  minute: number;
}

/** Throws nothing: returns an error message for an invalid IANA zone name. */
export function timezoneError(tz: string): string | undefined {
  try {
    new Zone(tz); // throws for a name ICU does not know (UTC needs no ICU)
    return undefined;
  } catch {
    return `unknown time zone "${tz}" (use an IANA name such as "Europe/Paris" or "UTC")`;
  }
}

/** "mon", "mon-fri" (or wrapping "fri-mon") → a 7-bit mask; a string is an error. */
export function parseDays(spec: string): number | string {
  const m = DAY_SPEC.exec(spec.trim().toLowerCase());
  if (!m) return `invalid day "${spec}" (use mon, tue, wed, thu, fri, sat, sun or a range like mon-fri)`;
  const from = DAY_INDEX[m[1]!]!;
  const to = m[2] === undefined ? from : DAY_INDEX[m[2]]!;
  let mask = 0;
  for (let d = from; ; d = (d + 1) % 7) {
    mask |= 1 << d;
    if (d === to) break;
  }
  return mask;
}

/** "08:00-18:00" → [480, 1080]; a string is an error. */
export function parseHours(spec: string): [number, number] | string {
  const m = HOUR_SPEC.exec(spec.trim());
  const bad = `invalid hour range "${spec}" (use HH:MM-HH:MM, e.g. 08:00-18:00 or 22:00-06:00)`;
  if (!m) return bad;
  const [h1, m1, h2, m2] = [m[1], m[2], m[3], m[4]].map(Number) as [number, number, number, number];
  if (h1 > 23 || m1 > 59 || h2 > 24 || m2 > 59 || (h2 === 24 && m2 !== 0)) return bad;
  const start = h1 * 60 + m1;
  const end = h2 * 60 + m2;
  if (start === end) return `empty hour range "${spec}" (start and end are the same)`;
  return [start, end];
}

/**
 * Converts an instant to local day and minute in one zone. Formatting costs a few
 * microseconds, so the last minute computed is remembered: every decision within the
 * same minute reuses it. The memo is an invisible cache of a pure function.
 */
export class ZoneClock {
  private readonly zone: Zone;
  private lastMinute = Number.NaN;
  private last: LocalTime = { day: 0, minute: 0 };

  constructor(readonly timezone: string) {
    this.zone = new Zone(timezone);
  }

  at(epochMs: number): LocalTime {
    const minute = Math.floor(epochMs / 60_000);
    if (minute === this.lastMinute) return this.last;
    const p = this.zone.parts(epochMs);
    this.last = { day: p.wd, minute: p.h * 60 + p.mi };
    this.lastMinute = minute;
    return this.last;
  }
}

export interface Schedule {
  readonly clock: ZoneClock;
  /** Bit d set: day d (0 = Sunday) is included. */
  readonly days: number;
  /** [start, end) minute ranges; start > end crosses midnight. Empty: the whole day. */
  readonly hours: readonly (readonly [number, number])[];
}

export function scheduleMatches(s: Schedule, epochMs: number): boolean {
  const { day, minute } = s.clock.at(epochMs);
  const today = (s.days >> day) & 1;
  if (s.hours.length === 0) return today === 1;
  const yesterday = (s.days >> ((day + 6) % 7)) & 1;
  for (let i = 0; i < s.hours.length; i++) {
    const range = s.hours[i]!;
    const start = range[0];
    const end = range[1];
    if (start < end) {
      if (today && minute >= start && minute < end) return true;
    } else if ((today && minute >= start) || (yesterday && minute < end)) {
      return true;
    }
  }
  return false;
}

export function describeLocalTime(s: Schedule, epochMs: number): string {
  const { day, minute } = s.clock.at(epochMs);
  const hh = String(Math.floor(minute / 60)).padStart(2, '0');
  const mm = String(minute % 60).padStart(2, '0');
  return `${DAY_NAMES[day]} ${hh}:${mm} ${s.clock.timezone}`;
}
