import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { loadConfig, type LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/yaml-source.js';
import type { LoadedPolicy } from '../policy/index.js';
import { IdGenerator, type ProxyContext } from '../exchange/context.js';
import type { Runtime } from '../exchange/runtime.js';
import { ProxyError } from '../http/errors.js';
import { AccessLog, createServerLog, type Destination, type LogTarget } from '../log/access-log.js';
import type { InterceptionDeps } from '../tunnel/connect.js';
import type { Interceptor } from '../tunnel/interceptor.js';
import { interceptionWanted } from '../tunnel/interception-wanted.js';
import { SelfEndpoints } from '../upstream/dialer.js';
import { buildCacheStore, buildRuntime, type Shared } from './build-runtime.js';
import type { CacheStore } from '../cache/index.js';
import { AdminServer } from '../admin/admin-server.js';
import type { ListenerView, ProxyView } from '../admin/proxy-view.js';
import { serveLocal } from '../exchange/local-pages.js';
import type { CacheStatus } from '../cache/status.js';
import { filesOf, loadPolicyFiles, PolicyWatcher } from './policy-files.js';
import { Quotas } from '../quota/index.js';
import { OffThreadPasswordCheck } from '../auth/index.js';
import { writeFileAtomic } from '../tls/atomic-file.js';
import { Generations } from './generations.js';
import { ClientGate } from './client-gate.js';
import { TransparentListener } from './transparent-listener.js';
import { HttpFront } from './http-front.js';
import { bindServer, formatBound } from './bind.js';
import { ProxyHeaderAcceptor } from './proxy-protocol-accept.js';
import { ProxyProtocolListener } from './proxy-protocol-listener.js';
import type { WorkerRole } from './worker-role.js';
import { cachePurge } from '../admin/cache-api.js';
import type { TransparentInfo } from '../exchange/transparent-target.js';
import { keysNeedingRestart } from './restart-keys.js';
import { pacProxyAddress } from './pac-address.js';
import { drainUntil } from './drain.js';
import { LiveTunnels } from './live-tunnels.js';
import { SlotList } from '../util/slot-list.js';

export interface ProxyOptions {
  /** Override the access log destination from the config (tests pass a stream). */
  accessLog?: LogTarget;
  serverLog?: LogTarget;
  hostsFile?: string;
  /** Set when this proxy is one worker of several (src/cluster/worker.ts). */
  worker?: WorkerRole;
}

export type ReloadResult = { ok: true; generation: number } | { ok: false; problems: string[] };

export interface BoundAddress {
  address: string;
  port: number;
  family: string;
}

/**
 * The whole proxy for one config file: listeners, the current Runtime, live tunnels.
 * Nothing global: a test builds one on port 0 and closes it.
 */
export class ProxyServer {
  readonly log: Logger;
  private readonly serverLogDest: Destination;
  private readonly watcher: PolicyWatcher;
  /** Watches the users and groups files (auth.watch). */
  private readonly userWatcher: PolicyWatcher;
  /** TLS interception, when the config or policy asks for it (built at listen). */
  private interception: InterceptionDeps | null = null;
  private rt: Runtime;
  private generation = 1;
  private readonly servers: Server[] = [];
  /** Transparent listeners (their node:http servers are in `servers` too). */
  private readonly transparent: TransparentListener[] = [];
  /** Forward listeners with the PROXY protocol (their node:http servers are in `servers` too). */
  private readonly fronts: ProxyProtocolListener[] = [];
  private readonly tunnels = new LiveTunnels();
  private readonly gate: ClientGate;
  /** The node:http servers and how their requests and tunnels reach the pipeline. */
  private readonly front: HttpFront;
  private readonly accessLog: AccessLog;
  /** Quota counters outlive reloads (a SIGHUP must not hand everyone a fresh allowance). */
  private readonly quotas: Quotas;
  private readonly passwords = new OffThreadPasswordCheck();
  /** Requests in flight, so a shutdown that cuts them can say so in their log lines. */
  private readonly inflight = new SlotList<ProxyContext>();
  private draining = false;
  /** Every configured listener is bound (readiness, with !draining). */
  private listening = false;
  /** The forward listeners as bound (port 0 resolved), for status and the PAC file. */
  private readonly bound: ListenerView[] = [];
  private readonly self = new SelfEndpoints();
  private readonly generations = new Generations();
  /** Built once from the first config: cached responses survive reloads. */
  private readonly cache: { store: CacheStore; counts: Record<CacheStatus, number> } | null;
  /** The admin listener (health, metrics, status, reload, cache, dashboard), when admin.listen is set. */
  readonly admin: AdminServer;

  constructor(private loaded: LoadedConfig, private readonly opts: ProxyOptions = {}) {
    const { config } = loaded;
    const worker = opts.worker;
    // Workers share the log files: each line says which worker wrote it.
    const base = worker ? { worker: worker.id } : null;
    const server = createServerLog(opts.serverLog ?? config.log.server, config.log.level, base);
    this.log = server.log;
    this.serverLogDest = server.dest;
    this.admin = new AdminServer(config.admin, { view: this.adminView(), log: this.log, name: config.proxy.name, listens: !worker || worker.admin });
    this.accessLog = new AccessLog(opts.accessLog ?? config.log.access, {
      format: config.log.format,
      base,
      // With workers the primary rotates the shared file once and tells each to reopen.
      rotation: worker ? undefined : config.log.rotate,
      redactQuery: config.log.redact.query,
      onProblem: (m) => this.log.error(m),
      onNotice: (m) => this.log.info(m),
      // Metrics and the dashboard count each line as it is written (one hook, no per-stage code).
      onRecord: this.admin.recorder,
    });
    const store = buildCacheStore(config, this.log);
    this.cache = store ? { store, counts: { hit: 0, stale: 0, revalidated: 0, miss: 0, bypass: 0 } } : null;
    // fsync: the snapshot is what "counters survive a restart" rests on.
    this.quotas = new Quotas(config.quota, { log: this.log, write: (file, data) => writeFileAtomic(file, data, { fsync: true }), remote: worker?.quota });
    this.rt = buildRuntime(loaded, this.shared(new IdGenerator()), this.generation, null);
    this.watcher = new PolicyWatcher(() => void this.reloadPolicy());
    this.userWatcher = new PolicyWatcher(() => this.reloadUsers());
    const { limits } = config;
    this.gate = new ClientGate(config.clients.allow, limits.maxConnections, limits.maxConnectionsPerClient);
    this.front = new HttpFront({
      runtime: () => this.rt,
      config: () => this.loaded.config,
      gate: this.gate,
      draining: () => this.draining,
      interception: () => this.interception,
      registry: this.tunnels,
      generations: this.generations,
      inflight: this.inflight,
      trackTunnel: this.tunnels.track,
    });
  }

  /** What the admin listener sees: getters read at each request, so reloads show at once. */
  private adminView(): ProxyView {
    return {
      configFile: () => this.loaded.file,
      generation: () => this.generation,
      listeners: () => this.bound,
      ready: () => this.listening && !this.draining,
      draining: () => this.draining,
      active: () => ({ connections: this.gate.connections, requests: this.inflight.size, tunnels: this.tunnels.open }),
      parents: () => this.rt.upstream.status(),
      cache: () => this.rt.cache,
      ca: () => this.rt.ca,
      leaves: () => this.interception?.interceptor.leaves.stats ?? null,
      // With workers, a reload through the admin API reaches every worker (via the primary).
      reload: () => (this.opts.worker ? this.opts.worker.cluster.reload() : this.reload()),
      localPage: (path, method, host, res) => serveLocal(this.rt, path, method, pacProxyAddress(this.bound, host), res),
      cluster: this.opts.worker?.cluster,
    };
  }

  /** This worker's metrics as prom-client JSON (the primary sums the workers'). */
  metricsJson(): Promise<unknown[]> {
    return this.admin.metricsJson();
  }

  /** Purge this process's cache (an admin purge reaching every worker). */
  purgeCache(input: unknown): { status: number; body: Record<string, unknown> } {
    return cachePurge(this.rt.cache, input);
  }

  private shared(ids: IdGenerator): Shared {
    return { accessLog: this.accessLog, log: this.log, ids, self: this.self, quota: this.quotas, passwords: this.passwords, hostsFile: this.opts.hostsFile, cache: this.cache, ca: this.interception?.interceptor.download ?? null };
  }

  get runtime(): Runtime {
    return this.rt;
  }

  get configFile(): string {
    return this.loaded.file;
  }

  /** Bind every listener. Resolves with the bound addresses (port 0 → the real port). */
  async listen(): Promise<BoundAddress[]> {
    // The policy must be valid before the first request: a ConfigError stops the start.
    const { files, watch } = this.loaded.config.policy;
    const policy = await loadPolicyFiles(this.loaded.config);
    this.rt = { ...this.rt, policy };
    if (this.rt.quota) await this.quotas.open();
    if (watch) this.watcher.watch(filesOf(files, policy));
    if (policy) this.log.info({ files, rules: policy.rules.length }, 'policy loaded');
    this.watchUsers();
    await this.ensureInterception();
    // The disk tier's index is rebuilt before the first request can look it up.
    await this.cache?.store.open();
    this.rt.upstream.start();
    const out: BoundAddress[] = [];
    for (const l of this.loaded.config.listeners) {
      let a: AddressInfo;
      // Behind an L4 balancer: the PROXY protocol header is read before anything else.
      const acceptor = l.proxyProtocol === 'off' ? null : new ProxyHeaderAcceptor(l.proxyProtocol, l.proxyFrom, { runtime: () => this.rt, connections: () => this.gate.connections });
      if (l.mode === 'transparent') {
        a = await this.listenTransparent(l.address, l.port, { httpPort: l.httpPort ?? 80, tlsPort: l.tlsPort ?? 443 }, acceptor);
      } else if (acceptor) {
        const http = this.front.listener();
        const front = new ProxyProtocolListener(acceptor, http, () => this.rt.log);
        a = await front.listen(bare(l.address), l.port);
        this.fronts.push(front);
        this.servers.push(http);
      } else {
        const server = this.front.listener();
        a = await bindServer(server, bare(l.address), l.port);
        this.servers.push(server);
      }
      this.self.add(a.address, a.port);
      out.push({ address: a.address, port: a.port, family: a.family });
      this.bound.push({ address: a.address, port: a.port, family: a.family, mode: l.mode });
      const pp = acceptor ? { proxyProtocol: l.proxyProtocol, proxyFrom: l.proxyFrom } : {};
      // With workers the primary says it once for all of them.
      this.log[this.opts.worker ? 'debug' : 'info']({ address: a.address, port: a.port, mode: l.mode, ...pp }, `listening on ${formatBound(a)}`);
    }
    this.listening = true;
    const admin = await this.admin.listen();
    // The admin API must not be reachable through the proxy (it trusts loopback callers).
    if (admin) this.self.add(admin.address, admin.port);
    return out;
  }

  /**
   * A transparent listener: a net.Server that sniffs each connection and hands plain
   * HTTP to a node:http server that never listens (the same handlers as a forward
   * listener) and TLS to the tunnel pipeline by SNI.
   */
  private async listenTransparent(address: string, port: number, info: TransparentInfo, acceptor: ProxyHeaderAcceptor | null): Promise<AddressInfo> {
    const http = this.front.listener(info);
    const t = new TransparentListener(info, {
      gate: this.gate,
      runtime: () => this.rt,
      interception: () => this.interception,
      registry: this.tunnels,
      track: this.tunnels.track,
      draining: () => this.draining,
      http,
      acceptor,
    });
    const a = await t.listen(bare(address), port);
    this.transparent.push(t);
    this.servers.push(http);
    return a;
  }

  /** Build the interceptor (loading or creating the CA) when the config or policy wants it. */
  private async ensureInterception(reloading = false): Promise<void> {
    const { config, policy } = this.rt;
    if (this.interception) {
      this.interception.interceptor.configure(config);
      if (reloading) await this.interception.interceptor.recheck(config);
      return;
    }
    if (!interceptionWanted(config, policy)) return;
    // Loaded here, not at the top: it brings node-forge, which a proxy that only
    // tunnels never needs in memory.
    const { Interceptor } = await import('../tunnel/interceptor.js');
    // The CA error names the file; say what it is for (start: the one line on stderr).
    const interceptor = await Interceptor.create(config, this.log).catch((err: unknown) => {
      throw Object.assign(new Error(`interception CA: ${(err as Error).message}`, { cause: err }), { code: (err as { code?: string }).code });
    });
    this.interception = { interceptor, inner: { http: this.front.inner() } };
    this.rt = { ...this.rt, ca: interceptor.download };
  }

  /**
   * Validate the config file again and swap it in. A file that fails validation is
   * rejected with its problems logged; the running config stays in force. `given`: a
   * config already validated (by the primary of several workers, so all run the same).
   */
  async reload(given?: LoadedConfig): Promise<ReloadResult> {
    let next: LoadedConfig;
    let rt: Runtime;
    const previous = this.rt;
    try {
      next = given ?? loadConfig(this.loaded.file);
      const policy = await loadPolicyFiles(next.config);
      rt = buildRuntime(next, this.shared(previous.ids), this.generation + 1, policy);
    } catch (err) {
      return this.rejected('config', err);
    }
    const needRestart = keysNeedingRestart(this.loaded.config, next.config);
    if (needRestart.length) this.log.warn({ keys: needRestart }, `changes to ${needRestart.join(', ')} take effect at the next restart`);
    this.loaded = next;
    this.generation++;
    this.rt = rt;
    rt.upstream.start();
    this.quotas.configure(next.config.quota);
    if (next.config.policy.watch) this.watcher.watch(filesOf(next.config.policy.files, rt.policy as LoadedPolicy | null));
    else this.watcher.watch([]);
    this.watchUsers();
    try {
      await this.ensureInterception(true);
    } catch (err) {
      this.log.error({ err: String(err) }, 'interception unavailable: the CA could not be loaded; CONNECT tunnels are not decrypted');
    }
    const { limits, timeouts } = next.config;
    this.gate.configure(next.config.clients.allow, limits.maxConnections, limits.maxConnectionsPerClient);
    for (const s of this.servers) {
      s.headersTimeout = timeouts.requestHeaders;
      s.keepAliveTimeout = timeouts.clientIdle;
      s.setTimeout(timeouts.bodyIdle);
    }
    // Requests that started on the old generation finish on its pool, even those still
    // in a stage: it closes when the last of them has ended.
    if (previous.upstream !== rt.upstream) this.generations.retire(previous.upstream);
    this.log.info({ generation: this.generation, file: next.file }, 'config reloaded');
    return { ok: true, generation: this.generation };
  }

  flushLogs(): void {
    this.accessLog.flush();
  }

  /** Reload only the policy files (a watched file changed). Same all-or-nothing rule. */
  async reloadPolicy(): Promise<ReloadResult> {
    const { files } = this.loaded.config.policy;
    let policy: LoadedPolicy | null;
    try {
      policy = await loadPolicyFiles(this.loaded.config);
    } catch (err) {
      // Editors save by rename: keep watching the new files so the next save is seen.
      this.watcher.watch(filesOf(files, this.rt.policy as LoadedPolicy | null));
      return this.rejected('policy', err);
    }
    this.generation++;
    this.rt = { ...this.rt, policy, generation: this.generation };
    this.watcher.watch(filesOf(files, policy));
    this.log.info({ generation: this.generation, files, rules: policy?.rules.length ?? 0 }, 'policy reloaded');
    await this.ensureInterception().catch((err: unknown) => this.log.error({ err: String(err) }, 'interception unavailable: the CA could not be loaded'));
    return { ok: true, generation: this.generation };
  }

  private watchUsers(): void {
    const files = this.rt.userFiles;
    this.userWatcher.watch(files && this.loaded.config.auth.watch ? files.files : []);
  }

  /**
   * Re-read the users and groups files (one changed). Cached credentials of users whose
   * password or groups changed, or who were removed, stop working at once (see
   * CredentialCache). A file with a problem is rejected and the previous users stay.
   */
  reloadUsers(): ReloadResult {
    const files = this.rt.userFiles;
    if (!files) return { ok: true, generation: this.generation };
    const problems = files.reload().map((p) => `${p.file}:${p.line}:${p.col}: ${p.message}`);
    // Editors save by rename: re-arm the watch on the new inode either way.
    this.watchUsers();
    if (problems.length) {
      this.log.error({ problems }, 'users reload rejected: a users or groups file is invalid; the previous users stay in force');
      for (const p of problems) this.log.error(p);
      return { ok: false, problems };
    }
    this.log.info({ files: files.files, users: files.size }, 'users reloaded');
    return { ok: true, generation: this.generation };
  }

  private rejected(what: 'config' | 'policy', err: unknown): ReloadResult {
    const problems = err instanceof ConfigError ? err.problems.map(formatProblem) : [String(err)];
    this.log.error({ problems }, `reload rejected: the ${what} is invalid; the running config and policy stay in force`);
    // One line per problem too, whose message is the bare file:line:col: text.
    for (const p of problems) this.log.error(p);
    return { ok: false, problems };
  }

  /** The primary rotated the shared access log: write the rest to the old file, continue in the new one. */
  reopenAccessLog(): Promise<void> {
    return this.accessLog.reopenAndWait();
  }

  /** After logrotate moved the files (SIGUSR1). */
  reopenLogs(): void {
    this.accessLog.reopen();
    this.serverLogDest.reopen?.();
    this.log.info('log files reopened');
  }

  /**
   * Stop accepting, let in-flight requests and tunnels finish for up to `graceMs`,
   * then cut what is left and flush the access log.
   */
  async close(graceMs = this.loaded.config.timeouts.shutdownGrace): Promise<void> {
    this.draining = true;
    this.watcher.close();
    this.userWatcher.close();
    for (const s of this.servers) s.close();
    for (const t of this.transparent) t.close();
    for (const f of this.fronts) f.close();
    // The inner server never bound: close() only stops its connection checks.
    this.interception?.inner.http.close(() => {});
    const deadline = Date.now() + graceMs;
    const servers = this.interception ? [...this.servers, this.interception.inner.http] : this.servers;
    if (!(await drainUntil(servers, () => this.inflight.size + this.tunnels.sockets.size, deadline))) {
      this.log.warn({ requests: this.inflight.size, tunnels: this.tunnels.sockets.size }, 'shutdown grace expired: closing what is left');
    }
    const cut = new ProxyError('SHUTTING_DOWN', `cut by shutdown after the ${graceMs} ms grace period`);
    for (const ctx of this.inflight) if (!ctx.errorCode) ctx.fail(cut);
    for (const s of servers) s.closeAllConnections();
    for (const t of this.tunnels.sockets) t.destroy(cut);
    await this.rt.upstream.destroy().catch(() => {});
    // Leaves issued in the last moments are still being written to the disk cache.
    await this.interception?.interceptor.leaves.flush();
    await this.cache?.store.close().catch(() => {});
    await this.passwords.close();
    // After the last request and tunnel: their bytes are in the final snapshot.
    await this.quotas.close().catch((err: unknown) => this.log.error({ err: String(err) }, 'quota store did not close cleanly'));
    // Let 'close' handlers write their log lines before the final flush.
    await new Promise((r) => setImmediate(r));
    // Bounded, and never stuck on a full disk (what cannot be written is reported).
    await this.accessLog.drain();
    // Last: /readyz answers 503 while draining, so a balancer takes this instance out.
    await this.admin.close();
    this.log.info('stopped');
  }
}

function bare(address: string): string {
  return address.replace(/^\[|\]$/g, '');
}
