import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { ProxyServer } from '../../src/server/proxy-server.js';
import { baseConfig, listenOrClean, LogSink, merge } from './proxy.js';

/**
 * A real egressd for the access-control and exhaustion tests: every listener's bound
 * port, the admin port, a hosts file of our own (names pinned to any address, IPv6
 * too), extra files next to the config, and a reconfigure() that rewrites the config
 * (merged over the starting one) and reloads it.
 */
export interface AcProxy {
  proxy: ProxyServer;
  /** Bound ports of the listeners, in config order. */
  ports: number[];
  /** The first listener's port. */
  port: number;
  /** The admin listener's port, or 0 without one. */
  adminPort: number;
  access: LogSink;
  server: LogSink;
  dir: string;
  reconfigure(over: Record<string, unknown>): ReturnType<ProxyServer['reload']>;
  close(): Promise<void>;
}

export interface AcProxyOptions {
  config?: Record<string, unknown>;
  /** Lines "address name" of the proxy's hosts file, after "127.0.0.1 localhost": [address, name] pairs. */
  hosts?: [string, string][];
  /** Files written next to the config first (users files...). */
  files?: Record<string, string>;
}

export async function startAcProxy(opts: AcProxyOptions = {}): Promise<AcProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'egressd-ac-'));
  for (const [name, text] of Object.entries(opts.files ?? {})) writeFileSync(join(dir, name), text);
  const hostsFile = join(dir, 'hosts');
  writeFileSync(hostsFile, [['127.0.0.1', 'localhost'], ...(opts.hosts ?? [])].map(([ip, name]) => `${ip} ${name}\n`).join(''));
  const configFile = join(dir, 'egressd.yaml');
  const config = merge(baseConfig(), opts.config ?? {});
  writeFileSync(configFile, stringify(config));
  const access = new LogSink();
  const server = new LogSink();
  const proxy = new ProxyServer(loadConfig(configFile), { accessLog: access, serverLog: server, hostsFile });
  const ports = (await listenOrClean(proxy, dir)).map((b) => b.port);
  return {
    proxy,
    ports,
    port: ports[0]!,
    adminPort: proxy.admin.address?.port ?? 0,
    access,
    server,
    dir,
    reconfigure(over) {
      writeFileSync(configFile, stringify(merge(config, over)));
      return proxy.reload();
    },
    async close() {
      await proxy.close(0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
