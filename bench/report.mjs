#!/usr/bin/env node
// Turns the raw files written by bench/run.sh into medians, a markdown table and a
// JSON record (run by hand, never in CI).
//
//   node bench/report.mjs line FILE [CPUFILE TARGET]  one progress line for one raw result
//   node bench/report.mjs table RAWDIR OUTDIR
//       RAWDIR/meta.json                      parameters and versions
//       RAWDIR/<target>/<workload>.<run>.json raw wrk / connect-load output
//       RAWDIR/<target>/rss-idle.txt          kB
//       RAWDIR/<target>/rss-w1.<run>.txt      kB, max sampled during W1
//       RAWDIR/<target>/cpu-<workload>.<run>.json  CPU shares during that run
//   prints the table and writes OUTDIR/<stamp>.json and OUTDIR/<stamp>.md

import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const MiB = 1024 * 1024;
const TARGETS = ['direct', 'egressd', 'squid', 'parent', 'node', 'tinyproxy'];

/** One number per raw result; `better` says which way is good (for the reader). */
const ROWS = [
  { key: 'w1_rps', label: 'W1 1 KiB keep-alive, req/s', file: 'w1', better: 'higher', fmt: int, get: wrkRate },
  { key: 'w1_p50_ms', label: 'W1 p50 latency, ms', file: 'w1', better: 'lower', fmt: ms, get: (r) => r.latency_us.p50 / 1000 },
  { key: 'w1_p99_ms', label: 'W1 p99 latency, ms', file: 'w1', better: 'lower', fmt: ms, get: (r) => r.latency_us.p99 / 1000 },
  { key: 'w2_mibs', label: 'W2 1 MiB responses, MiB/s', file: 'w2', better: 'higher', fmt: int, get: (r) => r.bytes / (r.duration_us / 1e6) / MiB },
  { key: 'w3a_tps', label: 'W3a CONNECT + GET, new tunnel each, tunnels/s', file: 'w3a', better: 'higher', fmt: int, get: (r) => r.completed / r.duration_s },
  { key: 'w3b_mibs', label: 'W3b CONNECT + TLS + 16 MiB, MiB/s', file: 'w3b', better: 'higher', fmt: int, get: (r) => r.bytes / r.duration_s / MiB },
  { key: 'w4_rps', label: 'W4 new connection per request, req/s', file: 'w4', better: 'higher', fmt: int, get: wrkRate },
  { key: 'rss_idle_mb', label: 'proxy RSS idle, MB', file: 'rss-idle', better: 'lower', fmt: mb, rss: true },
  { key: 'rss_w1_max_mb', label: 'proxy RSS max under W1, MB', file: 'rss-w1', better: 'lower', fmt: mb, rss: true },
  // Run 1's W1 comes before any other workload; later runs start from what W2-W4 left
  // (freed Buffer memory that the allocator keeps), so both are shown.
  { key: 'rss_w1_first_mb', label: 'proxy RSS max under W1, first run only, MB', file: 'rss-w1', run: '1', better: 'lower', fmt: mb, rss: true },
];

