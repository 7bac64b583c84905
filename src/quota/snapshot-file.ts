import { readFileSync } from 'node:fs';
import { PERIODS, type Period } from './calendar-window.js';
import type { MemoryStore, SnapshotData } from './memory-store.js';

/** Minimal logger: pino's Logger fits. */
export interface QuotaLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Writes a file atomically (temp + fsync + rename); the server passes tls/atomic-file's. */
export type AtomicWrite = (path: string, data: string) => Promise<void>;

const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

/** Validate a parsed snapshot; returns the reason it is unusable, or the data. */
export function parseSnapshot(text: string): SnapshotData | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return `not JSON (${(err as Error).message})`;
  }
  const d = raw as Partial<SnapshotData> | null;
  if (!d || typeof d !== 'object' || d.version !== 1) return 'unknown format (expected version 1)';
  if (!d.entries || typeof d.entries !== 'object') return 'no "entries" object';
  for (const [key, e] of Object.entries(d.entries)) {
    if (!e || !isNum(e.t) || !isNum(e.a) || !e.v || typeof e.v !== 'object') return `entry "${key}" is malformed`;
    for (const [per, c] of Object.entries(e.v)) {
      if (!PERIODS.includes(per as Period) || !Array.isArray(c) || c.length !== 2 || !isNum(c[0]) || !isNum(c[1]) || c[1] < 0) {
        return `entry "${key}" has a malformed "${per}" counter`;
      }
    }
  }
  return d as SnapshotData;
}

/**
 * Read a snapshot file. Missing or damaged: the counters start from zero and the
 * reason is logged as a warning; it never throws (a bad state file must not stop the
 * proxy from starting).
 */
export function readSnapshot(file: string, log: QuotaLog): SnapshotData | null {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    log.warn({ file, err: code ?? String(err) }, code === 'ENOENT' ? 'quota snapshot not found: counters start from zero' : 'quota snapshot unreadable: counters start from zero');
    return null;
  }
  const data = parseSnapshot(text);
  if (typeof data === 'string') {
    log.warn({ file, problem: data }, `quota snapshot is corrupt (${data}): counters start from zero`);
    return null;
  }
  return data;
}

/**
 * Saves a memory store to a file every `intervalMs` and on close. A failed write is
 * logged (once until a write succeeds again) and retried at the next interval.
 */
export class SnapshotWriter {
  private readonly timer: NodeJS.Timeout | null;
  private writing: Promise<void> | null = null;
  private failing = false;

  constructor(
    private readonly store: MemoryStore,
    private readonly file: string,
    intervalMs: number,
    private readonly write: AtomicWrite,
    private readonly log: QuotaLog,
    private readonly maxRefillMs: () => number,
  ) {
    this.timer = intervalMs > 0 ? setInterval(() => void this.save(), intervalMs) : null;
    this.timer?.unref();
  }

  /** Write the snapshot now (waits for a write already in progress first). */
  async save(): Promise<void> {
    while (this.writing) await this.writing;
    const data = JSON.stringify(this.store.toSnapshot(Date.now(), this.maxRefillMs()));
    this.writing = this.write(this.file, data).then(
      () => {
        if (this.failing) this.log.info({ file: this.file }, 'quota snapshot written again');
        this.failing = false;
      },
      (err: unknown) => {
        if (!this.failing) this.log.warn({ file: this.file, err: (err as NodeJS.ErrnoException).code ?? String(err) }, 'cannot write the quota snapshot; retrying at the next interval');
        this.failing = true;
      },
    );
    try {
      await this.writing;
    } finally {
      this.writing = null;
    }
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.save();
  }
}
