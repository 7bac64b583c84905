#!/usr/bin/env node
// The soak driver (bench/soak.sh starts the origins and egressd, then this; run by hand,
// never in CI). It
//   1. checks every kind of request once (client.mjs --mode check): a broken setup
//      stops here, before any load;
//   2. lets egressd go idle and records its open fds (the "before" figure);
//   3. forks --clients client processes sending --rate requests/s in total for
//      --minutes, and samples egressd every --sample-s seconds: VmRSS and open fds from
//      /proc/PID, and through SIGUSR2 (bench/egressd-hosts.mjs) the heap, event-loop
//      lag and what it still tracks;
//   4. once the clients are gone, lets egressd go idle again and compares;
//   5. prints the per-minute table and the verdict, writes the raw samples as JSON to
//      --results-dir, and exits 0 on PASS, 1 on FAIL, 2 if the setup is broken.
// Everything it talks to is on 127.0.0.1; every child it forks is killed by PID on exit.
import { fork } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KINDS } from './mix.mjs';
import { leftoverOf, probe, scanAccessLog } from './probe.mjs';
import { addOutcome, formatTable, formatVerdict, newMinute, summarizeMinute, verdict } from './stats.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const { values: a } = parseArgs({
  options: Object.fromEntries(
    ['proxy-pid', 'proxy-port', 'http-port', 'https-port', 'user', 'password', 'origin-ca', 'egressd-ca', 'server-log', 'access-log', 'minutes', 'rate', 'clients', 'results-dir', 'sample-s', 'fd-margin', 'rss-limit', 'params', 'check-only', 'only'].map((k) => [k, { type: 'string' }]),
  ),
});
const num = (k, min) => {
  const v = Number(a[k]);
  if (!Number.isFinite(v) || v < min) fail(`--${k} must be a number >= ${min} (got ${a[k]})`);
  return v;
};
function fail(msg) {
  process.stderr.write(`soak: ${msg}\n`);
  process.exit(2);
}
const pid = num('proxy-pid', 1);
const minutes = num('minutes', 1);
const rate = num('rate', 1);
const clients = num('clients', 1);
const sampleS = num('sample-s', 1);
const durationMs = minutes * 60_000;
const only = a.only || undefined;
if (only && !KINDS.some((k) => k.kind === only)) fail(`--only: unknown kind "${only}" (one of ${KINDS.map((k) => k.kind).join(', ')})`);
const common = {
  proxyPort: num('proxy-port', 1),
  httpPort: num('http-port', 1),
  httpsPort: num('https-port', 1),
  token: `Basic ${Buffer.from(`${a.user}:${a.password}`).toString('base64')}`,
  originCaFile: a['origin-ca'],
  egressdCaFile: a['egressd-ca'],
};
const log = (m) => process.stderr.write(`soak: ${m}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------- egressd, seen from outside
const { rssKb, fdCount, cpuWaitSeconds, cpuSeconds, listenerQueue, snapshot } = probe(pid, common.proxyPort, a['server-log']);

/** Wait until the fd count has been steady for 3 s (at least minMs, at most 30 s). */
async function settle(minMs) {
  const t0 = Date.now();
  let last = -1;
  let steady = 0;
  while (Date.now() - t0 < 30_000) {
    const n = fdCount();
    steady = n === last ? steady + 1 : 0;
    last = n;
    if (steady >= 3 && Date.now() - t0 >= minMs) break;
    await sleep(1000);
  }
  return { fds: fdCount(), rssKb: rssKb(), stats: await snapshot() };
}

// ---------------------------------------------------------------- clients
const children = new Set();
const killChildren = () => {
  for (const c of children) c.kill('SIGKILL');
};
process.on('exit', killChildren);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(130));

function startClient(opts, onMessage) {
  const child = fork(join(HERE, 'client.mjs'), [JSON.stringify({ ...common, ...opts })], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  children.add(child);
  child.on('message', onMessage);
  return new Promise((resolve) => child.once('exit', (code, signal) => {
    children.delete(child);
    resolve({ code, signal });
  }));
}

// 1. Every kind once, before any load.
const checks = [];
await startClient({ mode: 'check' }, (m) => {
  if (m.type === 'check') checks.push(...m.results);
  if (m.type === 'fatal') log(m.message);
});
const broken = checks.filter((r) => r.error);
if (checks.length === 0 || broken.length) {
  for (const r of broken) log(`check failed: ${r.kind}: ${r.error} (${r.message})`);
  fail(checks.length ? 'the setup is broken: some requests of the mix fail before any load' : 'the check client reported nothing');
}
log(`check: all ${KINDS.length} kinds answered as expected`);
if (a['check-only'] === '1') process.exit(0);

// 2. Idle before.
const before = await settle(6000);
log(`idle before the load: ${before.fds} fds, RSS ${(before.rssKb / 1024).toFixed(1)} MB`);

// 3. The load.
const perMinute = Array.from({ length: minutes }, newMinute);
const samples = [];
const clientReports = [];
const cpuAtStart = cpuSeconds();
const waitAtStart = cpuWaitSeconds();
const startAt = Date.now() + 1500;
const clientLag = Array(minutes).fill(0);
const onMessage = (m) => {
  if (m.type === 'batch') {
    const mi = Math.min(minutes - 1, Math.max(0, Math.floor((Date.now() - 2500 - startAt) / 60_000)));
    clientLag[mi] = Math.max(clientLag[mi], Math.round(m.lagMaxMs ?? 0));
    for (const [ki, err, lat, hit, sentAt] of m.items) {
      const idx = Math.min(minutes - 1, Math.max(0, Math.floor((sentAt - startAt) / 60_000)));
      addOutcome(perMinute[idx], KINDS[ki].kind, err, lat, hit);
    }
  } else if (m.type === 'done') clientReports.push(m);
  else if (m.type === 'fatal') log(`client: ${m.message}`);
};
log(`load: ${rate} req/s from ${clients} clients for ${minutes} min (ramping up over the first 10 s); a sample every ${sampleS} s`);
const exits = Array.from({ length: clients }, (_, i) => startClient({ mode: 'load', only, seed: i + 1, rate: rate / clients, startAt, durationMs, rampMs: 10_000, reportMs: 5000 }, onMessage));
let sampling = true;
const sampler = (async () => {
  await sleep(Math.max(0, startAt - Date.now()));
  for (let k = 1; sampling; k++) {
    await sleep(Math.max(0, startAt + k * sampleS * 1000 - Date.now()));
    if (!sampling || Date.now() > startAt + durationMs + 500) break;
    const st = await snapshot();
    const lq = listenerQueue();
    const s = { t: Math.round((Date.now() - startAt) / 100) / 10, cpuS: cpuSeconds(), waitS: cpuWaitSeconds(), rssKb: rssKb(), fds: fdCount(), heapMb: st?.heap_used_mb ?? null, lag: st?.eventloop_ms ?? null, tracked: leftoverOf(st), acceptQueue: lq.queue, established: lq.established };
    samples.push(s);
    if (k % Math.max(1, Math.round(60 / sampleS)) === 0) log(`  ${s.t} s: RSS ${(s.rssKb / 1024).toFixed(1)} MB, ${s.fds} fds, in flight ${s.tracked ?? '-'}, accept queue ${s.acceptQueue ?? '-'}`);
  }
})();
// Bounded: every request ends within its timeout (10 s) after the last one is sent.
const hardStop = setTimeout(() => {
  log('clients did not finish within 60 s of the end: killing them');
  killChildren();
}, startAt - Date.now() + durationMs + 60_000);
const codes = await Promise.all(exits);
clearTimeout(hardStop);
sampling = false;
await sampler;
const clientFailures = codes.filter((c) => c.code !== 0).length;

// 4. Idle after.
const after = await settle(6000);
log(`idle after the load: ${after.fds} fds, RSS ${(after.rssKb / 1024).toFixed(1)} MB, still tracked ${leftoverOf(after.stats) ?? '-'}`);

// 5. Report.
const accessLog = scanAccessLog(a['access-log']);
const rows = perMinute.map((m, i) => {
  const inMin = samples.filter((s) => s.t > i * 60 && s.t <= (i + 1) * 60);
  const last = inMin[inMin.length - 1];
  const prev = i === 0 ? { cpuS: cpuAtStart, waitS: waitAtStart, t: 0 } : samples.filter((x) => x.t <= i * 60).at(-1);
  const pct = (key) => (last && typeof prev?.[key] === 'number' && typeof last[key] === 'number' && last.t > prev.t ? Math.round(((last[key] - prev[key]) / (last.t - prev.t)) * 100) : null);
  const lags = inMin.map((s) => s.lag?.p99).filter((x) => typeof x === 'number');
  const queues = inMin.map((s) => s.acceptQueue).filter((x) => typeof x === 'number');
  return { minute: i + 1, seconds: 60, ...summarizeMinute(m), rssKb: last?.rssKb ?? null, fds: last?.fds ?? null, heapMb: last?.heapMb ?? null, lagP99Ms: lags.length ? Math.max(...lags) : null, clientLagMaxMs: clientLag[i], acceptQueueMax: queues.length ? Math.max(...queues) : null, cpuPct: pct('cpuS'), cpuWaitPct: pct('waitS') };
});
const requests = rows.reduce((n, r) => n + r.requests, 0);
const errors = rows.reduce((n, r) => n + r.errors, 0) + clientFailures;
const v = verdict({
  samples,
  durationS: durationMs / 1000,
  requests,
  errors,
  idleBefore: { fds: before.fds },
  idleAfter: { fds: after.fds, leftover: leftoverOf(after.stats) },
  cpuWaitPct: Number.isFinite(samples.at(-1)?.waitS - waitAtStart) ? Math.round(((samples.at(-1).waitS - waitAtStart) / samples.at(-1).t) * 100) : null,
  rssLimitPct: num('rss-limit', 0),
  fdMargin: num('fd-margin', 0),
});
process.stdout.write(`\nsoak: ${minutes} min, ${rate} req/s, ${clients} clients; ${only ? `only ${only}` : `mix ${KINDS.map((k) => `${k.kind} x${k.weight}`).join(', ')}`}\n\n`);
process.stdout.write(`${formatTable(rows)}\n\n`);
process.stdout.write(`access log: ${accessLog.lines} lines (${Object.entries(accessLog.msgs).map(([k, n]) => `${n} ${k}`).join(', ')}); error codes: ${JSON.stringify(accessLog.errors)}\n`);
const firstErrors = Object.assign({}, ...clientReports.map((r) => r.firstErrors ?? {}));
for (const [k, msg] of Object.entries(firstErrors)) process.stdout.write(`first error of ${k}: ${msg}\n`);
if (clientFailures) process.stdout.write(`client processes that failed: ${clientFailures}\n`);
process.stdout.write(`\n${formatVerdict(v)}\n`);

const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
const out = join(a['results-dir'], `soak-${stamp}.json`);
mkdirSync(a['results-dir'], { recursive: true });
writeFileSync(out, `${JSON.stringify({ params: { minutes, rate, clients, sampleS, only: only ?? null, mix: KINDS, ...JSON.parse(a.params ?? '{}') }, startedAt: new Date(startAt).toISOString(), idleBefore: before, idleAfter: after, samples, minutes: rows, clients: clientReports, accessLog, verdict: v }, null, 1)}\n`);
process.stdout.write(`\nraw samples: ${out}\n`);
process.exit(v.pass ? 0 : 1);
