import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import { AggregatorRegistry, Counter, Gauge, Registry } from 'prom-client';
import type { ReloadOutcome } from '../admin/proxy-view.js';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/yaml-source.js';
import { createServerLog } from '../log/access-log.js';
import { QuotaHost, type RemoteBatch } from '../quota/index.js';
import { loadPolicyFiles } from '../server/policy-files.js';
import { writeFileAtomic } from '../tls/atomic-file.js';
import { IpcChannel } from './ipc-channel.js';
import { relayLines } from './line-relay.js';
import { MSG, SLOT_ENV, type ReadyNotice } from './messages.js';
import { RotationHost } from './rotation-host.js';
import { workerCount } from './worker-count.js';
import { WorkerSlot } from './worker-slot.js';

/** Run `egressd start` as the primary of `count` workers until SIGTERM/SIGINT; the exit code. */
export function runPrimary(loaded: LoadedConfig, count: number): Promise<number> {
  return new Primary(loaded, count).run();
}

/**
 * The primary process (workers > 1). It serves no request: it forks the workers, which
 * share the listeners (node:cluster hands each accepted connection to one of them,
 * round-robin on Linux), restarts a worker that dies, forwards the signals, and keeps
 * the state that must be one for all: quota counters (QuotaHost), access-log rotation
 * (RotationHost), the aggregated metrics and the list of workers.
 */
class Primary {
  private readonly log: Logger;
  private readonly reopenOwnLog: () => void;
  private readonly slots: WorkerSlot[];
  private readonly quota: QuotaHost | null;
  private readonly rotation: RotationHost | null;
  private readonly registry = new Registry();
  private restartsTotal = 0;
  private starting = true;
  private stopping = false;
  private onStartup: (ok: boolean) => void = () => {};
  private onAllExited: () => void = () => {};
  private exitCodes: (number | null)[] = [];

  constructor(private loaded: LoadedConfig, private readonly count: number) {
    const { config } = loaded;
    const server = createServerLog(config.log.server, config.log.level);
    this.log = server.log;
    this.reopenOwnLog = () => server.dest.reopen?.();
    this.slots = Array.from({ length: count }, (_, i) => new WorkerSlot(i + 1));
    const write = (file: string, data: string): Promise<void> => writeFileAtomic(file, data, { fsync: true });
    this.quota = config.quota.store === 'memory' ? new QuotaHost(config.quota, { log: this.log, write }) : null;
    const access = config.log.access;
    const rot = config.log.rotate;
    this.rotation =
      access !== 'stdout' && access !== 'stderr' && (rot.size > 0 || rot.every > 0)
        ? new RotationHost(access, { ...rot, onProblem: (m) => this.log.error(m) }, () => this.eachReady(MSG.reopenAccess, null, 3000).then(() => {}))
        : null;
    const slots = this.slots;
    new Gauge({ name: 'egressd_workers', help: 'Worker processes ready (workers > 1)', registers: [this.registry], collect() { this.set(slots.filter((s) => s.ready).length); } });
    const self = this;
    new Counter({ name: 'egressd_worker_restarts_total', help: 'Workers restarted after dying unexpectedly', registers: [this.registry], collect() { this.reset(); this.inc(self.restartsTotal); } });
  }

  async run(): Promise<number> {
    // Handlers first: a signal during start-up must not kill the primary by default.
    let pendingReload = false;
    process.on('SIGHUP', () => {
      if (this.starting) pendingReload = true;
      else void this.reloadAll('SIGHUP');
    });
    process.on('SIGUSR1', () => {
      this.reopenOwnLog();
      this.rotation?.reopened();
      void this.eachReady(MSG.reopen, null, 3000);
      this.log.info('log files reopened (primary and every worker)');
    });
    process.on('uncaughtException', (err) => {
      this.log.fatal({ err: { message: err.message, stack: err.stack } }, 'uncaught exception in the primary: stopping the workers');
      for (const s of this.slots) s.worker?.process.kill('SIGTERM');
      process.exit(70);
    });
    const stopped = new Promise<string>((resolve) => {
      // A second signal while draining is ignored, as in a single process.
      process.on('SIGTERM', () => resolve('SIGTERM'));
      process.on('SIGINT', () => resolve('SIGINT'));
    });
    // silent: each worker's stdout/stderr is a pipe to us, relayed whole lines only.
    cluster.setupPrimary({ silent: true });
    const started = new Promise<boolean>((resolve) => (this.onStartup = resolve));
    for (const s of this.slots) this.fork(s);
    const first = await Promise.race([started, stopped]);
    if (first === false) {
      this.log.fatal({ workers: this.count }, 'not started: a worker could not start (see its lines above)');
      return (await this.stop('start-up failed'), 1);
    }
    if (first !== true) return this.stop(first); // stopped while starting
    this.starting = false;
    this.announce();
    if (pendingReload) void this.reloadAll('SIGHUP');
    return this.stop(await stopped);
  }

