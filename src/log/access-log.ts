import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { pino, type DestinationStream, type Logger } from 'pino';
import { F, MSG_REQUEST, MSG_TUNNEL } from './fields.js';

/** What the access log needs to know about one finished request or tunnel. */
export interface AccessRecord {
  id: string;
  kind: 'http' | 'connect' | 'upgrade' | 'local';
  clientIp: string;
  clientPort: number;
  method: string;
  url: string;
  status: number;
  bytesIn: number;
  bytesOut: number;
  startedAt: number;
  upstream: string | null;
  errorCode: string | null;
  errorReason: string | null;
  decision: {
    readonly action: string;
    readonly ruleId: string;
    readonly reason: string;
    readonly mode: string;
    readonly wouldDeny?: true;
    readonly responseCheck?: string;
  } | null;
}

export type LogTarget = string | Writable;

/**
 * A pino destination: stdout/stderr/file written asynchronously (off the hot path) and
 * flushed on shutdown, or a caller's stream (tests).
 */
export type Destination = DestinationStream & { flushSync?: () => void; reopen?: () => void; end?: () => void };

export function openDestination(target: LogTarget, sync = false): Destination {
  if (typeof target !== 'string') return target as unknown as DestinationStream;
  if (target !== 'stdout' && target !== 'stderr') assertWritable(target);
  const dest = target === 'stdout' ? 1 : target === 'stderr' ? 2 : target;
  // minLength 0: a line leaves as soon as the previous write completes, so a quiet
  // proxy's log is current; under load, lines written meanwhile go out together.
  return pino.destination({ dest, sync, minLength: 0, mkdir: true });
}

/**
 * Open (and create) a log file once, synchronously, so an unwritable path is a clear
 * start-up error instead of a logger that silently drops lines or never drains.
 */
function assertWritable(path: string): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    closeSync(openSync(path, 'a'));
  } catch (err) {
    throw new Error(`cannot open log file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function decisionFields(d: NonNullable<AccessRecord['decision']>): Record<string, unknown> {
  const out: Record<string, unknown> = { action: d.action, rule: d.ruleId, reason: d.reason, mode: d.mode };
  if (d.wouldDeny) out.wouldDeny = true;
  if (d.responseCheck) out.responseCheck = d.responseCheck;
  return out;
}

/**
 * The level follows the outcome (CONVENTIONS §10): info when the proxy did its job
 * (including a client that left, or an idle tunnel closed), warn when it refused on
 * purpose (policy, limits, bad input, loops), error for faults reaching the destination.
 */
const FAULTS = /^(UPSTREAM_|DNS_|INTERNAL)/;
const BENIGN = new Set(['CLIENT_ABORTED', 'TUNNEL_IDLE']);
function levelOf(code: string | null): 'info' | 'warn' | 'error' {
  if (code === null || BENIGN.has(code)) return 'info';
  return FAULTS.test(code) ? 'error' : 'warn';
}

/** One canonical JSON line per request or tunnel, written when it ends. */
export class AccessLog {
  readonly logger: Logger;
  private readonly dest: Destination;

  constructor(target: LogTarget) {
    this.dest = openDestination(target);
    this.logger = pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, level: 'info' }, this.dest);
  }

  write(r: AccessRecord, now: number): void {
    const line = {
      [F.id]: r.id,
      [F.kind]: r.kind,
      [F.client]: r.clientIp,
      [F.method]: r.method,
      [F.url]: r.url,
      [F.status]: r.status,
      [F.bytesIn]: r.bytesIn,
      [F.bytesOut]: r.bytesOut,
      [F.durationMs]: Math.round((now - r.startedAt) * 1000) / 1000,
      [F.upstream]: r.upstream,
      [F.error]: r.errorCode,
      [F.reason]: r.errorReason,
      [F.decision]: r.decision === null ? null : decisionFields(r.decision),
    };
    const msg = r.kind === 'http' || r.kind === 'local' ? MSG_REQUEST : MSG_TUNNEL;
    // Level follows the outcome: proxy faults are errors, refusals warnings.
    const level = levelOf(r.errorCode);
    if (level === 'error') this.logger.error(line, msg);
    else if (level === 'warn') this.logger.warn(line, msg);
    else this.logger.info(line, msg);
  }

  /** Reopen the file (after logrotate moved it; SIGUSR1). */
  reopen(): void {
    this.dest.reopen?.();
  }

  flush(): void {
    try {
      this.dest.flushSync?.();
    } catch {
      // flushSync throws if the stream is not ready yet; nothing was buffered then.
    }
  }
}

/** The diagnostic log (start, reload, faults), separate from the access log. */
export function createServerLog(target: LogTarget, level: string): { log: Logger; dest: Destination } {
  // Synchronous: diagnostics are rare and must not be lost when the process dies.
  const dest = openDestination(target, true);
  return { log: pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, level }, dest), dest };
}
