import { createReadStream, createWriteStream, readdirSync, renameSync, statSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type { Destination } from './access-log.js';

export interface RotationOptions {
  /** Rotate once the file reaches this many bytes (0: never by size). */
  size: number;
  /** Rotate when this much time has passed since the file was started (0: never by time). */
  every: number;
  /** Rotated files kept; older ones are deleted. */
  keep: number;
  /** Compress rotated files (`.gz`, in the background). */
  gzip: boolean;
  /** Called with a one-line problem (a failed rename or compression); never throws. */
  onProblem?: (message: string) => void;
  /**
   * False while the file refuses writes (a full disk): rotating then would flushSync,
   * which retries forever (see WriteHealth); the rotation waits for a later write.
   */
  canFlush?: () => boolean;
  now?: () => number;
}

/**
 * Size- and time-based rotation of a log file, in front of its sonic-boom destination.
 * Rotating flushes what is buffered, renames the file to `<name>.<UTC time>` and reopens
 * the destination on a new file, all synchronously between two lines: no line is lost
 * or split across files. Rotated files are optionally gzipped (the audit command reads
 * them as they are) and the oldest beyond `keep` are deleted.
 */
export class RotatingDestination {
  private bytes: number;
  private startedAt: number;
  private readonly now: () => number;

  constructor(
    private readonly inner: Destination,
    private readonly file: string,
    private readonly opts: RotationOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.bytes = sizeOf(file);
    this.startedAt = this.now();
  }

  write(s: string | Buffer): void {
    // A buffered access log hands sonic-boom Buffers (contentMode 'buffer'); pino's
    // DestinationStream type only says string.
    this.inner.write(s as string);
    this.bytes += Buffer.byteLength(s);
    if ((this.opts.size > 0 && this.bytes >= this.opts.size) || (this.opts.every > 0 && this.now() - this.startedAt >= this.opts.every)) this.rotate();
  }

  /** Bytes the file may still take before it rotates by size (Infinity: it does not). */
  room(): number {
    return this.opts.size > 0 ? this.opts.size - this.bytes : Infinity;
  }

  flushSync(): void {
    this.inner.flushSync?.();
  }

  flush(cb?: (err?: Error | null) => void): void {
    const inner = this.inner as { flush?: (cb?: (err?: Error | null) => void) => void };
    if (inner.flush) inner.flush(cb);
    else cb?.();
  }

  get _len(): number | undefined {
    return (this.inner as { _len?: number })._len;
  }

  /** After an external rotation (logrotate + SIGUSR1): a new file, counted from its size. */
  reopen(): void {
    this.inner.reopen?.();
    this.bytes = sizeOf(this.file);
    this.startedAt = this.now();
  }

  end(): void {
    this.inner.end?.();
  }

  once(event: string, f: () => void): void {
    (this.inner as { once?: (e: string, f: () => void) => void }).once?.(event, f);
  }

  rotate(): void {
    // The file is still being opened (start-up, or the previous rotation): lines are
    // buffered meanwhile; rotate at a later write.
    const boom = this.inner as { _opening?: boolean; fd?: number };
    if (boom._opening || (boom.fd !== undefined && boom.fd < 0)) return;
    if (this.opts.canFlush && !this.opts.canFlush()) return;
    const target = rotatedName(this.file, this.now());
    try {
      this.inner.flushSync?.();
      renameSync(this.file, target);
    } catch (err) {
      this.opts.onProblem?.(`log rotation of ${this.file} failed: ${(err as Error).message}; writing on to the same file`);
      this.startedAt = this.now();
      this.bytes = 0;
      return;
    }
    this.inner.reopen?.();
    this.bytes = 0;
    this.startedAt = this.now();
    void finishRotation(this.file, target, this.opts);
  }
}

/** `<file>.<UTC time>` (with `-N` if taken): the name a rotated file is moved to. */
export function rotatedName(file: string, now: number): string {
  const stamp = new Date(now).toISOString().replace(/[:]/g, '-').replace(/\.\d+Z$/, 'Z');
  let target = `${file}.${stamp}`;
  for (let i = 1; exists(target) || exists(`${target}.gz`); i++) target = `${file}.${stamp}-${i}`;
  return target;
}

/**
 * After `file` was renamed to `target` and its writers moved to a new file: compress
 * the rotated file (if asked) and delete the oldest beyond `keep`. Never throws.
 */
export async function finishRotation(file: string, target: string, opts: Pick<RotationOptions, 'gzip' | 'keep' | 'onProblem'>): Promise<void> {
  if (opts.gzip) {
    try {
      // Written as .gz.tmp and renamed: a crash mid-way never leaves a truncated .gz.
      await pipeline(createReadStream(target), createGzip(), createWriteStream(`${target}.gz.tmp`));
      renameSync(`${target}.gz.tmp`, `${target}.gz`);
      unlinkSync(target);
    } catch (err) {
      try {
        unlinkSync(`${target}.gz.tmp`);
      } catch {
        // never created
      }
      opts.onProblem?.(`compressing ${target} failed: ${(err as Error).message}; it is kept uncompressed`);
    }
  }
  prune(file, opts);
}

function prune(file: string, opts: Pick<RotationOptions, 'gzip' | 'keep' | 'onProblem'>): void {
  const dir = dirname(file);
  const prefix = `${basename(file)}.`;
  let rotated: string[];
  try {
    rotated = readdirSync(dir)
      // Only finished files: with gzip, a file still being compressed is not counted
      // (nor deleted under the compressor).
      .filter((n) => n.startsWith(prefix) && /^\d{4}-\d\d-\d\dT/.test(n.slice(prefix.length)) && !n.endsWith('.tmp') && n.endsWith('.gz') === opts.gzip)
      .sort();
  } catch {
    return;
  }
  for (const n of rotated.slice(0, Math.max(0, rotated.length - opts.keep))) {
    try {
      unlinkSync(join(dir, n));
    } catch (err) {
      opts.onProblem?.(`deleting old log ${n} failed: ${(err as Error).message}`);
    }
  }
}

export function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}

function exists(file: string): boolean {
  try {
    statSync(file);
    return true;
  } catch {
    return false;
  }
}
