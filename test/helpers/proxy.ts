import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { ProxyServer, type BoundAddress } from '../../src/server/proxy-server.js';

export interface LogLine {
  level: number;
  msg: string;
  [k: string]: unknown;
}

/** Collects pino JSON lines written to it (access or server log). */
export class LogSink extends Writable {
  readonly lines: LogLine[] = [];
  private waiters: { pred: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  private partial = '';

  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    const text = this.partial + chunk.toString('utf8');
    const parts = text.split('\n');
    this.partial = parts.pop() ?? '';
    for (const p of parts) {
      if (!p) continue;
      const line = JSON.parse(p) as LogLine;
      this.lines.push(line);
      this.waiters = this.waiters.filter((w) => {
        if (!w.pred(line)) return true;
        w.resolve(line);
        return false;
      });
    }
    cb();
  }

  /** Resolves with the first line (already written or future) matching `pred`. */
  waitFor(pred: (l: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> {
    const hit = this.lines.find(pred);
    if (hit) return Promise.resolve(hit);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no log line matched within ${timeoutMs} ms; have:\n${this.lines.map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs);
      this.waiters.push({
        pred,
        resolve: (l) => {
          clearTimeout(t);
          resolve(l);
        },
      });
    });
  }
}

export interface TestProxy {
  proxy: ProxyServer;
  port: number;
  /** http://127.0.0.1:PORT */
  url: string;
  access: LogSink;
  server: LogSink;
  configFile: string;
  /** Rewrite the config file (for reload tests). */
  writeConfig(config: Record<string, unknown>): void;
  close(graceMs?: number): Promise<void>;
}

/** The config every test starts from: port 0, loopback origins reachable, quiet. */
export function baseConfig(): Record<string, unknown> {
  return {
    listeners: [{ address: '127.0.0.1', port: 0 }],
    clients: { allow: ['127.0.0.0/8', '::1/128'] },
    egress: { allowPrivate: ['127.0.0.0/8', '::1/128'] },
    log: { level: 'info' },
  };
}

/** Deep-merge plain objects (arrays are replaced). */
export function merge(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? merge(b as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** Start a real egressd on an ephemeral port with `overrides` merged into baseConfig(). */
export async function startTestProxy(overrides: Record<string, unknown> = {}): Promise<TestProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'egressd-test-'));
  const configFile = join(dir, 'egressd.yaml');
  const writeConfig = (c: Record<string, unknown>): void => writeFileSync(configFile, stringify(c));
  writeConfig(merge(baseConfig(), overrides));
  const access = new LogSink();
  const server = new LogSink();
  const proxy = new ProxyServer(loadConfig(configFile), { accessLog: access, serverLog: server });
  const [bound] = await proxy.listen();
  const port = bound!.port;
  return {
    proxy,
    port,
    url: `http://127.0.0.1:${port}`,
    access,
    server,
    configFile,
    writeConfig,
    async close(graceMs = 0) {
      await proxy.close(graceMs);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Bind a proxy's listeners; if that fails, close it and remove its folder, then rethrow. */
export async function listenOrClean(proxy: ProxyServer, dir: string): Promise<BoundAddress[]> {
  try {
    return await proxy.listen();
  } catch (err) {
    await proxy.close(0);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}
