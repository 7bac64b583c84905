#!/usr/bin/env node
// One soak client process (bench/soak.sh; run by hand, never in CI), forked by run.mjs
// with an IPC channel. Sends the mix of mix.mjs at a fixed rate (open loop: a request
// starts every 1/rate s whether or not the earlier ones are done, so a slow proxy shows
// up as latency, not as a lower rate), from `startAt` for `durationMs` (ramping up over
// the first `rampMs`), and reports what
// it saw every `reportMs` to the parent:
//   { type: 'batch', items: [[kindIndex, errorKind | null, latencyMs, cacheHit, sentAt], ...], lagMaxMs }
// (lagMaxMs: this client's worst event-loop delay in that period),
// then { type: 'done', sent, backlog, firstErrors } once every request has ended (each is bounded
// by `timeoutMs`). More than `maxInflight` requests in flight: the next one is not sent
// and is counted as the error "client-backlog".
//
// With mode "check", it sends every kind twice, one after the other, and reports
//   { type: 'check', results: [{ kind, error, message }] }.
//
//   node bench/soak/client.mjs '<JSON options>'   (see run.mjs: startClient)
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { KINDS, errorKind, makeSenders, schedule } from './mix.mjs';

const o = JSON.parse(process.argv[2] ?? '{}');
const send = (msg) => new Promise((resolve) => (process.send ? process.send(msg, resolve) : resolve()));
process.on('unhandledRejection', async (err) => {
  await send({ type: 'fatal', message: String(err?.stack ?? err) });
  process.exit(1);
});
// The parent went away (Ctrl-C, killed): stop at once.
const orphaned = () => process.exit(1);
process.on('disconnect', orphaned);

const senders = makeSenders({
  proxyPort: o.proxyPort,
  httpPort: o.httpPort,
  httpsPort: o.httpsPort,
  token: o.token,
  originCa: readFileSync(o.originCaFile, 'utf8'),
  egressdCa: readFileSync(o.egressdCaFile, 'utf8'),
  timeoutMs: o.timeoutMs ?? 10_000,
});
const kindIndex = new Map(KINDS.map((k, i) => [k, i]));

async function check() {
  const results = [];
  for (const k of [...KINDS, ...KINDS]) {
    try {
      await senders.send(k);
      results.push({ kind: k.kind, error: null });
    } catch (err) {
      results.push({ kind: k.kind, error: errorKind(err), message: String(err?.message ?? err) });
    }
  }
  await senders.close();
  await send({ type: 'check', results });
}

async function load() {
  // `only`: one kind alone (to measure what each costs), instead of the mix.
  const order = o.only ? KINDS.filter((k) => k.kind === o.only) : schedule(o.seed ?? 1);
  if (order.length === 0) throw new Error(`unknown kind "${o.only}"`);
  const end = o.startAt + o.durationMs;
  // The rate ramps up linearly over the first rampMs (pools and the leaf cache fill
  // without a burst of new connections): request n is sent at sendTime(n). Clients
  // are offset by a fraction of an interval so that they do not send in lockstep.
  const perMs = o.rate / 1000;
  const ramp = Math.min(o.rampMs ?? 0, o.durationMs / 2);
  const phase = ((o.seed ?? 1) % 16) / 16 / perMs;
  const sendTime = (i) => o.startAt + phase + (i < (perMs * ramp) / 2 ? Math.sqrt((2 * i * ramp) / perMs) : i / perMs + ramp / 2);
  let items = [];
  let n = 0;
  let next = sendTime(0);
  let inflight = 0;
  let backlog = 0;
  const firstErrors = {};   // "kind: error kind" -> the first message seen, for the report
  // The client's own event-loop delay: a starved client makes the proxy look slow.
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const flush = () => {
    const lagMaxMs = Math.max(0, lag.max / 1e6 - 10);
    lag.reset();
    const batch = items;
    items = [];
    return send({ type: 'batch', items: batch, lagMaxMs });
  };
  const reporter = setInterval(flush, o.reportMs ?? 5000);

  await new Promise((resolve) => setTimeout(resolve, Math.max(0, o.startAt - Date.now())));
  await new Promise((resolve) => {
    const tick = () => {
      const now = Date.now();
      while (next <= now && next < end) {
        const k = order[n++ % order.length];
        const sentAt = next;
        next = sendTime(n);
        if (inflight >= (o.maxInflight ?? 500)) {
          backlog++;
          items.push([kindIndex.get(k), 'client-backlog', 0, null, sentAt]);
          continue;
        }
        inflight++;
        const t0 = performance.now();
        senders.send(k).then(
          (r) => items.push([kindIndex.get(k), null, performance.now() - t0, r.cacheHit, sentAt]),
          (err) => {
            const ek = errorKind(err);
            firstErrors[`${k.kind}: ${ek}`] ??= String(err?.message ?? err).slice(0, 300);
            items.push([kindIndex.get(k), ek, performance.now() - t0, null, sentAt]);
          },
        ).finally(() => {
          inflight--;
          if (next >= end && inflight === 0) resolve();
        });
      }
      if (next < end) setTimeout(tick, Math.max(1, Math.min(20, next - Date.now())));
      else if (inflight === 0) resolve();
    };
    tick();
  });
  clearInterval(reporter);
  await flush();
  lag.disable();
  await senders.close();
  await send({ type: 'done', sent: n, backlog, firstErrors });
}

await (o.mode === 'check' ? check() : load());
process.off('disconnect', orphaned);
process.disconnect?.();