function wrkRate(r) {
  return r.requests / (r.duration_us / 1e6);
}
function int(x) {
  return Math.round(x).toLocaleString('en-US');
}
function ms(x) {
  return x < 10 ? x.toFixed(2) : x.toFixed(1);
}
function mb(x) {
  return x.toFixed(1);
}
function median(xs) {
  if (!xs.length) return undefined;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Error counts of one raw result, and how many operations it attempted. */
function errorsOf(r) {
  if (r.tool === 'wrk') {
    const e = r.errors;
    return { total: e.connect + e.read + e.write + e.status + e.timeout, ops: r.requests, detail: e };
  }
  const total = Object.values(r.errors).reduce((a, b) => a + b, 0);
  return { total, ops: r.completed + total, detail: r.errors, first: r.first_error };
}

function readJson(path) {
  return JSON.parse(readFileSync(path, 'utf8'));
}

const FOREIGN_MAX = 10; // % of one bench CPU used by other processes during a run
const STEAL_MAX = 5; // % of the machine's CPU stolen by the hypervisor

/** A run is disturbed when other processes used the load CPU, or the proxy CPU while a proxy ran. */
function isDisturbed(c, target) {
  return c.foreign_load_cpu_pct > FOREIGN_MAX || (target !== 'direct' && c.foreign_proxy_cpu_pct > FOREIGN_MAX) || c.steal_pct > STEAL_MAX;
}

function cpuText(c, target) {
  if (!c) return '';
  const warn = isDisturbed(c, target) ? '  DISTURBED' : '';
  return ` | proxy CPU ${c.proxy_cpu_pct.toFixed(0)}%, other processes: ${c.foreign_proxy_cpu_pct.toFixed(0)}% of the proxy CPU, ${c.foreign_load_cpu_pct.toFixed(0)}% of the load CPU, steal ${c.steal_pct.toFixed(0)}%${warn}`;
}

function line(file, cpuFile, target) {
  const r = readJson(file);
  const cpu = cpuFile && existsSync(cpuFile) ? cpuText(readJson(cpuFile), target) : '';
  const e = errorsOf(r);
  const err = e.total ? `  ERRORS ${JSON.stringify(e.detail)}${e.first ? ` (${e.first})` : ''}` : '';
  if (r.tool === 'wrk') {
    const rate = wrkRate(r);
    const mibs = r.bytes / (r.duration_us / 1e6) / MiB;
    return `${int(rate)} req/s, ${int(mibs)} MiB/s, p50 ${ms(r.latency_us.p50 / 1000)} ms, p99 ${ms(r.latency_us.p99 / 1000)} ms${cpu}${err}`;
  }
  const rate = r.completed / r.duration_s;
  const mibs = r.bytes / r.duration_s / MiB;
  return `${int(rate)} ops/s, ${int(mibs)} MiB/s, p50 ${ms(r.latency_ms.p50)} ms, p99 ${ms(r.latency_ms.p99)} ms${cpu}${err}`;
}

function table(rawDir, outDir) {
  const meta = existsSync(join(rawDir, 'meta.json')) ? readJson(join(rawDir, 'meta.json')) : {};
  const raw = {};
  const medians = {};
  /** MB per RSS sample file (rss-idle, rss-w1.<run>), per target. */
  const rss = {};
  const cpu = {};
  const notes = [];
  const disturbed = [];
  for (const t of TARGETS) {
    const dir = join(rawDir, t);
    if (!existsSync(dir)) continue;
    const files = readdirSync(dir).sort();
    raw[t] = {};
    medians[t] = {};
    for (const row of ROWS) {
      const vals = [];
      for (const f of files) {
        const m = /^(.+?)(?:\.(\d+))?\.(json|txt)$/.exec(f);
        if (!m || m[1] !== row.file || (row.run && m[2] !== row.run)) continue;
        if (row.rss) {
          const kb = Number(readFileSync(join(dir, f), 'utf8').trim());
          if (kb > 0) {
            vals.push(kb / 1024);
            // A per-run row reads files another row already recorded.
            if (!row.run) (rss[t] ??= {})[m[2] ? `${row.file}.${m[2]}` : row.file] = kb / 1024;
          }
          continue;
        }
        const r = readJson(join(dir, f));
        (raw[t][row.file] ??= {})[m[2] ?? '0'] = r;
        vals.push(row.get(r));
      }
      if (vals.length) medians[t][row.key] = median(vals);
    }
    cpu[t] = {};
    for (const f of files) {
      const m = /^cpu-(.+)\.(\d+)\.json$/.exec(f);
      if (!m) continue;
      const c = readJson(join(dir, f));
      (cpu[t][m[1]] ??= {})[m[2]] = c;
      if (isDisturbed(c, t)) {
        disturbed.push(`${t} ${m[1].toUpperCase()} run ${m[2]}: other processes used ${c.foreign_proxy_cpu_pct.toFixed(0)}% of the proxy CPU and ${c.foreign_load_cpu_pct.toFixed(0)}% of the load CPU, steal ${c.steal_pct.toFixed(0)}%`);
      }
    }
    for (const [w, runs] of Object.entries(raw[t])) {
      for (const [run, r] of Object.entries(runs)) {
        const e = errorsOf(r);
        if (e.total) {
          const share = e.ops ? ((100 * e.total) / e.ops).toFixed(2) : '100';
          notes.push(`${t} ${w.toUpperCase()} run ${run}: ${e.total} errors (${share}% of operations) ${JSON.stringify(e.detail)}${e.first ? ` first: ${e.first}` : ''}`);
        }
      }
    }
  }

  const cell = (t, row) => (medians[t]?.[row.key] === undefined ? '–' : row.fmt(medians[t][row.key]));
  const ratio = (a, b, row) => {
    const x = medians[a]?.[row.key];
    const y = medians[b]?.[row.key];
    return x === undefined || y === undefined || y === 0 ? '–' : (x / y).toFixed(2);
  };
  const lines = [
    '| workload | direct | egressd | squid | egressd/direct | egressd/squid |',
    '|---|---:|---:|---:|---:|---:|',
  ];
  for (const row of ROWS) {
    lines.push(
      `| ${row.label} (${row.better} is better) | ${cell('direct', row)} | ${cell('egressd', row)} | ${cell('squid', row)} | ${ratio('egressd', 'direct', row)} | ${ratio('egressd', 'squid', row)} |`,
    );
  }

  // The goals of issue 2, checked against this run (tinyproxy's W4 is the peer figure
  // from shared/FACTS.md, not measured here).
  const e = medians.egressd ?? {};
  const s = medians.squid ?? {};
  const d = medians.direct ?? {};
  const goals = [];
  const goal = (name, ok, detail) => goals.push(`- ${ok === undefined ? 'n/a ' : ok ? 'met ' : 'MISSED'} ${name}: ${detail}`);
  const have = (...xs) => xs.every((x) => x !== undefined);
  goal('W1 req/s >= Squid', have(e.w1_rps, s.w1_rps) ? e.w1_rps >= s.w1_rps : undefined, `${fmtOpt(e.w1_rps, int)} vs ${fmtOpt(s.w1_rps, int)}`);
  goal('W1 p99 <= Squid', have(e.w1_p99_ms, s.w1_p99_ms) ? e.w1_p99_ms <= s.w1_p99_ms : undefined, `${fmtOpt(e.w1_p99_ms, ms)} ms vs ${fmtOpt(s.w1_p99_ms, ms)} ms`);
  goal('W2 MiB/s >= 2.5x Squid', have(e.w2_mibs, s.w2_mibs) ? e.w2_mibs >= 2.5 * s.w2_mibs : undefined, `${fmtOpt(e.w2_mibs, int)} vs 2.5 x ${fmtOpt(s.w2_mibs, int)}`);
  goal('W3a tunnels/s >= 0.9x direct', have(e.w3a_tps, d.w3a_tps) ? e.w3a_tps >= 0.9 * d.w3a_tps : undefined, `${fmtOpt(e.w3a_tps, int)} vs 0.9 x ${fmtOpt(d.w3a_tps, int)}`);
  // tinyproxy's W4 from this run when it was a target, else the peer figure of FACTS.md (another day).
  const tiny = medians.tinyproxy?.w4_rps;
  if (tiny !== undefined) goal('W4 req/s >= tinyproxy (this run)', have(e.w4_rps) ? e.w4_rps >= tiny : undefined, `${fmtOpt(e.w4_rps, int)} vs ${fmtOpt(tiny, int)}`);
  else goal('W4 req/s >= tinyproxy (3,871, FACTS.md)', e.w4_rps !== undefined ? e.w4_rps >= 3871 : undefined, `${fmtOpt(e.w4_rps, int)}`);
  goal('RSS under W1 < 100 MB', e.rss_w1_max_mb !== undefined ? e.rss_w1_max_mb < 100 : undefined, `${fmtOpt(e.rss_w1_max_mb, mb)} MB (median of the runs; first run only: ${fmtOpt(e.rss_w1_first_mb, mb)} MB)`);

  // Issue 7: the added cost of a parent hop (egressd -> Squid parent on the load CPU).
  const hop = [];
  if (medians.parent) {
    hop.push('', 'Parent hop (egressd routed through a Squid parent that shares the load CPU):', '', '| workload | egressd direct | egressd -> parent | parent/direct |', '|---|---:|---:|---:|');
    for (const row of ROWS.filter((r) => ['w1_rps', 'w1_p99_ms', 'w2_mibs', 'w3a_tps', 'w4_rps'].includes(r.key))) {
      hop.push(`| ${row.label} (${row.better} is better) | ${cell('egressd', row)} | ${cell('parent', row)} | ${ratio('parent', 'egressd', row)} |`);
    }
  }

  // The Node floor: the same workloads through bench/bare-node-proxy.mjs.
  if (medians.node) {
    hop.push('', 'Node floor (bench/bare-node-proxy.mjs: node:http + undici + a CONNECT splice, no policy, log or limits):', '', '| workload | bare node | egressd | squid | egressd/node | node/squid |', '|---|---:|---:|---:|---:|---:|');
    for (const row of ROWS) {
      hop.push(`| ${row.label} (${row.better} is better) | ${cell('node', row)} | ${cell('egressd', row)} | ${cell('squid', row)} | ${ratio('egressd', 'node', row)} | ${ratio('node', 'squid', row)} |`);
    }
  }

  // tinyproxy, when it was a target: every workload, beside egressd.
  if (medians.tinyproxy) {
    hop.push('', 'tinyproxy (Debian): it closes every client connection after its response, which wrk counts as a read error per request; the responses themselves are whole (the start-up check fetched them).', '', '| workload | tinyproxy | egressd | egressd/tinyproxy |', '|---|---:|---:|---:|');
    for (const row of ROWS) hop.push(`| ${row.label} (${row.better} is better) | ${cell('tinyproxy', row)} | ${cell('egressd', row)} | ${ratio('egressd', 'tinyproxy', row)} |`);
  }

  const out = [
    `egressd bench ${meta.started ?? ''}: median of ${meta.runs ?? '?'} run(s) of ${meta.duration_s ?? '?'} s; proxy on CPU ${meta.proxy_cpu ?? '?'}, origin and load on CPU ${meta.load_cpu ?? '?'}`,
    '',
    ...lines,
    '',
    'Issue 2 goals:',
    ...goals,
    ...hop,
  ];
  if (meta.busy_before_pct > 10) out.push('', `WARNING: the machine was ${meta.busy_before_pct}% busy before the bench started; these numbers are noisy.`);
  const proxyCpu = [];
  for (const t of ['egressd', 'squid', 'parent', 'node', 'tinyproxy']) {
    const per = Object.entries(cpu[t] ?? {}).map(([w, runs]) => `${w.toUpperCase()} ${median(Object.values(runs).map((c) => c.proxy_cpu_pct)).toFixed(0)}%`);
    if (per.length) proxyCpu.push(`- ${t}: ${per.join(', ')}`);
  }
  if (proxyCpu.length) out.push('', 'Proxy CPU use (median, % of its one core; near 100% means CPU-bound):', ...proxyCpu);
  if (disturbed.length) out.push('', `DISTURBED runs (other processes took more than ${FOREIGN_MAX}% of a bench CPU, or steal above ${STEAL_MAX}%): their numbers are unreliable, re-run on a quiet machine:`, ...disturbed.map((n) => `- ${n}`));
  if (notes.length) out.push('', 'Errors (a run with errors is not a valid measurement):', ...notes.map((n) => `- ${n}`));
  const text = out.join('\n');
  console.log(text);

  if (outDir) {
    mkdirSync(outDir, { recursive: true });
    const stamp = (meta.started ?? new Date().toISOString()).replace(/[:]/g, '').replace(/\..*$/, '');
    writeFileSync(join(outDir, `${stamp}.json`), JSON.stringify({ meta, medians, raw, rss, cpu, errors: notes, disturbed }, null, 2) + '\n');
    writeFileSync(join(outDir, `${stamp}.md`), text + '\n');
    console.log(`\nsaved ${join(outDir, `${stamp}.json`)} and .md`);
  }
}

function fmtOpt(x, f) {
  return x === undefined ? '–' : f(x);
}

const [cmd, a, b, c] = process.argv.slice(2);
if (cmd === 'line' && a) console.log(line(a, b, c));
else if (cmd === 'table' && a) table(a, b);
else {
  console.error('usage: report.mjs line FILE | table RAWDIR [OUTDIR]');
  process.exit(2);
}
