import type { LoadedConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/yaml-source.js';
import { ProxyServer, type BoundAddress, type ProxyOptions } from './proxy-server.js';

/**
 * Build a proxy and bind its listeners, as `egressd start` does (one process, or each
 * worker). null: it could not start, and the reason is on stderr or the server log.
 */
export async function openProxy(loaded: LoadedConfig, opts: ProxyOptions = {}): Promise<{ proxy: ProxyServer; addresses: BoundAddress[] } | null> {
  let proxy: ProxyServer;
  try {
    proxy = new ProxyServer(loaded, opts);
  } catch (err) {
    process.stderr.write(`egressd: not started: ${(err as Error).message}\n`);
    return null;
  }
  try {
    return { proxy, addresses: await proxy.listen() };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // listen() also loads the policy files, the CA and the cache index: only a bind
    // error is "cannot listen"; the others name their file in their message.
    const what = e.syscall === 'listen' ? `cannot listen: ${e.message}` : e.message;
    if (err instanceof ConfigError) for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    else proxy.log.fatal({ err: { code: e.code, message: e.message } }, what);
    // One plain line whatever log.server is (a file, or JSON on stderr).
    process.stderr.write(`egressd: not started: ${err instanceof ConfigError ? 'a policy file is invalid' : what}\n`);
    await proxy.close(0);
    return null;
  }
}

/**
 * Serve until SIGTERM/SIGINT (or `stopped` resolves), then drain: resolves with the exit
 * code (0 after a clean drain). SIGUSR1 reopens the log files. An uncaught exception
 * flushes the access log and exits 70, for the supervisor (or the primary) to restart.
 */
export function serveUntilStopped(proxy: ProxyServer, stopped?: Promise<string>): Promise<number> {
  // A bug must not lose the access log: flush what is buffered, then exit for the
  // supervisor to restart us with a clean state.
  process.on('uncaughtException', (err) => {
    proxy.log.fatal({ err: { message: err.message, stack: err.stack } }, 'uncaught exception: exiting');
    proxy.flushLogs();
    process.exit(70);
  });
  process.on('SIGUSR1', () => proxy.reopenLogs());
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      proxy.log.info({ signal }, 'draining: no new connections; waiting for requests and tunnels in flight');
      proxy.close().then(
        () => resolve(0),
        (err: unknown) => {
          proxy.log.error({ err: String(err) }, 'error during shutdown');
          resolve(1);
        },
      );
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
    void stopped?.then(stop);
  });
}
