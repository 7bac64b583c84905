import { parseArgs } from 'node:util';
import { VERSION } from '../admin/version.js';

export const HELP = `egressd ${VERSION} — forward HTTP(S) egress proxy

Usage:
  egressd start [-c FILE]          run the proxy (default: the shipped policies/egressd.yaml)
  egressd check-config [-c FILE]   validate a config and its policy files; prints
                                   file:line:col: message per problem
  egressd policy test [opts] URL|host:port
                                   which rule decides a request, and why
  egressd ca init|show|export [-c FILE]
                                   create, inspect or export the interception CA
  egressd audit [options] [FILE...]
                                   summarise access logs (top users, destinations,
                                   denials, bytes, cache, errors)
  egressd cache purge URL|--host GLOB | cache stats [-c FILE]
                                   purge the shared cache or show its statistics
                                   (through the admin API, admin.listen)
  egressd status [-c FILE] [--admin URL] [--json]
                                   version, uptime, config generation, listeners,
                                   parents, cache and CA of a running egressd
  egressd quota show [USER] [-c FILE]
                                   quota usage and allowance left, per user
  egressd users add|passwd|del|list [USER] [-c FILE]
                                   manage the proxy users file (htpasswd, bcrypt)
  egressd --version                print the version
  egressd --help                   this help ("egressd COMMAND --help" for one command)

Signals (start): SIGTERM/SIGINT drain and stop, SIGHUP reloads the config
(an invalid file is rejected and the running config stays), SIGUSR1 reopens log files.
With "workers: auto" (or N > 1) in the config, start runs a primary and N workers:
send the signals to the primary, which applies them to every worker.

Admin listener (admin.listen): /healthz, /readyz, /metrics, /api/status, the
dashboard at / (docs/admin-api.md).

Docs: README.md, docs/operations.md`;

const COMMAND_HELP: Record<string, string> = {
  start: `Usage: egressd start [-c FILE]

Run the proxy with the config FILE (default: policies/egressd.yaml next to the
installed package). Relative paths in the config resolve against its folder.
Logs "listening on ADDRESS:PORT" on the server log once ready.

With "workers: auto" (one per CPU) or "workers: N" (2..64) in the config, this
process becomes a primary that forks N workers sharing the listeners: it logs
one "listening on" line for all of them, restarts a worker that dies, and
passes SIGTERM (drain), SIGHUP (reload, validated here first) and SIGUSR1
(reopen logs) to every worker. Log lines carry "worker": N.

Options:
  -c, --config FILE   config file
  -h, --help          this help`,
  'check-config': `Usage: egressd check-config [-c FILE]

Validate the config FILE and the policy files it names, without starting
anything. Prints every problem as
file:line:col: message and exits 1 if there is any; prints "ok" and exits 0 otherwise.

Options:
  -c, --config FILE   config file
  -h, --help          this help`,
};

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(`${HELP}\n`);
    return command === undefined ? 2 : 0;
  }
  if (command === '-v' || command === '--version') {
    process.stdout.write(`${VERSION}\n`);
    return 0;
  }
  if (command === 'policy') {
    if (rest[0] === 'test') return (await import('./policy-test.js')).policyTestCommand(rest.slice(1));
    process.stderr.write('Usage: egressd policy test [options] URL|host:port  ("egressd policy test --help")\n');
    return rest[0] === '--help' || rest[0] === '-h' ? 0 : 2;
  }
  if (command === 'ca') return (await import('./ca.js')).caCommand(rest);
  if (command === 'audit') return (await import('./audit.js')).auditCommand(rest);
  if (command === 'cache') return (await import('./cache.js')).cacheCommand(rest);
  if (command === 'status') return (await import('./status.js')).statusCommand(rest);
  if (command === 'quota') return (await import('./quota.js')).quotaCommand(rest);
  if (command === 'users') return (await import('./users.js')).usersCommand(rest);
  const help = COMMAND_HELP[command];
  if (!help) {
    process.stderr.write(`egressd: unknown command "${command}"\n\n${HELP}\n`);
    return 2;
  }
  let values: { config?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    process.stderr.write(`egressd ${command}: ${(err as Error).message}\n\n${help}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${help}\n`);
    return 0;
  }
  // Commands load their modules on demand: --help and check-config stay fast.
  if (command === 'start') {
    // Before the proxy's modules load: loading them is what first grows V8's heap.
    (await import('../server/heap-budget.js')).applyHeapBudget();
    return (await import('./start.js')).startCommand(values.config);
  }
  return (await import('./check-config.js')).checkConfigCommand(values.config);
}
