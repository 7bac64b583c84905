import { closeSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Writable } from 'node:stream';
import { pino, type DestinationStream, type Logger } from 'pino';
import { F, MSG_REQUEST, MSG_TUNNEL } from './fields.js';
import { jsonMillis, jsonNumber, jsonString, jsonValue, keyTexts } from './json-text.js';
import { squidLine } from './squid-format.js';
import { redactUrl } from './redact.js';
import { RotatingDestination, type RotationOptions } from './rotation.js';
import { WriteHealth } from './write-health.js';

/** What the access log needs to know about one finished request or tunnel. */
export interface AccessRecord {
  id: string;
  kind: 'http' | 'connect' | 'upgrade' | 'local';
  /** forward (a client configured to use the proxy) or transparent (redirected by a firewall). */
  mode: 'forward' | 'transparent';
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
  tls: 'plain' | 'tunnel' | 'intercepted';
  sni: string | null;
  user: string | null;
  groups: readonly string[];
  cache: string | null;
  decision: {
    readonly action: string;
    readonly ruleId: string;
    readonly reason: string;
    readonly mode: string;
    readonly wouldDeny?: true;
    readonly responseCheck?: string;
  } | null;
  /** Phases of the upstream connection and the wait for its answer, ms; -1: did not happen. */
  dnsMs: number;
  connectMs: number;
  tlsMs: number;
  ttfbMs: number;
  requestHeaders: Readonly<Record<string, string>> | null;
  responseHeaders: Readonly<Record<string, string>> | null;
  quota: {
    readonly profile: { readonly name: string };
    readonly hit: string | null;
    readonly tokens: number;
    readonly left: number;
    readonly unmetered: boolean;
  } | null;
}

export type LogTarget = string | Writable;

/**
 * A pino destination: stdout/stderr/file written asynchronously (off the hot path) and
 * flushed on shutdown, or a caller's stream (tests).
 */
export type Destination = DestinationStream & { flushSync?: () => void; reopen?: () => void; end?: () => void };

/** Access-log bytes held in memory at most while the file refuses writes. */
const MAX_BUFFERED = 32 * 1024 * 1024;

/** Access-log bytes encoded before they are handed to the destination as one write (nginx's `access_log … buffer=64k`). */
const WRITE_BATCH = 64 * 1024;

export function openDestination(target: LogTarget, sync = false): Destination {
  if (typeof target !== 'string') return target as unknown as DestinationStream;
  if (target !== 'stdout' && target !== 'stderr') assertWritable(target);
  const dest = target === 'stdout' ? 1 : target === 'stderr' ? 2 : target;
  // Buffered: AccessLog hands over WRITE_BATCH bytes of lines at a time (see
  // AccessLog.out), and a write in progress makes later ones wait here. One write per
  // line was a thread-pool round trip per line (~20% of W1 throughput); AccessLog
  // flushes on a short timer so a quiet proxy's log is still current within FLUSH_MS.
  // minLength 1, not 0: each handed-over batch is written at once, and flush() still
  // works (sonic-boom's flush is a no-op without a minLength).
  // maxLength bounds what piles up in memory while the file cannot be written (a full
  // disk): beyond it, lines are dropped and counted (WriteHealth) instead of growing RSS.
  // Buffered writes take Buffers (contentMode 'buffer'): in its string mode sonic-boom
  // measures the whole pending buffer, a concatenated string, on every write, which
  // flattens it each time (a fifth of all allocation under W1).
  const boom = pino.destination({ dest, sync, minLength: sync ? 0 : 1, maxWrite: 2 * WRITE_BATCH, maxLength: sync ? 0 : MAX_BUFFERED, mkdir: true, contentMode: sync ? 'utf8' : 'buffer' });
  if (!sync) guardEmptyWrite(boom);
  // stdout/stderr have no path to reopen (sonic-boom would throw, and a SIGUSR1 handler
  // that throws takes the process down): there is nothing to reopen.
  return typeof dest === 'number' ? Object.assign(boom, { reopen: undefined }) : boom;
}

