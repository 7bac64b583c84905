import { describe, expect, it } from 'vitest';
// The soak bench's report logic (bench/soak/stats.mjs, plain ESM without types).
// @ts-expect-error -- a .mjs module of the bench, no declaration file
import { addOutcome, formatVerdict, newMinute, percentile, summarizeMinute, verdict, windows } from '../../bench/soak/stats.mjs';

/** Samples every 5 s over `seconds`, RSS from `rss(t)` (kB), fds from `fds(t)`. */
function samples(seconds: number, rss: (t: number) => number, fds: (t: number) => number = () => 40): { t: number; rssKb: number; fds: number }[] {
  const out = [];
  for (let t = 5; t <= seconds; t += 5) out.push({ t, rssKb: rss(t), fds: fds(t) });
  return out;
}

const base = { requests: 1000, errors: 0, idleBefore: { fds: 30 }, idleAfter: { fds: 30, leftover: 0 }, rssLimitPct: 10, fdMargin: 3 };

describe('soak verdict', () => {
  it('places the warm-up, baseline and final windows', () => {
    expect(windows(600)).toEqual({ warmupS: 60, baseline: [60, 120], final: [540, 600] });
    expect(windows(60)).toEqual({ warmupS: 20, baseline: [20, 40], final: [40, 60] });
    expect(windows(120)).toEqual({ warmupS: 40, baseline: [40, 80], final: [80, 120] });
  });

  const cases: { name: string; over: Record<string, unknown>; pass: boolean; failing?: string }[] = [
    { name: 'flat memory, no errors, fds back to idle', over: { samples: samples(600, () => 100_000) }, pass: true },
    // A steep first minute (caches, pools, JIT) is the warm-up and does not count.
    { name: 'growth during the warm-up only', over: { samples: samples(600, (t) => (t < 60 ? 50_000 + t * 1000 : 110_000)) }, pass: true },
    { name: 'a GC sawtooth around a flat level', over: { samples: samples(600, (t) => (t % 10 === 0 ? 95_000 : 105_000)) }, pass: true },
    { name: '9% growth after the warm-up', over: { samples: samples(600, (t) => (t <= 120 ? 100_000 : 109_000)) }, pass: true },
    { name: '15% growth after the warm-up', over: { samples: samples(600, (t) => 100_000 + Math.max(0, t - 60) * 30) }, pass: false, failing: 'rss' },
    { name: 'one fd more than the margin after the load', over: { samples: samples(600, () => 100_000), idleAfter: { fds: 34, leftover: 0 } }, pass: false, failing: 'fds' },
    { name: 'fds within the margin', over: { samples: samples(600, () => 100_000), idleAfter: { fds: 33, leftover: 0 } }, pass: true },
    { name: 'fewer fds after than before', over: { samples: samples(600, () => 100_000), idleAfter: { fds: 25, leftover: 0 } }, pass: true },
    { name: 'one error', over: { samples: samples(600, () => 100_000), errors: 1 }, pass: false, failing: 'errors' },
    { name: 'no requests at all', over: { samples: samples(600, () => 100_000), requests: 0 }, pass: false, failing: 'errors' },
    { name: 'a tunnel still tracked after the load', over: { samples: samples(600, () => 100_000), idleAfter: { fds: 30, leftover: 1 } }, pass: false, failing: 'drained' },
    { name: 'no samples in the final window', over: { samples: samples(100, () => 100_000), durationS: 600 }, pass: false, failing: 'rss' },
    { name: 'a 1-minute run with flat memory', over: { samples: samples(60, () => 80_000), durationS: 60 }, pass: true },
  ];
  for (const c of cases) {
    it(`${c.pass ? 'passes' : 'fails'}: ${c.name}`, () => {
      const v = verdict({ durationS: 600, ...base, ...c.over });
      expect(v.pass).toBe(c.pass);
      if (c.failing) expect(v[c.failing].pass).toBe(false);
      expect(formatVerdict(v).split('\n')[0]).toBe(`verdict: ${c.pass ? 'PASS' : 'FAIL'}`);
    });
  }

  it('flags a run whose event loop waited for a CPU, without changing the verdict', () => {
    const flat = samples(600, () => 100_000);
    const busy = verdict({ durationS: 600, ...base, samples: flat, cpuWaitPct: 35 });
    expect(busy).toMatchObject({ pass: true, disturbed: true });
    expect(formatVerdict(busy)).toContain('DISTURBED');
    const quiet = verdict({ durationS: 600, ...base, samples: flat, cpuWaitPct: 3 });
    expect(quiet.disturbed).toBe(false);
    expect(formatVerdict(quiet)).not.toContain('DISTURBED');
  });

  it('reports the growth it measured', () => {
    const v = verdict({ durationS: 600, ...base, samples: samples(600, (t) => (t <= 300 ? 100_000 : 120_000)) });
    expect(v.rss).toMatchObject({ baselineKb: 100_000, finalKb: 120_000, growthPct: 20, pass: false });
  });
});

describe('soak per-minute summary', () => {
  it('takes nearest-rank percentiles', () => {
    const s = Array.from({ length: 100 }, (_, i) => i + 1);
    expect([percentile(s, 50), percentile(s, 90), percentile(s, 99), percentile(s, 100)]).toEqual([50, 90, 99, 100]);
    expect(percentile([7], 99)).toBe(7);
    expect(percentile([], 50)).toBeNull();
  });

  it('counts errors by kind and leaves them out of the latencies', () => {
    const m = newMinute();
    for (let i = 1; i <= 10; i++) addOutcome(m, 'http-keepalive', null, i, null);
    addOutcome(m, 'tunnel-new-64k', 'ECONNRESET', 9000, null);
    addOutcome(m, 'tunnel-new-64k', 'ECONNRESET', 9000, null);
    addOutcome(m, 'http-cached', null, 1, true);
    addOutcome(m, 'http-cached', null, 1, false);
    const s = summarizeMinute(m);
    expect(s).toMatchObject({ requests: 14, errors: 2, errorKinds: { 'tunnel-new-64k: ECONNRESET': 2 }, max: 10, cacheHitPct: 50 });
    // 12 successful latencies: 1, 1, 1, 2 … 10; rank 6 is 4.
    expect(s.p50).toBe(4);
  });
});
