import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { ProxyServer } from '../../src/server/proxy-server.js';
import { baseConfig, LogSink, merge } from './proxy.js';

/**
 * A real egressd whose folder (config, policy, quota snapshot) outlives the proxy, so a
 * test can close it and start another on the same state file.
 */
export interface QuotaProxy {
  proxy: ProxyServer;
  port: number;
  url: string;
  access: LogSink;
  server: LogSink;
  close(): Promise<void>;
}

export class QuotaDir {
  readonly dir = mkdtempSync(join(tmpdir(), 'egressd-quota-'));
  readonly configFile = join(this.dir, 'egressd.yaml');

  /** Write files next to the config (policy files, hosts, a snapshot). */
  write(name: string, text: string): string {
    const p = join(this.dir, name);
    writeFileSync(p, text);
    return p;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** Rewrite the config (merged over baseConfig()), e.g. before proxy.reload(). */
  writeConfig(overrides: Record<string, unknown>): void {
    writeFileSync(this.configFile, stringify(merge(baseConfig(), overrides)));
  }

  /** Write the config and start a proxy on it. */
  async start(overrides: Record<string, unknown>, hosts: Record<string, string> = {}): Promise<QuotaProxy> {
    this.writeConfig(overrides);
    const hostsFile = this.write('hosts', Object.entries(hosts).map(([h, ip]) => `${ip} ${h}\n`).join(''));
    const access = new LogSink();
    const server = new LogSink();
    const proxy = new ProxyServer(loadConfig(this.configFile), { accessLog: access, serverLog: server, hostsFile });
    const [bound] = await proxy.listen();
    const port = bound!.port;
    return { proxy, port, url: `http://127.0.0.1:${port}`, access, server, close: () => proxy.close(0) };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Next midnight UTC after `ms`, as ISO (the reset of a "per day" window in UTC). */
export function nextUtcMidnight(ms = Date.now()): string {
  const d = new Date(ms);
  return new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate() + 1)).toISOString();
}
