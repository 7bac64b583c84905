import cluster from 'node:cluster';
import { workerCount } from '../cluster/worker-count.js';
import { loadConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/yaml-source.js';
import { openProxy, serveUntilStopped } from '../server/run-proxy.js';

/** Run the proxy until SIGTERM/SIGINT; exit code 0 after a clean drain. */
export async function startCommand(file: string | undefined): Promise<number> {
  // Forked by a primary (workers > 1): run as one of its workers, with the config the
  // primary validated last (not whatever the file holds now).
  if (cluster.isWorker) return (await import('../cluster/worker.js')).runWorker();
  let loaded;
  try {
    loaded = loadConfig(file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    process.stderr.write('egressd: not started: the config is invalid\n');
    return 1;
  }
  const n = workerCount(loaded.config.workers);
  if (n > 1) return (await import('../cluster/primary.js')).runPrimary(loaded, n);

  const started = await openProxy(loaded);
  if (!started) return 1;
  const { proxy } = started;
  process.on('SIGHUP', () => void proxy.reload().catch((err: unknown) => proxy.log.error({ err: String(err) }, 'reload failed')));
  const stopped = serveUntilStopped(proxy);
  // After the handlers: once this line is out, SIGUSR1 is ours (not node's inspector).
  proxy.log.info({ config: loaded.file, pid: process.pid }, 'egressd started');
  return stopped;
}
