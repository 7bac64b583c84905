import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/quota/memory-store.js';
import { Profiles } from '../../src/quota/profiles.js';
import { parseSnapshot, readSnapshot, SnapshotWriter } from '../../src/quota/snapshot-file.js';
import { writeFileAtomic } from '../../src/tls/atomic-file.js';

const T = (iso: string): number => Date.parse(iso);
const profiles = new Profiles({
  timezone: 'UTC',
  profiles: {
    p: { rate: 1, burst: 2, volume: [{ bytes: 1000, per: 'day', text: '1000 per day' }, { bytes: 5000, per: 'month', text: '5000 per month' }] },
  },
  users: {},
  groups: {},
  anonymous: null,
  default: null,
});
const P = profiles.byName.get('p')!;
const dir = mkdtempSync(join(tmpdir(), 'egressd-qmem-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function logs(): { lines: { level: string; msg: string }[]; info: (o: object, m: string) => void; warn: (o: object, m: string) => void } {
  const lines: { level: string; msg: string }[] = [];
  return { lines, info: (_o, msg) => lines.push({ level: 'info', msg }), warn: (_o, msg) => lines.push({ level: 'warn', msg }) };
}

describe('MemoryStore', () => {
  it('refuses on volume before taking a token, and resets at the window boundary', () => {
    const s = new MemoryStore();
    const day1 = T('2026-12-01T10:00:00Z');
    expect(s.admit('k', P, day1)).toEqual({ ok: true, tokens: 1, left: 1000 });
    expect(s.record('k', P, 999, day1)).toBe(1);
    expect(s.admit('k', P, day1 + 5000)).toMatchObject({ ok: true, left: 1 });
    expect(s.record('k', P, 1, day1 + 5000)).toBe(0);
    const refused = s.admit('k', P, day1 + 10_000);
    expect(refused).toMatchObject({ ok: false, limit: 'volume', resetAt: T('2026-12-02T00:00:00Z') });
    expect(refused.ok === false && refused.limit === 'volume' && refused.volume.per).toBe('day');
    // Next day: the day window is fresh, the month keeps counting (5000 - 1000).
    const day2 = T('2026-12-02T00:00:00Z');
    expect(s.admit('k', P, day2)).toMatchObject({ ok: true, left: 1000 });
    expect(s.record('k', P, 800, day2)).toBe(200);
    expect(s.list()[0]!.volumes.find((v) => v.per === 'month')!.bytes).toBe(1800);
  });

  it('rate: burst then refusal with the wait', () => {
    const s = new MemoryStore();
    expect(s.admit('r', P, 0)).toMatchObject({ ok: true, tokens: 1 });
    expect(s.admit('r', P, 0)).toMatchObject({ ok: true, tokens: 0 });
    expect(s.admit('r', P, 0)).toEqual({ ok: false, limit: 'rate', waitMs: 1000 });
    expect(s.admit('r', P, 400)).toEqual({ ok: false, limit: 'rate', waitMs: 600 });
  });

  it('snapshot round trip keeps counters and drops entries that hold nothing', () => {
    const s = new MemoryStore();
    const now = T('2026-12-01T10:00:00Z');
    s.record('a', P, 123, now);
    s.admit('old', { ...P, volumes: [] }, now - 90 * 86_400_000);
    const snap = s.toSnapshot(now, 2000);
    expect(Object.keys(snap.entries)).toEqual(['a']);
    const t = new MemoryStore();
    const parsed = parseSnapshot(JSON.stringify(snap));
    expect(typeof parsed).toBe('object');
    t.restore(parsed as Exclude<typeof parsed, string>);
    expect(t.record('a', P, 7, now)).toBe(1000 - 130);
  });

  it.each([
    ['{', /not JSON/],
    ['[]', /unknown format/],
    ['{"version":2,"entries":{}}', /unknown format/],
    ['{"version":1}', /no "entries"/],
    ['{"version":1,"entries":{"k":{"t":"x","a":0,"v":{}}}}', /entry "k" is malformed/],
    ['{"version":1,"entries":{"k":{"t":1,"a":0,"v":{"year":[0,1]}}}}', /malformed "year" counter/],
    ['{"version":1,"entries":{"k":{"t":1,"a":0,"v":{"day":[0,-5]}}}}', /malformed "day" counter/],
  ])('parseSnapshot rejects %s', (text, why) => {
    const r = parseSnapshot(text);
    expect(typeof r).toBe('string');
    expect(r).toMatch(why);
  });

  it('readSnapshot: missing and corrupt files warn and give null', () => {
    const l = logs();
    expect(readSnapshot(join(dir, 'missing.json'), l)).toBeNull();
    writeFileSync(join(dir, 'bad.json'), '{"version":1,"entr');
    expect(readSnapshot(join(dir, 'bad.json'), l)).toBeNull();
    expect(l.lines.map((x) => x.level)).toEqual(['warn', 'warn']);
    expect(l.lines[1]!.msg).toMatch(/corrupt.*start from zero/);
  });

  it('SnapshotWriter writes atomically and logs a failing write once', async () => {
    const s = new MemoryStore();
    s.record('a', P, 5, Date.now());
    const l = logs();
    const file = join(dir, 'snap.json');
    const w = new SnapshotWriter(s, file, 0, (f, d) => writeFileAtomic(f, d, { fsync: true }), l, () => 0);
    await w.close();
    expect((parseSnapshot(readFileSync(file, 'utf8')) as { entries: object }).entries).toHaveProperty('a');
    const bad = new SnapshotWriter(s, join(dir, 'no-such-dir', 'x.json'), 0, (f, d) => writeFileAtomic(f, d), l, () => 0);
    await bad.save();
    await bad.save();
    expect(l.lines.filter((x) => x.level === 'warn')).toHaveLength(1);
  });
});
