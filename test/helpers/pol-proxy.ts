import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { ProxyServer } from '../../src/server/proxy-server.js';
import { baseConfig, LogSink, merge, type LogLine } from './proxy.js';

/**
 * A real egressd with policy files, for the policy integration tests. Like
 * startTestProxy, but the policy files are written (next to the config, named relative
 * to it) before the proxy starts, and host names can be pinned with a hosts file so
 * that rules on names can be tried against origins on loopback.
 */
export interface PolicyProxy {
  proxy: ProxyServer;
  port: number;
  url: string;
  access: LogSink;
  server: LogSink;
  dir: string;
  configFile: string;
  /** Absolute path of a policy file in the proxy's folder. */
  path(name?: string): string;
  /** Overwrite a file in place (truncate + write, like `echo > file`). */
  write(text: string, name?: string): void;
  /** Save like an editor does: write a temp file, then rename it over the old one. */
  replace(text: string, name?: string): void;
  /** Rewrite the main config (for proxy.reload() tests). */
  writeConfig(overrides: Record<string, unknown>): void;
  close(): Promise<void>;
}

export interface PolicyProxyOptions {
  /** Policy files by name (relative to the config's folder), in load order. */
  files: Record<string, string>;
  /** Extra files to write first (domain lists). */
  extra?: Record<string, string>;
  /** Watch the policy files (default false: tests that need it say so). */
  watch?: boolean;
  /** host name → IPv4 address, written as the proxy's hosts file. */
  hosts?: Record<string, string>;
  /** Merged over baseConfig() and the policy section. */
  config?: Record<string, unknown>;
}

export const POLICY = 'policy.yaml';

function configFor(opts: PolicyProxyOptions, names: string[], over: Record<string, unknown> = {}): Record<string, unknown> {
  return merge(merge(baseConfig(), { policy: { files: names, watch: opts.watch ?? false } }), merge(opts.config ?? {}, over));
}

export async function startPolicyProxy(opts: PolicyProxyOptions): Promise<PolicyProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'egressd-pol-'));
  const path = (name = POLICY): string => join(dir, name);
  for (const [name, text] of Object.entries(opts.extra ?? {})) writeFileSync(path(name), text);
  for (const [name, text] of Object.entries(opts.files)) writeFileSync(path(name), text);
  const hostsFile = path('hosts');
  writeFileSync(hostsFile, Object.entries(opts.hosts ?? {}).map(([h, ip]) => `${ip} ${h}\n`).join(''));
  const configFile = path('egressd.yaml');
  const names = Object.keys(opts.files);
  writeFileSync(configFile, stringify(configFor(opts, names)));
  const access = new LogSink();
  const server = new LogSink();
  const proxy = new ProxyServer(loadConfig(configFile), { accessLog: access, serverLog: server, hostsFile });
  let port: number;
  try {
    const [bound] = await proxy.listen();
    port = bound!.port;
  } catch (err) {
    await proxy.close(0);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  let n = 0;
  return {
    proxy,
    port,
    url: `http://127.0.0.1:${port}`,
    access,
    server,
    dir,
    configFile,
    path,
    write: (text, name) => writeFileSync(path(name), text),
    replace: (text, name) => {
      const tmp = path(`.${name ?? POLICY}.${++n}.tmp`);
      writeFileSync(tmp, text);
      renameSync(tmp, path(name));
    },
    writeConfig: (over) => writeFileSync(configFile, stringify(configFor(opts, names, over))),
    async close() {
      await proxy.close(0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The access-log line for a URL (the first one, or the one `pred` also accepts). */
export function accessLine(px: { access: LogSink }, url: string, pred: (l: LogLine) => boolean = () => true, timeoutMs = 5000): Promise<LogLine> {
  return px.access.waitFor((l) => l.url === url && pred(l), timeoutMs);
}

/** The `decision` object of an access-log line. */
export function decisionOf(l: LogLine): Record<string, unknown> | null {
  return l.decision as Record<string, unknown> | null;
}

/** pino levels. */
export const INFO = 30;
export const WARN = 40;
export const ERROR = 50;
