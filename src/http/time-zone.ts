/**
 * Wall-clock time in an IANA zone, for policy schedules and calendar quota windows.
 * Intl.DateTimeFormat (ICU) does the tz database work, DST included.
 */

/** Wall-clock fields of an instant in one zone (hour 0-23, month 1-12, weekday 0 = Sunday). */
export interface LocalParts {
  y: number;
  /** 1-12. */
  m: number;
  d: number;
  h: number;
  /** 0 = Sunday. */
  wd: number;
  mi: number;
  s: number;
}

const WEEKDAY: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };

/** Zone names that are UTC itself: answered from Date's UTC getters, without ICU. */
const UTC_NAMES = new Set(['UTC', 'Etc/UTC', 'Etc/GMT', 'GMT', 'Etc/Universal', 'Etc/Zulu']);

/** Is this zone name plain UTC (no ICU time-zone data needed)? */
export function isUtc(name: string): boolean {
  return UTC_NAMES.has(name);
}

/**
 * Local wall-clock parts of instants in one zone (Intl does the tz database work).
 * The first Intl.DateTimeFormat with a time zone maps about 7 MB of ICU data into the
 * process: UTC (the default zone) does without it. Throws RangeError for a name ICU
 * does not know.
 */
export class Zone {
  private readonly fmt: Intl.DateTimeFormat | null;
  constructor(readonly name: string) {
    this.fmt = isUtc(name)
      ? null
      : new Intl.DateTimeFormat('en-US', {
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

  parts(ms: number): LocalParts {
    if (this.fmt === null) {
      const t = new Date(ms);
      return { y: t.getUTCFullYear(), m: t.getUTCMonth() + 1, d: t.getUTCDate(), h: t.getUTCHours(), mi: t.getUTCMinutes(), s: t.getUTCSeconds(), wd: t.getUTCDay() };
    }
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
