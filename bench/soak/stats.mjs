// Pure logic of the soak report (bench/soak.sh): per-minute summaries, the comparison
// windows, the verdict, and the text tables. No I/O; test/unit/soak-verdict.test.ts
// drives it with tables of samples.

/** Nearest-rank percentile of an ascending array (p in 0..100); null when empty. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function median(values) {
  if (values.length === 0) return null;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

/** Above this share of the time waiting for a CPU, a run is flagged DISTURBED. */
export const DISTURBED_WAIT_PCT = 20;

/** An empty per-minute accumulator. */
export function newMinute() {
  return { requests: 0, errors: 0, errorKinds: {}, latencies: [], cacheLookups: 0, cacheHits: 0 };
}

/** Adds one request outcome (kind name, error kind or null, latency ms, cache hit or null). */
export function addOutcome(m, kind, error, latencyMs, cacheHit) {
  m.requests++;
  if (error) {
    m.errors++;
    const key = `${kind}: ${error}`;
    m.errorKinds[key] = (m.errorKinds[key] ?? 0) + 1;
  } else m.latencies.push(latencyMs);
  if (cacheHit !== null && cacheHit !== undefined) {
    m.cacheLookups++;
    if (cacheHit) m.cacheHits++;
  }
}

/** Latency percentiles (successful requests only: a refused connection is not fast). */
export function summarizeMinute(m) {
  const s = [...m.latencies].sort((a, b) => a - b);
  const r = (x) => (x === null ? null : Math.round(x * 10) / 10);
  return {
    requests: m.requests,
    errors: m.errors,
    errorKinds: m.errorKinds,
    p50: r(percentile(s, 50)),
    p90: r(percentile(s, 90)),
    p99: r(percentile(s, 99)),
    max: r(s.length ? s[s.length - 1] : null),
    cacheHitPct: m.cacheLookups ? Math.round((1000 * m.cacheHits) / m.cacheLookups) / 10 : null,
  };
}

/**
 * The windows the memory verdict compares, in seconds from the start of the load:
 * the warm-up (excluded: caches, pools, certificates and JIT fill up) is the first
 * minute, or the first third of a run shorter than 3 minutes; the baseline window
 * follows it and the final window ends the run, each a minute long (or half of what
 * is left after the warm-up, if that is shorter).
 */
export function windows(durationS) {
  const warmupS = Math.min(60, durationS / 3);
  const windowS = Math.min(60, (durationS - warmupS) / 2);
  return { warmupS, baseline: [warmupS, warmupS + windowS], final: [durationS - windowS, durationS] };
}

const inWindow = (samples, [from, to], key) => samples.filter((s) => s.t >= from && s.t <= to && typeof s[key] === 'number').map((s) => s[key]);

/**
 * The verdict. `v`: { samples: [{ t, rssKb, fds }], durationS, requests, errors,
 * idleBefore: { fds }, idleAfter: { fds, leftover } (leftover: tunnels + requests +
 * upstream requests egressd still tracks once the clients are gone, or null if
 * unknown), rssLimitPct (10), fdMargin (3), cpuWaitPct (share of the run egressd's
 * event loop waited for a CPU; optional) }.
 * Medians of each window, so that a garbage-collection sawtooth does not decide.
 */
export function verdict(v) {
  const w = windows(v.durationS);
  const rssBase = median(inWindow(v.samples, w.baseline, 'rssKb'));
  const rssFinal = median(inWindow(v.samples, w.final, 'rssKb'));
  const rssGrowthPct = rssBase && rssFinal !== null ? Math.round((1000 * (rssFinal - rssBase)) / rssBase) / 10 : null;
  const rss = { baselineKb: rssBase, finalKb: rssFinal, growthPct: rssGrowthPct, limitPct: v.rssLimitPct, pass: rssGrowthPct !== null && rssGrowthPct < v.rssLimitPct };

  const fdGrowth = typeof v.idleBefore?.fds === 'number' && typeof v.idleAfter?.fds === 'number' ? v.idleAfter.fds - v.idleBefore.fds : null;
  const fds = {
    idleBefore: v.idleBefore?.fds ?? null,
    idleAfter: v.idleAfter?.fds ?? null,
    growth: fdGrowth,
    margin: v.fdMargin,
    underLoadBaseline: median(inWindow(v.samples, w.baseline, 'fds')),
    underLoadFinal: median(inWindow(v.samples, w.final, 'fds')),
    // Fewer descriptors after the load than before is no leak.
    pass: fdGrowth !== null && fdGrowth <= v.fdMargin,
  };
  const errorRate = v.requests ? v.errors / v.requests : null;
  const errors = { requests: v.requests, errors: v.errors, rate: errorRate, pass: v.requests > 0 && v.errors === 0 };
  const leftover = v.idleAfter?.leftover ?? null;
  const drained = { leftover, pass: leftover === null ? null : leftover === 0 };
  const pass = rss.pass && fds.pass && errors.pass && drained.pass !== false;
  // Not a criterion, a warning: egressd's event loop queued for a CPU more than this
  // share of the time, so the machine, not egressd, set the latency (and maybe errors).
  const disturbed = typeof v.cpuWaitPct === 'number' && v.cpuWaitPct > DISTURBED_WAIT_PCT;
  return { windows: w, rss, fds, errors, drained, cpuWaitPct: v.cpuWaitPct ?? null, disturbed, pass };
}

