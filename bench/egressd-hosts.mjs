#!/usr/bin/env node
// Starts egressd (from dist/) like `egressd start -c CONFIG`, but with a hosts file of
// the bench's own instead of /etc/hosts (ProxyServer's `hostsFile` option, which the CLI
// does not expose). bench/intercept.sh needs it: intercepted requests go to
// https://<SNI name>:PORT, and the bench names (h1.bench ...) must resolve to 127.0.0.1
// without touching system files. Run by hand, never in CI.
//
//   node bench/egressd-hosts.mjs CONFIG HOSTS_FILE
//
// With `workers` > 1 it runs a primary and workers, as `egressd start` does.
// Signals: SIGTERM/SIGINT drain and stop (exit 0), as the CLI does. SIGUSR2 prints one
// JSON line to stderr for leak checks (after a full GC when node runs with --expose-gc):
//   {"egressd_stats":{"after_gc":true,"rss_mb":..,"heap_used_mb":..,"tunnels":n,"inflight":n,
//    "upstream":{"origins":n,"connected":n,"free":n,"running":n,..},"resources":{"TCPSocketWrap":n,..}}}
// tunnels / inflight are ProxyServer's own (private) bookkeeping; upstream is undici's pool
// stats summed over origins. With EGRESSD_BENCH_DEBUG=1 it also lists the tracked tunnel
// sockets and every live socket handle (undocumented node internals; debugging only).
// With EGRESSD_BENCH_LAG=1 (bench/soak.sh) the snapshot also has the event-loop delay
// since the previous one, in ms: "eventloop_ms":{"p50":..,"p99":..,"max":..} (perf_hooks
// histogram, sampled every 10 ms; off by default so the speed benches pay nothing).
// An uncaught exception is logged and exits 70, as the CLI does.
import cluster from 'node:cluster';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { loadConfig } from '../dist/config/load.js';
import { workerCount } from '../dist/cluster/worker-count.js';
import { ProxyServer } from '../dist/server/proxy-server.js';

const [file, hostsFile] = process.argv.slice(2);
if (!file || !hostsFile) {
  process.stderr.write('usage: node bench/egressd-hosts.mjs CONFIG HOSTS_FILE\n');
  process.exit(2);
}

// `workers` > 1 (bench/workers.sh): run as the CLI does, a primary and its workers (this
// same script, forked by node:cluster), each worker with the hosts file. SIGUSR2 stats
// are not available then.
if (cluster.isWorker) {
  const { runWorker } = await import('../dist/cluster/worker.js');
  process.exit(await runWorker({ hostsFile }));
}
const loaded = loadConfig(file);
const workers = workerCount(loaded.config.workers);
if (workers > 1) {
  process.on('SIGUSR2', () => {}); // intercept.sh asks for stats between runs: not a stop signal here
  const { runPrimary } = await import('../dist/cluster/primary.js');
  process.exit(await runPrimary(loaded, workers));
}
const proxy = new ProxyServer(loaded, { hostsFile });
process.on('uncaughtException', (err) => {
  process.stderr.write(`egressd-hosts: uncaught exception: ${err.stack ?? err}\n`);
  proxy.log.fatal({ err: { message: err.message, stack: err.stack } }, 'uncaught exception: exiting');
  proxy.flushLogs();
  process.exit(70);
});
await proxy.listen();
proxy.log.info({ config: loaded.file, pid: process.pid, hostsFile }, 'egressd started (bench launcher)');

/** undici's pool stats summed over origins: connected, free, pending, queued, running, size. */
function upstreamTotals() {
  const per = proxy.runtime?.pool?.stats;
  if (!per) return undefined;
  const sum = { origins: 0, connected: 0, free: 0, pending: 0, queued: 0, running: 0, size: 0 };
  const busy = [];
  for (const [origin, st] of Object.entries(per)) {
    sum.origins++;
    for (const k of ['connected', 'free', 'pending', 'queued', 'running', 'size']) sum[k] += st[k] ?? 0;
    if ((st.running ?? 0) + (st.pending ?? 0) + (st.queued ?? 0) > 0) busy.push(origin);
  }
  if (process.env.EGRESSD_BENCH_DEBUG === '1') sum.busy_origins = busy.slice(0, 10);
  return sum;
}

const mb = (x) => Math.round((x / 1048576) * 10) / 10;
const loopDelay = process.env.EGRESSD_BENCH_LAG === '1' ? monitorEventLoopDelay({ resolution: 10 }) : null;
loopDelay?.enable();
// The histogram holds whole timer intervals (10 ms at least): the delay is the excess.
const lagMs = (ns) => Math.max(0, Math.round((ns - 10e6) / 1e5) / 10);
process.on('SIGUSR2', () => {
  // With --expose-gc (bench/intercept.sh passes it), collect first: the heap figure is
  // then what is still referenced, not garbage waiting for the next collection.
  const gc = globalThis.gc;
  if (typeof gc === 'function') gc();
  const m = process.memoryUsage();
  const resources = {};
  for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1;
  // ProxyServer's private bookkeeping, read for leak checks only: tunnels (CONNECT/upgrade
  // sockets it still tracks) and requests in flight. 0 and 0 once every client has gone.
  const stats = {
    after_gc: typeof gc === 'function',
    rss_mb: mb(m.rss),
    heap_used_mb: mb(m.heapUsed),
    external_mb: mb(m.external),
    array_buffers_mb: mb(m.arrayBuffers),
    tunnels: proxy.tunnels?.size,
    inflight: proxy.inflight?.size,
    upstream: upstreamTotals(),
    resources,
  };
  if (loopDelay) {
    stats.eventloop_ms = { p50: lagMs(loopDelay.percentile(50)), p99: lagMs(loopDelay.percentile(99)), max: lagMs(loopDelay.max) };
    loopDelay.reset();
  }
  if (process.env.EGRESSD_BENCH_DEBUG === '1' && proxy.tunnels) {
    stats.tunnel_sockets = [...proxy.tunnels].slice(0, 20).map((s) => ({
      destroyed: s.destroyed,
      readable: s.readable,
      writable: s.writable,
      flowing: s.readableFlowing,
      paused: s.isPaused?.(),
      readableLength: s.readableLength,
      bytesRead: s.bytesRead,
      bytesWritten: s.bytesWritten,
      hasHandle: !!s._handle,
      remotePort: s.remotePort,
      listeners: { close: s.listenerCount('close'), data: s.listenerCount('data'), end: s.listenerCount('end'), error: s.listenerCount('error'), readable: s.listenerCount('readable') },
    }));
    // Every live socket handle (process._getActiveHandles is undocumented; debug only).
    stats.handles = process._getActiveHandles().filter((h) => h?.constructor?.name !== 'Server').map((h) => ({
      type: h?.constructor?.name,
      local: h.localPort,
      remote: h.remotePort,
      destroyed: h.destroyed,
      connecting: h.connecting,
      pending: h.pending,
      readyState: h.readyState,
      bytesRead: h.bytesRead,
      bytesWritten: h.bytesWritten,
      flowing: h.readableFlowing,
      tracked: proxy.tunnels.has(h),
    }));
  }
  process.stderr.write(`${JSON.stringify({ egressd_stats: stats })}\n`);
});

let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  proxy.close().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`egressd-hosts: error during shutdown: ${err}\n`);
      process.exit(1);
    },
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
