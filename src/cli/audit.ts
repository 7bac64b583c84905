import { parseArgs } from 'node:util';
import { AuditAggregator } from '../audit/report.js';
import { compileFilter, type AuditFilter } from '../audit/filter.js';
import { formatReport, type AuditFormat } from '../audit/format.js';
import { readLogLines } from '../audit/read-lines.js';

export const AUDIT_HELP = `Usage: egressd audit [options] [FILE...]

Summarise JSON access logs (plain or gzip, rotated sets; "-" or no FILE reads
standard input): top users, top destinations, denied requests by rule, bytes
per user, cache hit ratio, errors by kind. Streams: memory does not grow with
the size of the logs.

Options:
  --since TIME        only lines at or after TIME (ISO 8601, e.g. 2026-12-01T08:00Z)
  --until TIME        only lines before TIME
  --user USER         only this user (case-insensitive)
  --host GLOB         only destinations matching GLOB (e.g. "*.example.com")
  --action allow|deny only allowed or denied requests
  --status CODE       only this status (403) or class (4xx)
  --top N             rows per table (default 10)
  --format table|json|csv   output (default table)
  -h, --help          this help

Exit status: 0, or 1 if a file cannot be read, 2 for bad options.`;

export async function auditCommand(args: string[]): Promise<number> {
  let values: Record<string, string | boolean | undefined>;
  let files: string[];
  try {
    const parsed = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        since: { type: 'string' },
        until: { type: 'string' },
        user: { type: 'string' },
        host: { type: 'string' },
        action: { type: 'string' },
        status: { type: 'string' },
        top: { type: 'string' },
        format: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
    values = parsed.values;
    files = parsed.positionals;
  } catch (err) {
    return usage((err as Error).message);
  }
  if (values.help) {
    process.stdout.write(`${AUDIT_HELP}\n`);
    return 0;
  }
  const filter: AuditFilter = {};
  for (const k of ['since', 'until'] as const) {
    const v = values[k] as string | undefined;
    if (v === undefined) continue;
    const t = Date.parse(v);
    if (Number.isNaN(t)) return usage(`--${k}: "${v}" is not a date and time (ISO 8601)`);
    filter[k] = t;
  }
  if (values.user !== undefined) filter.user = values.user as string;
  if (values.host !== undefined) filter.host = values.host as string;
  if (values.action !== undefined) {
    if (values.action !== 'allow' && values.action !== 'deny') return usage('--action must be allow or deny');
    filter.action = values.action;
  }
  if (values.status !== undefined) {
    if (!/^([1-5]\d\d|[1-5]xx)$/i.test(values.status as string)) return usage('--status must be a status code (403) or a class (4xx)');
    filter.status = values.status as string;
  }
  const top = values.top === undefined ? 10 : Number(values.top);
  if (!Number.isInteger(top) || top < 1) return usage('--top must be a positive integer');
  const format = (values.format ?? 'table') as AuditFormat;
  if (!['table', 'json', 'csv'].includes(format)) return usage('--format must be table, json or csv');

  const keep = compileFilter(filter);
  const agg = new AuditAggregator();
  for (const file of files.length ? files : ['-']) {
    try {
      for await (const raw of readLogLines(file)) {
        const line = agg.parse(raw);
        if (line && keep(line)) agg.add(line);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      process.stderr.write(`egressd audit: ${file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}\n`);
      return 1;
    }
  }
  process.stdout.write(formatReport(agg.report(top), format));
  return 0;
}

function usage(message: string): number {
  process.stderr.write(`egressd audit: ${message}\n\n${AUDIT_HELP}\n`);
  return 2;
}
