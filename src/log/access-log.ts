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
}

export type LogTarget = string | Writable;

/**
 * A pino destination: stdout/stderr/file written asynchronously (off the hot path) and
 * flushed on shutdown, or a caller's stream (tests).
 */
export function openDestination(target: LogTarget): DestinationStream & { flushSync?: () => void; reopen?: () => void; end?: () => void } {
  if (typeof target !== 'string') return target as unknown as DestinationStream;
  const dest = target === 'stdout' ? 1 : target === 'stderr' ? 2 : target;
  return pino.destination({ dest, sync: false, minLength: 4096, mkdir: true });
}

/** One canonical JSON line per request or tunnel, written when it ends. */
export class AccessLog {
  readonly logger: Logger;
  private readonly dest: ReturnType<typeof openDestination>;

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
    };
    const msg = r.kind === 'http' || r.kind === 'local' ? MSG_REQUEST : MSG_TUNNEL;
    // Level follows the outcome: proxy faults are errors, refusals warnings.
    if (r.status >= 500 || (r.errorCode !== null && r.status === 0)) this.logger.error(line, msg);
    else if (r.status >= 400 && r.errorCode !== null) this.logger.warn(line, msg);
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
export function createServerLog(target: LogTarget, level: string): Logger {
  const dest = typeof target === 'string' ? pino.destination({ dest: target === 'stdout' ? 1 : target === 'stderr' ? 2 : target, sync: true, mkdir: true }) : (target as unknown as DestinationStream);
  return pino({ base: null, timestamp: pino.stdTimeFunctions.isoTime, level }, dest);
}