  private fork(slot: WorkerSlot): void {
    slot.restartTimer = null;
    const w = cluster.fork({ [SLOT_ENV]: String(slot.id) });
    slot.worker = w;
    slot.pid = w.process.pid ?? 0;
    slot.startedAt = Date.now();
    slot.ready = false;
    if (w.process.stdout) relayLines(w.process.stdout, process.stdout);
    if (w.process.stderr) relayLines(w.process.stderr, process.stderr);
    const ch = new IpcChannel(w);
    slot.channel = ch;
    this.serve(ch, slot);
    w.on('error', () => {}); // IPC to a worker that just died: its 'exit' says what happened
    w.once('exit', (code: number | null, signal: string | null) => this.exited(slot, w, code, signal));
  }

  /** What a worker may ask of the primary. */
  private serve(ch: IpcChannel, slot: WorkerSlot): void {
    ch.handle(MSG.config, () => this.loaded);
    ch.handle(MSG.ready, (body) => this.ready(slot, body as ReadyNotice));
    ch.handle(MSG.quota, (body) => {
      if (!this.quota) throw new Error('the primary keeps no quota counters (quota.store is not memory)');
      return this.quota.handle(body as RemoteBatch);
    });
    ch.handle(MSG.quotaUsage, () => this.quota?.usage() ?? []);
    ch.handle(MSG.metricsAll, () => this.metrics());
    ch.handle(MSG.workers, () => this.slots.map((s) => s.status()));
    ch.handle(MSG.reloadAll, () => this.reloadAll('admin API'));
    ch.handle(MSG.purgeAll, (input) => this.eachReady(MSG.purge, input, 5000));
  }

  private ready(slot: WorkerSlot, notice: ReadyNotice): void {
    slot.ready = true;
    slot.addresses = notice.addresses;
    const restarted = slot.everReady;
    slot.everReady = true;
    if (restarted && !this.stopping) this.log.info({ worker: slot.id, pid: slot.pid, restarts: slot.restarts }, `worker ${slot.id} restarted (pid ${slot.pid})`);
    // node:cluster shares one listening socket per address and port among the workers
    // (port 0 included: the first bind picks the port, the others get the same one).
    const ref = this.slots.find((s) => s !== slot && s.ready)?.addresses;
    if (ref && JSON.stringify(ref) !== JSON.stringify(notice.addresses)) {
      this.log.error({ worker: slot.id, addresses: notice.addresses, expected: ref }, `worker ${slot.id} listens on other addresses than the other workers`);
    }
    if (this.starting && this.slots.every((s) => s.ready)) this.onStartup(true);
  }

  /** The one "listening on" line per listener, for all workers. */
  private announce(): void {
    const pids = this.slots.map((s) => s.pid);
    this.slots[0]!.addresses.forEach((a, i) => {
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      const mode = this.loaded.config.listeners[i]?.mode ?? 'forward';
      this.log.info({ address: a.address, port: a.port, mode, workers: this.count, pids }, `listening on ${host}:${a.port}`);
    });
    this.log.info({ config: this.loaded.file, pid: process.pid, workers: this.count, pids }, `egressd started with ${this.count} workers`);
  }

  private exited(slot: WorkerSlot, w: Worker, code: number | null, signal: string | null): void {
    if (slot.worker !== w) return;
    slot.channel?.close(`worker ${slot.id} exited`);
    slot.channel = null;
    slot.worker = null;
    slot.ready = false;
    if (this.stopping) {
      this.exitCodes.push(code);
      if (this.slots.every((s) => s.worker === null)) this.onAllExited();
      return;
    }
    const how = signal ? `signal ${signal}` : `code ${code}`;
    if (this.starting && !slot.everReady) {
      this.log.error({ worker: slot.id, pid: slot.pid, code, signal }, `worker ${slot.id} (pid ${slot.pid}) exited during start-up (${how})`);
      this.onStartup(false);
      return;
    }
    const delay = slot.died();
    this.log.error({ worker: slot.id, pid: slot.pid, code, signal, restartInMs: delay }, `worker ${slot.id} (pid ${slot.pid}) died (${how}): restarting it in ${delay} ms`);
    slot.restartTimer = setTimeout(() => {
      slot.restarts++;
      this.restartsTotal++;
      this.fork(slot);
    }, delay);
  }

