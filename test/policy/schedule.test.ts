import { describe, expect, it } from 'vitest';
import { decide } from '../../src/policy/decide.js';
import { explain } from '../../src/policy/explain.js';
import { parseDays, parseHours, ZoneClock } from '../../src/policy/schedule.js';
import { facts, loadFixtures } from './helpers.js';

const policy = await loadFixtures('schedule.yaml');

// [host, UTC instant, local time for the reader, expected action]
const cases: [string, string, string, 'allow' | 'deny'][] = [
  // Europe/Paris, mon-fri 08:00-18:00, winter (UTC+1) and summer (UTC+2)
  ['office.test', '2024-01-15T07:30:00Z', 'Mon 08:30 CET', 'deny'],
  ['office.test', '2024-01-15T06:59:00Z', 'Mon 07:59 CET', 'allow'],
  ['office.test', '2024-01-15T07:00:00Z', 'Mon 08:00 CET (start included)', 'deny'],
  ['office.test', '2024-01-15T16:59:00Z', 'Mon 17:59 CET', 'deny'],
  ['office.test', '2024-01-15T17:00:00Z', 'Mon 18:00 CET (end excluded)', 'allow'],
  ['office.test', '2024-07-15T06:30:00Z', 'Mon 08:30 CEST', 'deny'],
  ['office.test', '2024-07-15T05:30:00Z', 'Mon 07:30 CEST (07:30 in UTC+1 would be inside)', 'allow'],
  ['office.test', '2024-07-15T16:30:00Z', 'Mon 18:30 CEST', 'allow'],
  ['office.test', '2024-01-13T10:00:00Z', 'Sat 11:00 CET', 'allow'],
  ['office.test', '2024-04-01T06:00:00Z', 'Mon 08:00 CEST, the day after the DST change', 'deny'],
  // Asia/Tokyo, fri 22:00-06:00: crosses midnight, the early hours belong to Friday
  ['night.test', '2024-01-19T13:30:00Z', 'Fri 22:30 JST', 'deny'],
  ['night.test', '2024-01-19T12:59:00Z', 'Fri 21:59 JST', 'allow'],
  ['night.test', '2024-01-19T15:00:00Z', 'Sat 00:00 JST', 'deny'],
  ['night.test', '2024-01-19T20:59:00Z', 'Sat 05:59 JST', 'deny'],
  ['night.test', '2024-01-19T21:00:00Z', 'Sat 06:00 JST', 'allow'],
  ['night.test', '2024-01-18T20:00:00Z', 'Fri 05:00 JST (Thursday night, not listed)', 'allow'],
  ['night.test', '2024-01-20T13:30:00Z', 'Sat 22:30 JST', 'allow'],
  // America/New_York, weekend: the local day, not the UTC day, counts
  ['weekend.test', '2024-01-20T05:30:00Z', 'Sat 00:30 EST', 'deny'],
  ['weekend.test', '2024-01-20T04:30:00Z', 'Fri 23:30 EST (already Saturday in UTC)', 'allow'],
  ['weekend.test', '2024-01-22T04:59:00Z', 'Sun 23:59 EST (Monday in UTC)', 'deny'],
  ['weekend.test', '2024-01-22T05:00:00Z', 'Mon 00:00 EST', 'allow'],
  // UTC, two ranges every day, one ending at 24:00
  ['split.test', '2024-01-17T12:00:00Z', 'Wed 12:00 UTC', 'deny'],
  ['split.test', '2024-01-17T13:00:00Z', 'Wed 13:00 UTC', 'allow'],
  ['split.test', '2024-01-17T23:45:00Z', 'Wed 23:45 UTC', 'deny'],
  ['split.test', '2024-01-18T00:00:00Z', 'Thu 00:00 UTC', 'allow'],
];

describe('schedules (clock injected with facts.time)', () => {
  it.each(cases)('%s at %s (%s) → %s', (host, iso, _local, action) => {
    const f = facts({ host, time: new Date(iso) });
    const d = decide(policy, f);
    expect(d.action).toBe(action);
    expect(explain(policy, f).verdict).toEqual(d);
  });

  it('explain shows the local time it compared', () => {
    const e = explain(policy, facts({ host: 'night.test', time: new Date('2024-01-19T20:59:00Z') }));
    const cond = e.rules.find((r) => r.ruleId === 'night-shift-tokyo')!.conditions.find((c) => c.name === 'schedule')!;
    expect(cond.detail).toContain('sat 05:59 Asia/Tokyo');
    expect(cond.detail).toContain('fri 22:00-06:00');
  });

  it('the zone clock reuses the minute it computed last', () => {
    const clock = new ZoneClock('Europe/Paris');
    const a = clock.at(Date.UTC(2024, 0, 15, 7, 30, 5));
    expect(clock.at(Date.UTC(2024, 0, 15, 7, 30, 55))).toBe(a);
    expect(clock.at(Date.UTC(2024, 0, 15, 7, 31, 0))).toEqual({ day: 1, minute: 8 * 60 + 31 });
  });
});

describe('schedule parsing', () => {
  it.each([
    ['mon', 0b0000010],
    ['mon-fri', 0b0111110],
    ['fri-mon', 0b1100011],
    ['SUN', 0b0000001],
  ])('days %s', (spec, mask) => expect(parseDays(spec)).toBe(mask));

  it.each([
    ['08:00-18:00', [480, 1080]],
    ['22:00-06:00', [1320, 360]],
    ['00:00-24:00', [0, 1440]],
  ])('hours %s', (spec, range) => expect(parseHours(spec)).toEqual(range));

  it.each(['8:00-18:00', '24:00-01:00', '10:00-10:00', '10:60-11:00', '23:00-24:30', 'noon'])('hours %s is rejected', (spec) => {
    expect(typeof parseHours(spec)).toBe('string');
  });
});
