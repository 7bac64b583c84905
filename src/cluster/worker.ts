import { deepFreeze, type LoadedConfig } from '../config/load.js';
import type { AdminCluster, ReloadOutcome, WorkerStatus } from '../admin/proxy-view.js';
import type { RemoteAnswer, UsageEntry } from '../quota/index.js';
import { openProxy, serveUntilStopped } from '../server/run-proxy.js';
import type { ProxyOptions } from '../server/proxy-server.js';
import type { WorkerRole } from '../server/worker-role.js';
import { IpcChannel, type IpcPort } from './ipc-channel.js';
import { MSG, SLOT_ENV, type ReadyNotice } from './messages.js';

/**
 * One worker of several (forked by the primary, src/cluster/primary.ts): the whole
 * proxy on the listeners the primary shares, with what must be global (quota
 * counters, metrics, reload, the admin listener's cross-worker answers) asked of the
 * primary over IPC. Exits when the primary tells it to stop (SIGTERM), or soon after
 * the primary is gone (the IPC channel closes): a worker never outlives its primary.
 * `extra`: ProxyServer options of an embedding launcher (bench/egressd-hosts.mjs: hostsFile).
 */
export async function runWorker(extra: Omit<ProxyOptions, 'worker'> = {}): Promise<number> {
  const slot = Number(process.env[SLOT_ENV] ?? '0');
  const channel = new IpcChannel(process as unknown as IpcPort);
  // The config in force in the primary: a worker restarted after someone saved a broken
  // file (and the SIGHUP was rejected) must start with what the others run.
  let loaded: LoadedConfig;
  try {
    loaded = deepFreeze(await channel.request<LoadedConfig>(MSG.config, null, 10_000));
  } catch (err) {
    process.stderr.write(`egressd worker ${slot}: not started: no config from the primary (${(err as Error).message})\n`);
    channel.close();
    return 1;
  }
  const cluster: AdminCluster = {
    metrics: () => channel.request<string>(MSG.metricsAll, null, 5000),
    workers: () => channel.request<WorkerStatus[]>(MSG.workers, null, 2000),
    reload: () => channel.request<ReloadOutcome>(MSG.reloadAll, null, 60_000),
    purge: (input) => channel.request(MSG.purgeAll, input, 10_000),
  };
  const role: WorkerRole = {
    id: slot,
    admin: slot === 1,
    quota: {
      batch: (b, timeoutMs) => channel.request<RemoteAnswer[]>(MSG.quota, b, timeoutMs),
      usage: (timeoutMs) => channel.request<UsageEntry[]>(MSG.quotaUsage, null, timeoutMs),
    },
    cluster,
  };
  const started = await openProxy(loaded, { ...extra, worker: role });
  if (!started) {
    channel.close();
    process.disconnect?.();
    return 1;
  }
  const { proxy, addresses } = started;
  channel.handle(MSG.reload, (next) => proxy.reload(deepFreeze(next as LoadedConfig)));
  channel.handle(MSG.reopen, () => proxy.reopenLogs());
  channel.handle(MSG.reopenAccess, () => proxy.reopenAccessLog());
  channel.handle(MSG.metrics, () => proxy.metricsJson());
  channel.handle(MSG.purge, (input) => proxy.purgeCache(input));
  // The primary validates and forwards reloads; a SIGHUP sent to a worker alone (or the
  // terminal's hang-up reaching the whole group) must not make the workers disagree.
  process.on('SIGHUP', () => proxy.log.warn({ pid: process.pid }, 'SIGHUP ignored by a worker: send it to the primary, which reloads every worker'));
  const ready: ReadyNotice = { addresses, admin: proxy.admin.address };
  channel.notify(MSG.ready, ready);
  const orphaned = new Promise<string>((resolve) => process.once('disconnect', () => resolve('primary gone')));
  const stopped = serveUntilStopped(proxy, orphaned);
  proxy.log.info({ pid: process.pid, config: loaded.file }, `worker ${slot} started`);
  const code = await stopped;
  channel.close();
  if (process.connected) process.disconnect();
  // Nothing should be left, but a stuck handle must not keep a stopped worker around.
  setTimeout(() => process.exit(code), 2000).unref();
  return code;
}