  /**
   * Validate the config in the primary first, so that a bad file is rejected once and
   * no worker ever sees it; then reload every worker.
   */
  private async reloadAll(source: string): Promise<ReloadOutcome> {
    let next: LoadedConfig;
    try {
      next = loadConfig(this.loaded.file);
      await loadPolicyFiles(next.config);
    } catch (err) {
      const problems = err instanceof ConfigError ? err.problems.map(formatProblem) : [String(err)];
      this.log.error({ problems, source }, 'reload rejected: the config is invalid; every worker keeps the running config and policy');
      for (const p of problems) this.log.error(p);
      return { ok: false, problems };
    }
    if (workerCount(next.config.workers) !== this.count) this.log.warn({ keys: ['workers'] }, 'changes to workers take effect at the next restart');
    this.loaded = next;
    this.quota?.configure(next.config.quota);
    const results = await this.eachReady<ReloadOutcome>(MSG.reload, next, 60_000, (err) => ({ ok: false, problems: [String(err)] }));
    const bad = results.find((r) => !r.ok);
    if (bad) {
      this.log.error({ problems: bad.ok ? [] : bad.problems, source }, 'reload rejected by a worker');
      return bad;
    }
    const generation = Math.max(0, ...results.map((r) => (r.ok ? r.generation : 0)));
    this.log.info({ generation, workers: results.length, source, file: next.file }, 'config reloaded in every worker');
    return { ok: true, generation };
  }

  /** Every worker's metrics, summed (gauges that describe the whole say how in their `aggregator`). */
  private async metrics(): Promise<string> {
    const lists = await this.eachReady<unknown[] | null>(MSG.metrics, null, 3000, () => null);
    const all = [...lists.filter((l): l is unknown[] => l !== null), await this.registry.getMetricsAsJSON()];
    return AggregatorRegistry.aggregate(all as Parameters<typeof AggregatorRegistry.aggregate>[0]).metrics();
  }

  /** Ask every ready worker; `onError` turns a failed answer into a value (default: rethrow). */
  private eachReady<T>(type: string, body: unknown, timeoutMs: number, onError?: (err: unknown) => T): Promise<T[]> {
    return Promise.all(
      this.slots
        .filter((s) => s.ready && s.channel)
        .map((s) => {
          const p = s.channel!.request<T>(type, body, timeoutMs);
          return onError ? p.catch(onError) : p;
        }),
    );
  }

  /** Drain every worker (each gets SIGTERM), then write the final quota snapshot. */
  private async stop(signal: string): Promise<number> {
    this.stopping = true;
    for (const s of this.slots) if (s.restartTimer) clearTimeout(s.restartTimer);
    const live = this.slots.filter((s) => s.worker !== null);
    this.log.info({ signal, workers: live.length }, 'draining: every worker stops accepting and finishes what is in flight');
    const allExited = new Promise<void>((resolve) => (this.onAllExited = resolve));
    for (const s of live) s.worker!.process.kill('SIGTERM');
    const graceMs = this.loaded.config.timeouts.shutdownGrace + 10_000;
    let killed = false;
    if (live.length) {
      const timer = setTimeout(() => {
        killed = true;
        for (const s of this.slots) {
          if (!s.worker) continue;
          this.log.error({ worker: s.id, pid: s.pid }, `worker ${s.id} did not stop within ${graceMs} ms: killing it`);
          s.worker.process.kill('SIGKILL');
        }
      }, graceMs);
      await allExited;
      clearTimeout(timer);
    }
    this.rotation?.close();
    await this.quota?.close().catch((err: unknown) => this.log.error({ err: String(err) }, 'quota counters did not close cleanly'));
    const clean = !killed && this.exitCodes.every((c) => c === 0);
    this.log.info({ workers: this.count, exitCodes: this.exitCodes }, 'stopped');
    return clean ? 0 : 1;
  }
}