/**
 * sonic-boom (4.2.1, still in 5.0.2) starts a write when a file (re)opens with a flush
 * callback pending, even if nothing is queued any more, and then throws in the fs
 * callback, which takes the process down: a flush(cb) called while a write is in flight
 * and a reopen (rotation, SIGUSR1) is waiting for it. An empty queue gets an empty chunk
 * first, as sonic-boom's own flush does: the write of 0 bytes completes and the flush
 * callback runs.
 */
function guardEmptyWrite(boom: object): void {
  const b = boom as { _actualWrite?: () => void; _writingBuf: { length: number }; _bufs: unknown[]; _lens: number[] };
  const write = b._actualWrite;
  if (typeof write !== 'function' || !Array.isArray(b._bufs) || !Array.isArray(b._lens)) return;
  b._actualWrite = function (this: typeof b): void {
    if (this._writingBuf.length === 0 && this._bufs.length === 0) {
      this._bufs.push([]);
      this._lens.push(0);
    }
    write.call(this);
  };
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

/** Cheap: a handful of numbers, no formatting. Infinity (no such limit) is left out. */
function quotaFields(q: NonNullable<AccessRecord['quota']>, bytesOut: number): Record<string, unknown> {
  if (q.hit !== null) return { profile: q.profile.name, hit: q.hit };
  if (q.unmetered) return { profile: q.profile.name, unmetered: true };
  const out: Record<string, unknown> = { profile: q.profile.name };
  if (q.tokens !== Infinity) out.tokens = Math.floor(q.tokens);
  if (q.left !== Infinity) out.left = Math.max(0, q.left - bytesOut);
  return out;
}

/** The phases that happened as JSON text; null when none did (a reused connection's only phase is ttfb). */
function timingText(r: AccessRecord): string {
  let out = '';
  if (r.dnsMs >= 0) out += `,"dnsMs":${jsonMillis(r.dnsMs)}`;
  if (r.connectMs >= 0) out += `,"connectMs":${jsonMillis(r.connectMs)}`;
  if (r.tlsMs >= 0) out += `,"tlsMs":${jsonMillis(r.tlsMs)}`;
  if (r.ttfbMs >= 0) out += `,"ttfbMs":${jsonMillis(r.ttfbMs)}`;
  return out === '' ? 'null' : `{${out.slice(1)}}`;
}

/**
 * The level follows the outcome (CONVENTIONS §10): info when the proxy did its job
 * (including a client that left, or an idle tunnel closed), warn when it refused on
 * purpose (policy, limits, bad input, loops), error for faults reaching the destination.
 */
const FAULTS = /^(UPSTREAM_|DNS_|PARENT|INTERNAL)/;
const BENIGN = new Set(['CLIENT_ABORTED', 'TUNNEL_IDLE']);
function levelOf(code: string | null): 'info' | 'warn' | 'error' {
  if (code === null || BENIGN.has(code)) return 'info';
  return FAULTS.test(code) ? 'error' : 'warn';
}

/**
 * An ISO time per line, without a Date per line: the text up to the seconds is kept
 * until the second changes, and the milliseconds are appended.
 */
function cachedIsoTime(): () => string {
  let second = -1;
  let prefix = '';
  let ms = -1;
  let text = '';
  return () => {
    const now = Date.now();
    if (now === ms) return text;
    ms = now;
    const s = Math.floor(now / 1000);
    if (s !== second) {
      second = s;
      prefix = new Date(s * 1000).toISOString().slice(0, 20); // "2026-12-02T13:00:00."
    }
    const milli = now - s * 1000;
    text = `${prefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
    return text;
  };
}

/** The key text of every field (`,"id":`), from the one list of names. */
const K = keyTexts(F);

/** pino's numeric levels, so the lines read as any pino line does. */
const LEVEL = { info: 30, warn: 40, error: 50 } as const;

export interface AccessLogOptions {
  /** `squid`: Squid's native access.log lines instead of JSON (log.format). */
  format?: 'json' | 'squid';
  /** Size/age rotation of a log file (log.rotate). */
  rotation?: Omit<RotationOptions, 'onProblem'>;
  /** Problems writing or rotating the log, one line each (to the server log, as errors). */
  onProblem?: (message: string) => void;
  /** The end of a problem (writes succeed again), one line (to the server log, as info). */
  onNotice?: (message: string) => void;
  /** Mask query values in logged URLs (log.redact.query). Credentials are always removed. */
  redactQuery?: boolean;
  /**
   * Called with every record as its line is written (metrics, the dashboard): the one
   * place every request and tunnel passes when it ends. Must be cheap and not throw.
   */
  onRecord?: ((r: AccessRecord, now: number) => void) | null;
  /** Fields written first on every line (`{ worker: 2 }` when several workers share the file). */
  base?: Record<string, unknown> | null;
}

/** How long an access-log line may wait in the buffer on a quiet proxy. */
const FLUSH_MS = 250;

/**
 * One canonical JSON line per request or tunnel, written when it ends. The lines are
 * pino's format ({"level","time",base…,fields…,"msg"}) written to a pino destination
 * (sonic-boom: buffered, flushed at exit), but serialised here: pino's field-by-field
 * building was a third of all the memory the proxy allocated per request under W1, and
 * JSON.stringify of a fresh object per line twice the cost of concatenating the fixed
 * shape (json-text.ts; docs/benchmarks.md, sessions 4 and 5).
 */
export class AccessLog {
  private readonly dest: Destination;
  private readonly time = cachedIsoTime();
  /** The base fields as JSON text (`,"worker":2`), or '' without any. */
  private readonly baseText: string;
  /** Lines go out as Buffers to our own sonic-boom (see openDestination), as strings to a caller's stream. */
  private readonly binary: boolean;

  private readonly flusher: NodeJS.Timeout;
  /**
   * A full disk or a vanished folder must not take the proxy down with an unhandled
   * 'error', nor hang it in a synchronous flush: see WriteHealth.
   */
  private readonly health: WriteHealth;
  private readonly onProblem: ((message: string) => void) | undefined;
  /** The sonic-boom stream under any rotation wrapper. */
  private readonly boom: Destination;
  /** The destination was destroyed with unwritable lines in it (a full disk at shutdown). */
  private discarded = false;

  private readonly squid: boolean;
  private readonly redactQuery: boolean;

  private readonly onRecord: ((r: AccessRecord, now: number) => void) | null;

  /**
   * Lines encoded but not yet handed to the destination (binary destinations only).
   * One buffer, copied out per write: a Buffer per line, held until its write, was
   * 6% of W1's CPU per request (docs/benchmarks.md, session 6).
   */
  private readonly batch = Buffer.allocUnsafeSlow(WRITE_BATCH);
  private used = 0;
  /** Size rotation happens between writes: a batch ends with the line that fills the file. */
  private readonly rotation: RotatingDestination | null;

  constructor(target: LogTarget, opts: AccessLogOptions = {}) {
    const dest = openDestination(target);
    const { rotation } = opts;
    this.onProblem = opts.onProblem;
    this.boom = dest;
    this.health = new WriteHealth(dest, (m, level) => (level === 'error' ? opts.onProblem?.(m) : opts.onNotice?.(m)));
    const rotates = rotation && typeof target === 'string' && target !== 'stdout' && target !== 'stderr' && (rotation.size > 0 || rotation.every > 0);
    const canFlush = (): boolean => !this.health.failing;
    this.rotation = rotates ? new RotatingDestination(dest, target, { ...rotation, onProblem: opts.onProblem, canFlush }) : null;
    this.dest = this.rotation ? (this.rotation as unknown as Destination) : dest;
    this.squid = opts.format === 'squid';
    this.redactQuery = opts.redactQuery ?? false;
    this.onRecord = opts.onRecord ?? null;
    const base = opts.base ? JSON.stringify(opts.base).slice(1, -1) : '';
    this.baseText = base === '' ? '' : `,${base}`;
    this.binary = typeof target === 'string';
    this.flusher = setInterval(() => this.flushAsync(), FLUSH_MS);
    this.flusher.unref();
  }

  private flushAsync(): void {
    this.handOver();
    const d = this.dest as Destination & { flush?: () => void; _len?: number };
    // Only when something is buffered: sonic-boom's flush on an empty buffer is not free.
    if (d.flush && d._len !== 0) d.flush();
  }

  write(r: AccessRecord, now: number): void {
    if (this.discarded) return;
    const url = redactUrl(r.url, this.redactQuery);
    if (this.onRecord !== null) this.onRecord(r, now);
    if (this.squid) {
      this.out(squidLine(url === r.url ? r : { ...r, url }, Date.now(), now - r.startedAt));
      return;
    }
    // Level follows the outcome: proxy faults are errors, refusals warnings. Base
    // fields (the worker number) go right after the time, as pino puts them.
    let line = `{"level":${LEVEL[levelOf(r.errorCode)]}${K.time}"${this.time()}"${this.baseText}`;
    line += `${K.id}${jsonString(r.id)}${K.kind}"${r.kind}"${K.mode}"${r.mode}"${K.client}${jsonString(r.clientIp)}${K.user}${jsonString(r.user)}`;
    if (r.groups.length !== 0) line += `${K.groups}${jsonValue(r.groups)}`;
    line += `${K.method}${jsonString(r.method)}${K.url}${jsonString(url)}${K.status}${jsonNumber(r.status)}`;
    line += `${K.bytesIn}${jsonNumber(r.bytesIn)}${K.bytesOut}${jsonNumber(r.bytesOut)}${K.durationMs}${jsonMillis(now - r.startedAt)}`;
    line += `${K.timing}${timingText(r)}${K.upstream}${jsonString(r.upstream)}`;
    line += `${K.error}${jsonString(r.errorCode)}${K.reason}${jsonString(r.errorReason)}${K.tls}"${r.tls}"${K.sni}${jsonString(r.sni)}`;
    line += `${K.decision}${r.decision === null ? 'null' : jsonValue(decisionFields(r.decision))}${K.cache}${jsonString(r.cache)}`;
    line += `${K.quota}${r.quota === null ? 'null' : jsonValue(quotaFields(r.quota, r.bytesOut))}`;
    if (r.requestHeaders) line += `${K.requestHeaders}${jsonValue(r.requestHeaders)}`;
    if (r.responseHeaders) line += `${K.responseHeaders}${jsonValue(r.responseHeaders)}`;
    this.out(`${line}${K.msg}"${r.kind === 'http' || r.kind === 'local' ? MSG_REQUEST : MSG_TUNNEL}"}\n`);
  }

  private out(text: string): void {
    if (!this.binary) {
      this.dest.write(text);
      return;
    }
    // A UTF-16 code unit takes at most 3 bytes of UTF-8.
    if (text.length * 3 > WRITE_BATCH - this.used) {
      this.handOver();
      if (text.length * 3 > WRITE_BATCH) {
        this.dest.write(Buffer.from(text) as unknown as string);
        return;
      }
    }
    this.used += this.batch.write(text, this.used, 'utf8');
    if (this.rotation !== null && this.used >= this.rotation.room()) this.handOver();
  }

  /** Give the encoded lines to the destination (it writes them off the event loop). */
  private handOver(): void {
    if (this.used === 0 || this.discarded) return;
    const lines = Buffer.from(this.batch.subarray(0, this.used));
    this.used = 0;
    this.dest.write(lines as unknown as string);
  }

  /** Reopen the file (after logrotate moved it; SIGUSR1). */
  reopen(): void {
    this.handOver();
    this.dest.reopen?.();
  }

  /**
   * Write what is buffered to the file as it is now (renamed by the rotating primary),
   * reopen the path, and resolve once the new file is open (at most `ms`): after that,
   * no line of this process goes to the old file.
   */
  reopenAndWait(ms = 2000): Promise<void> {
    const d = this.dest as Destination & { once?: (e: string, f: () => void) => void; removeListener?: (e: string, f: () => void) => void };
    this.handOver();
    try {
      d.flushSync?.();
    } catch {
      // not open yet: nothing was written to the old file
    }
    if (!d.reopen || !d.once) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        d.removeListener?.('ready', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      d.once!('ready', done);
      d.reopen!();
    });
  }

  /** Flush and close the file (once it is open): for embedders and tests that remove it afterwards. */
  async close(): Promise<void> {
    await this.drain();
    const d = this.dest as Destination & { once?: (e: string, f: () => void) => void };
    if (!d.end || !d.once) return;
    // Bounded: sonic-boom may not report 'close' when it is ended in the middle of a
    // reopen; what was written is on disk by then either way.
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 2000);
      d.once!('close', () => {
        clearTimeout(timer);
        resolve();
      });
      d.end!();
    });
  }

  /**
   * Write everything buffered, asynchronously, for up to `timeoutMs` (shutdown). A write
   * that fails (a full disk) ends it: what is left is reported as lost, never retried in
   * a loop that would keep the process from exiting.
   */
  async drain(timeoutMs = 2000): Promise<void> {
    clearInterval(this.flusher);
    this.handOver();
    const d = this.dest as Destination & { flush?: (cb?: (err?: Error | null) => void) => void; _len?: number };
    const deadline = Date.now() + timeoutMs;
    if (d.flush && typeof d._len === 'number') {
      while (d._len > 0 && !this.health.failing && Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, Math.max(1, deadline - Date.now()));
          try {
            d.flush!(() => {
              clearTimeout(timer);
              resolve();
            });
          } catch {
            clearTimeout(timer);
            resolve(); // not open yet: flushSync below reports it
          }
        });
      }
    }
    this.flush();
  }

  /**
   * Write everything buffered now, synchronously (shutdown, fatal errors), unless the
   * file is failing: then say how much is lost instead of spinning in flushSync.
   */
  flush(): void {
    clearInterval(this.flusher);
    this.handOver();
    const left = (this.dest as { _len?: number })._len ?? 0;
    if (this.health.failing) {
      if (left > 0) this.onProblem?.(`access log: ${left} bytes could not be written (${this.health.failure!.code ?? this.health.failure!.message}) and are lost`);
      // pino flushes the destination again at beforeExit (async: fails, and beforeExit
      // comes again, forever) and at exit (flushSync: spins). A destroyed destination is
      // skipped by both, so the process can exit; lines written after this are dropped.
      this.discarded = true;
      (this.boom as { destroy?: () => void }).destroy?.();
      return;
    }
    try {
      this.dest.flushSync?.();
    } catch {
      // flushSync throws if the stream is not ready yet; nothing was buffered then.
    }
  }
}

/** The diagnostic log (start, reload, faults), separate from the access log. */
export function createServerLog(target: LogTarget, level: string, base: Record<string, unknown> | null = null): { log: Logger; dest: Destination } {
  // Synchronous: diagnostics are rare and must not be lost when the process dies. One
  // write(2) per line: with O_APPEND, processes sharing the file never split a line.
  const dest = openDestination(target, true);
  // A server-log file on a full disk: the failed write's 'error' had no listener and
  // crashed the proxy (test/faults-disk-log.test.ts). Say so on stderr instead; the
  // lines wait in memory and are written once the file accepts them again.
  if (typeof target === 'string') {
    const report = target === 'stderr' ? () => {} : (m: string) => void process.stderr.write(`egressd: ${m}\n`);
    new WriteHealth(dest, report, 'server log');
  }
  return { log: pino({ base, timestamp: pino.stdTimeFunctions.isoTime, level }, dest), dest };
}
