import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { ProxyServer } from '../../src/server/proxy-server.js';
import { ORIGIN_NAMES } from './icp-certs.js';
import { baseConfig, listenOrClean, LogSink, merge, type LogLine } from './proxy.js';

/**
 * A real egressd with TLS interception for the intercept-* tests. Like startTestProxy,
 * plus: the CA folder is given (so a restart can reuse it) or made fresh, a hosts file
 * maps the test names (ORIGIN_NAMES) to 127.0.0.1 so host rules can be tried against
 * loopback origins, and an optional policy file.
 */
export interface IcpProxy {
  proxy: ProxyServer;
  port: number;
  /** Every listener's bound port, in config order (port is the first). */
  ports: number[];
  /** http://127.0.0.1:PORT */
  url: string;
  access: LogSink;
  server: LogSink;
  /** tls.ca.dir */
  caDir: string;
  /** <caDir>/ca.pem as it is now ('' while there is none: the proxy creates it on first use). */
  readonly caPem: string;
  /** Rewrite the config file with `over` merged over the starting config, then reload. */
  reconfigure(over: Record<string, unknown>): ReturnType<ProxyServer['reload']>;
  close(): Promise<void>;
}

export interface IcpProxyOptions {
  /** Merged over baseConfig() and the interception defaults below. */
  config?: Record<string, unknown>;
  /** CA folder to use (kept on close); a fresh temp folder otherwise (removed on close). */
  caDir?: string;
  /** Policy YAML text; none by default. */
  policy?: string;
  /** Extra host name → IPv4 entries for the proxy's hosts file. */
  hosts?: Record<string, string>;
}

export async function startIcpProxy(opts: IcpProxyOptions = {}): Promise<IcpProxy> {
  const dir = mkdtempSync(join(tmpdir(), 'egressd-icp-'));
  const caDir = opts.caDir ?? join(dir, 'ca');
  const hostsFile = join(dir, 'hosts');
  const hosts = { ...Object.fromEntries(ORIGIN_NAMES.filter((h) => h !== 'localhost').map((h) => [h, '127.0.0.1'])), ...opts.hosts };
  writeFileSync(hostsFile, `127.0.0.1 localhost\n${Object.entries(hosts).map(([h, ip]) => `${ip} ${h}\n`).join('')}`);
  // Learning off unless a test asks: rejection tests must not change what later tests see.
  let config = merge(baseConfig(), { tls: { intercept: 'all', ca: { dir: caDir }, learnAfterRejects: 0 } });
  if (opts.policy !== undefined) {
    writeFileSync(join(dir, 'policy.yaml'), opts.policy);
    config = merge(config, { policy: { files: ['policy.yaml'], watch: false } });
  }
  config = merge(config, opts.config ?? {});
  const configFile = join(dir, 'egressd.yaml');
  writeFileSync(configFile, stringify(config));
  const access = new LogSink();
  const server = new LogSink();
  const proxy = new ProxyServer(loadConfig(configFile), { accessLog: access, serverLog: server, hostsFile });
  const ports = (await listenOrClean(proxy, dir)).map((b) => b.port);
  const port = ports[0]!;
  return {
    proxy,
    port,
    ports,
    url: `http://127.0.0.1:${port}`,
    access,
    server,
    caDir,
    get caPem() {
      try {
        return readFileSync(join(caDir, 'ca.pem'), 'utf8');
      } catch {
        return ''; // interception not wanted (yet): no CA
      }
    },
    reconfigure(over) {
      writeFileSync(configFile, stringify(merge(config, over)));
      return proxy.reload();
    },
    async close() {
      await proxy.close(0);
      // A given caDir lives outside `dir` and is kept for the next proxy.
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The access-log line of a decrypted request for `url`. */
export function requestLine(px: { access: LogSink }, url: string, pred: (l: LogLine) => boolean = () => true, timeoutMs = 5000): Promise<LogLine> {
  return px.access.waitFor((l) => l.kind === 'http' && l.url === url && pred(l), timeoutMs);
}

/** The access-log line of the CONNECT tunnel for `authority` (host:port). Written when the tunnel closes. */
export function connectLine(px: { access: LogSink }, authority: string, pred: (l: LogLine) => boolean = () => true, timeoutMs = 5000): Promise<LogLine> {
  return px.access.waitFor((l) => l.kind === 'connect' && l.url === authority && pred(l), timeoutMs);
}

/** Like waitFor, but only lines written after `mark` (from `px.access.lines.length` taken earlier). */
export function lineAfter(sink: LogSink, mark: number, pred: (l: LogLine) => boolean, timeoutMs = 5000): Promise<LogLine> {
  return sink.waitFor((l) => sink.lines.indexOf(l) >= mark && pred(l), timeoutMs);
}
