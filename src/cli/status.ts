import { parseArgs } from 'node:util';
import type { StatusBody } from '../admin/status-api.js';
import { formatBytes } from '../quota/usage-report.js';
import { ADMIN_OPTIONS, ADMIN_OPTIONS_HELP, adminRequest, resolveAdmin } from './admin-client.js';

export const STATUS_HELP = `Usage: egressd status [options]

Show what a running egressd reports on its admin API (GET /api/status): version,
uptime, config file and generation, readiness, listeners, open connections and
tunnels, parent proxies and their health, the cache, and the interception CA.

Options:
${ADMIN_OPTIONS_HELP}
      --json         print the API's JSON as it came
  -h, --help         this help

Exit status: 0 ok (ready), 1 the API refused or could not be reached, or the proxy
is not ready (starting or draining), 2 usage or config error.`;

function usage(msg: string): number {
  process.stderr.write(`egressd status: ${msg}\n\n${STATUS_HELP}\n`);
  return 2;
}

export async function statusCommand(args: string[]): Promise<number> {
  let values: { config?: string; admin?: string; token?: string; json?: boolean; help?: boolean };
  try {
    ({ values } = parseArgs({ args, options: { ...ADMIN_OPTIONS, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (err) {
    return usage((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${STATUS_HELP}\n`);
    return 0;
  }
  const target = await resolveAdmin(values);
  if (target === null) return 2;
  if (typeof target === 'string') return usage(target);
  const reply = await adminRequest(target, '/api/status');
  if (!reply.ok) {
    process.stderr.write(`egressd status: ${reply.message}\n`);
    return 1;
  }
  let s: StatusBody;
  try {
    s = JSON.parse(reply.text) as StatusBody;
  } catch {
    process.stderr.write(`egressd status: the admin API at ${target.base} did not answer JSON\n`);
    return 1;
  }
  process.stdout.write(values.json ? (reply.text.endsWith('\n') ? reply.text : `${reply.text}\n`) : formatStatus(s));
  return s.ready ? 0 : 1;
}

/** "1d 2h 3m 4s" */
export function formatUptime(seconds: number): string {
  const d = Math.floor(seconds / 86400);
  const h = Math.floor(seconds / 3600) % 24;
  const m = Math.floor(seconds / 60) % 60;
  return `${d ? `${d}d ` : ''}${d || h ? `${h}h ` : ''}${m}m ${seconds % 60}s`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/** The status as aligned "label  value" lines, the same facts as the JSON. */
export function formatStatus(s: StatusBody): string {
  const rows: [string, string][] = [
    ['version', `egressd ${s.version} (pid ${s.pid})`],
    ['uptime', `${formatUptime(s.uptimeSeconds)} (since ${s.startedAt})`],
    ['config', `${s.configFile} (generation ${s.generation})`],
    ['state', s.draining ? 'draining' : s.ready ? 'ready' : 'starting'],
  ];
  for (const [i, l] of s.listeners.entries()) rows.push([i === 0 ? 'listeners' : '', `${l.family === 'IPv6' ? `[${l.address}]` : l.address}:${l.port} (${l.mode})`]);
  for (const [i, w] of (s.workers ?? []).entries()) {
    rows.push([i === 0 ? 'workers' : '', `${w.id}: pid ${w.pid}, up ${formatUptime(w.uptimeSeconds)}, ${plural(w.restarts, 'restart')}${w.ready ? '' : ', not ready'}`]);
  }
  rows.push(['active', `${plural(s.active.connections, 'connection')}, ${plural(s.active.requests, 'request')}, ${plural(s.active.tunnels, 'tunnel')}`]);
  const c = s.cache;
  rows.push(['cache', c ? `${c.entries} ${c.entries === 1 ? 'entry' : 'entries'}, ${formatBytes(c.bytes)}; hit ratio ${(c.hitRatio * 100).toFixed(1)}% (${c.hits} hits, ${c.stale} stale, ${c.revalidated} revalidated, ${c.misses} misses)` : 'disabled']);
  const ca = s.interception;
  rows.push(['interception', ca ? `CA "${ca.caSubject}" SHA-256 ${ca.caSha256}` : 'off']);
  if (ca?.leaves) rows.push(['', `${plural(ca.leaves.issued, 'leaf certificate')} issued, ${ca.leaves.memoryHits + ca.leaves.storeHits} reused`]);
  if (s.parents.length === 0) rows.push(['parents', 'none (direct)']);
  for (const [i, g] of s.parents.entries()) {
    rows.push([i === 0 ? 'parents' : '', `group ${g.name} (${g.strategy}${g.fallbackDirect ? ', falls back to direct' : ''})`]);
    for (const p of g.parents) {
      const until = p.ejectedUntil ? ` until ${p.ejectedUntil}` : '';
      rows.push(['', `  ${p.name} ${p.address} ${p.state}${until}: ${p.active} active, ${p.requests} requests, ${p.failures} failures`]);
    }
  }
  const width = Math.max(...rows.map(([k]) => k.length));
  return rows.map(([k, v]) => `${k.padEnd(width)}  ${v}\n`).join('');
}
