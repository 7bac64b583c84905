import type { AuditReport } from './report.js';

export type AuditFormat = 'table' | 'json' | 'csv';

export function formatReport(r: AuditReport, format: AuditFormat): string {
  if (format === 'json') return `${JSON.stringify(r, null, 2)}\n`;
  return format === 'csv' ? csv(r) : table(r);
}

function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) {
    x /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${x.toFixed(1)} ${units[i]}`;
}

function grid(title: string, head: string[], rows: (string | number)[][]): string {
  if (rows.length === 0) return `${title}\n  (none)\n`;
  const cells = [head, ...rows.map((r) => r.map(String))];
  const width = head.map((_, i) => Math.max(...cells.map((r) => r[i]!.length)));
  const fmt = (r: string[]): string => `  ${r.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join('  ')}`.trimEnd();
  return `${title}\n${cells.map(fmt).join('\n')}\n`;
}

function table(r: AuditReport): string {
  const c = r.cache;
  const parts = [
    `${r.requests} requests, ${r.tunnels} tunnels from ${r.first ?? '-'} to ${r.last ?? '-'}; ${bytes(r.bytesOut)} to clients, ${bytes(r.bytesIn)} from clients` +
      (r.skipped ? ` (${r.skipped} of ${r.lines} lines were not access-log lines)` : ''),
    grid('Top users', ['user', 'requests', 'to client', 'from client'], r.topUsers.map((u) => [u.user, u.requests, bytes(u.bytesOut), bytes(u.bytesIn)])),
    grid('Top destinations', ['host', 'requests', 'to client'], r.topDestinations.map((d) => [d.host, d.requests, bytes(d.bytesOut)])),
    grid('Denied, by rule', ['rule', 'count', 'reason', 'example'], r.denied.map((d) => [d.rule, d.count, d.reason, d.example])),
    grid('Errors', ['code', 'count'], r.errors.map((e) => [e.code, e.count])),
    `Cache: ${c.hitRatio === null ? 'no lookups' : `hit ratio ${(100 * c.hitRatio).toFixed(1)}%`} (hit ${c.hit}, stale ${c.stale}, revalidated ${c.revalidated}, miss ${c.miss}, bypass ${c.bypass})\n`,
  ];
  if (r.approximate) parts.push('Note: more distinct users or hosts than the tables hold; their counts are lower bounds.\n');
  return parts.join('\n');
}

/** One CSV document, a `section` column first so a spreadsheet can filter it (RFC 4180 quoting). */
function csv(r: AuditReport): string {
  const q = (v: string | number | null): string => {
    const s = v === null ? '' : String(v);
    return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  const rows: (string | number | null)[][] = [['section', 'key', 'requests', 'bytes_out', 'bytes_in', 'detail']];
  rows.push(['summary', 'requests', r.requests, r.bytesOut, r.bytesIn, `${r.first ?? ''}..${r.last ?? ''}`]);
  rows.push(['summary', 'tunnels', r.tunnels, null, null, null]);
  for (const u of r.topUsers) rows.push(['user', u.user, u.requests, u.bytesOut, u.bytesIn, null]);
  for (const d of r.topDestinations) rows.push(['destination', d.host, d.requests, d.bytesOut, null, null]);
  for (const d of r.denied) rows.push(['denied', d.rule, d.count, null, null, d.reason]);
  for (const e of r.errors) rows.push(['error', e.code, e.count, null, null, null]);
  for (const k of ['hit', 'stale', 'revalidated', 'miss', 'bypass'] as const) rows.push(['cache', k, r.cache[k], null, null, null]);
  return `${rows.map((row) => row.map(q).join(',')).join('\n')}\n`;
}