const cell = (x) => (x === null || x === undefined ? '-' : String(x));
const mb = (kb) => (typeof kb === 'number' ? (kb / 1024).toFixed(1) : '-');

/**
 * The per-minute markdown table; `rows`: summarizeMinute() results plus { minute, seconds,
 * cpuPct (egressd's CPU time in that minute, % of one core), cpuWaitPct (% of the
 * minute its event loop waited for a CPU), rssKb, fds, heapMb, lagP99Ms (egressd's event loop), clientLagMaxMs (the clients' worst),
 * acceptQueueMax (connections the kernel held for egressd's listener, at the samples) }.
 */
export function formatTable(rows) {
  const head = ['min', 'requests', 'req/s', 'egressd CPU %', 'CPU wait %', 'errors', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms', 'cache hit %', 'RSS MB', 'fds', 'heap MB', 'loop lag p99 ms', 'client lag max ms', 'accept queue'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`];
  for (const r of rows) {
    const rate = r.seconds ? (r.requests / r.seconds).toFixed(0) : '-';
    lines.push(`| ${[r.minute, r.requests, rate, r.cpuPct, r.cpuWaitPct, r.errors, r.p50, r.p90, r.p99, r.max, r.cacheHitPct, mb(r.rssKb), r.fds, r.heapMb, r.lagP99Ms, r.clientLagMaxMs, r.acceptQueueMax].map(cell).join(' | ')} |`);
  }
  const errs = rows.flatMap((r) => Object.entries(r.errorKinds).map(([k, n]) => `  minute ${r.minute}: ${n} x ${k}`));
  if (errs.length) lines.push('', 'errors (request kind: what was wrong):', ...errs);
  return lines.join('\n');
}

const word = (p) => (p === null ? 'n/a ' : p ? 'PASS' : 'FAIL');

/** The verdict block, one line per criterion. */
export function formatVerdict(v) {
  const { rss, fds, errors, drained, windows: w } = v;
  const s = (x) => Math.round(x);
  return [
    `verdict: ${v.pass ? 'PASS' : 'FAIL'}`,
    `  ${word(rss.pass)} RSS growth after warm-up: ${cell(rss.growthPct)}% (median ${mb(rss.baselineKb)} MB at ${s(w.baseline[0])}-${s(w.baseline[1])} s -> ${mb(rss.finalKb)} MB at ${s(w.final[0])}-${s(w.final[1])} s; limit < ${rss.limitPct}%)`,
    `  ${word(fds.pass)} fd growth, idle after vs idle before the load: ${cell(fds.growth)} (${cell(fds.idleBefore)} -> ${cell(fds.idleAfter)}; margin ${fds.margin}; under load, median ${cell(fds.underLoadBaseline)} -> ${cell(fds.underLoadFinal)})`,
    `  ${word(errors.pass)} errors: ${errors.errors} of ${errors.requests} well-formed requests (rate ${errors.rate === null ? '-' : errors.rate.toExponential(1)})`,
    `  ${word(drained.pass)} left in flight once the clients were gone (tunnels + requests + upstream): ${cell(drained.leftover)}`,
    ...(v.disturbed ? [`  DISTURBED: egressd's event loop waited for a CPU ${v.cpuWaitPct}% of the time (> ${DISTURBED_WAIT_PCT}%): other processes took the CPUs; latency and timeouts measure the machine, not egressd. Re-run on a quiet machine.`] : []),
  ].join('\n');
}
