import { parseArgs } from 'node:util';
import { loadConfig } from '../config/load.js';
import { ConfigError, formatProblem } from '../config/yaml-source.js';
import { localTime } from '../exchange/limit-stage.js';
import { MemoryStore, Profiles, redactUrl } from '../quota/index.js';
import { RedisStore } from '../quota/redis-store.js';
import { readSnapshot } from '../quota/snapshot-file.js';
import { StoreHealth } from '../quota/store-health.js';
import type { UsageEntry } from '../quota/store.js';
import { formatBytes, usageRows, type UsageRow } from '../quota/usage-report.js';

export const QUOTA_HELP = `Usage: egressd quota show [USER] [-c FILE] [--json]

Print quota usage and the allowance left, per user (or "ip:ADDRESS" for anonymous
clients) and profile: request-rate tokens and, per volume window, the bytes used,
the bytes left and when the window resets. USER limits the output to one user name
or client address.

The counters are read from where the config's quota.store keeps them: the snapshot
file (quota.snapshot.file, written every quota.snapshot.interval and at shutdown,
so a running proxy's last interval may be missing) or Redis (live).

Options:
  -c, --config FILE   config file (default: the shipped policies/egressd.yaml)
      --json          one JSON array of rows instead of a table
  -h, --help          this help

Exit status: 0 ok, 1 the store cannot be read (Redis unreachable), 2 usage or
config error.`;

export async function quotaCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === '-h' || sub === '--help' || sub === 'help') {
    process.stdout.write(`${QUOTA_HELP}\n`);
    return 0;
  }
  if (sub !== 'show') {
    process.stderr.write(`egressd quota: ${sub === undefined ? 'missing command' : `unknown command "${sub}"`}\n\n${QUOTA_HELP}\n`);
    return 2;
  }
  let values: { config?: string; json?: boolean; help?: boolean };
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: rest,
      options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
      strict: true,
      allowPositionals: true,
    }));
    if (positionals.length > 1) throw new Error(`one USER at most (got ${positionals.join(' ')})`);
  } catch (err) {
    process.stderr.write(`egressd quota show: ${(err as Error).message}\n\n${QUOTA_HELP}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${QUOTA_HELP}\n`);
    return 0;
  }
  let config;
  try {
    config = loadConfig(values.config).config;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) process.stderr.write(`${formatProblem(p)}\n`);
    return 2;
  }
  const q = config.quota;
  const entries = await readEntries(q);
  if (entries === null) return 1;
  const profiles = new Profiles(q);
  const now = Date.now();
  const rows = usageRows(entries, profiles, now, positionals[0]);
  if (values.json) {
    process.stdout.write(`${JSON.stringify(rows.map((r) => ({ ...r, resetsAt: r.resetsAt === null ? null : new Date(r.resetsAt).toISOString() })))}\n`);
  } else if (rows.length === 0) {
    process.stdout.write(positionals[0] ? `no usage recorded for ${positionals[0]}\n` : 'no usage recorded\n');
  } else {
    process.stdout.write(table(rows, q.timezone));
  }
  return 0;
}

type QuotaSection = ReturnType<typeof loadConfig>['config']['quota'];

/** The store's entries, or null (message printed) when it cannot be read. */
async function readEntries(q: QuotaSection): Promise<UsageEntry[] | null> {
  const stderr = { info: () => {}, warn: (_o: object, msg: string) => process.stderr.write(`egressd quota show: ${msg}\n`) };
  if (q.store === 'memory') {
    if (!q.snapshot.file) {
      process.stderr.write('egressd quota show: quota.snapshot.file is "" (disabled): the counters live only in the running proxy\n');
      return [];
    }
    const data = readSnapshot(q.snapshot.file, stderr);
    const mem = new MemoryStore();
    if (data) mem.restore(data);
    return mem.list();
  }
  const where = redactUrl(q.redis.url);
  const store = new RedisStore({ url: q.redis.url, prefix: q.redis.prefix, timeoutMs: Math.max(q.redis.timeout, 2000) }, new StoreHealth({ info: () => {}, warn: () => {} }, where, 'open'));
  try {
    if (!(await store.ready(3000))) {
      process.stderr.write(`egressd quota show: cannot reach redis ${where}\n`);
      return null;
    }
    return await store.usage();
  } catch (err) {
    process.stderr.write(`egressd quota show: redis ${where}: ${(err as Error).message}\n`);
    return null;
  } finally {
    await store.close();
  }
}

function table(rows: UsageRow[], zone: string): string {
  const cells = rows.map((r) => {
    const rate = r.limit.startsWith('rate ');
    return [
      r.who,
      r.profile,
      r.limit,
      r.used === null ? '-' : rate ? `${r.used} tokens` : formatBytes(r.used),
      r.left === null ? '-' : rate ? `${r.left} tokens` : formatBytes(r.left),
      r.resetsAt === null ? '-' : localTime(r.resetsAt, zone),
    ];
  });
  const head = ['WHO', 'PROFILE', 'LIMIT', 'USED', 'LEFT', 'RESETS'];
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]): string => c.map((x, i) => (i === c.length - 1 ? x : x.padEnd(widths[i]!))).join('  ').trimEnd();
  return `${[head, ...cells].map(line).join('\n')}\n`;
}
