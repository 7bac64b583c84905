import { minimatch } from 'minimatch';

/** One access-log line as the audit reads it (docs/access-log.md); anything else is skipped. */
export interface AuditLine {
  time?: string;
  kind?: string;
  client?: string;
  user?: string | null;
  method?: string;
  url?: string;
  status?: number;
  bytesIn?: number;
  bytesOut?: number;
  error?: string | null;
  cache?: string | null;
  decision?: { action?: string; rule?: string; reason?: string; mode?: string; wouldDeny?: boolean } | null;
}

export interface AuditFilter {
  since?: number;
  until?: number;
  user?: string;
  /** Host glob (minimatch, case-insensitive) on the destination host. */
  host?: string;
  action?: 'allow' | 'deny';
  /** Exact status (403) or a class (4xx). */
  status?: string;
}

/** The destination host of a line: from an absolute URL, or the host of a tunnel's host:port. */
export function hostOf(l: AuditLine): string {
  const url = l.url ?? '';
  if (l.kind === 'connect') return url.replace(/:\d+$/, '').replace(/^\[|\]$/g, '');
  const m = /^[a-z]+:\/\/(\[[^\]]+\]|[^/:?#]+)/i.exec(url);
  return m ? m[1]!.replace(/^\[|\]$/g, '').toLowerCase() : '';
}

/** The filter as one predicate, built once (the glob compiled once). */
export function compileFilter(f: AuditFilter): (l: AuditLine) => boolean {
  const host = f.host ? new minimatch.Minimatch(f.host.toLowerCase(), { nocase: true, dot: true }) : null;
  const status = f.status?.toLowerCase();
  const klass = status && /^[1-5]xx$/.test(status) ? Number(status[0]) : null;
  return (l) => {
    if (f.since !== undefined || f.until !== undefined) {
      const t = l.time ? Date.parse(l.time) : NaN;
      if (Number.isNaN(t)) return false;
      if (f.since !== undefined && t < f.since) return false;
      if (f.until !== undefined && t >= f.until) return false;
    }
    if (f.user !== undefined && (l.user ?? '').toLowerCase() !== f.user.toLowerCase()) return false;
    if (host && !host.match(hostOf(l))) return false;
    if (f.action !== undefined && (l.decision?.action ?? 'allow') !== f.action) return false;
    if (status !== undefined) {
      const s = l.status ?? 0;
      if (klass !== null ? Math.floor(s / 100) !== klass : String(s) !== status) return false;
    }
    return true;
  };
}
