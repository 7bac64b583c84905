import { renameSync } from 'node:fs';
import { finishRotation, rotatedName, sizeOf, type RotationOptions } from '../log/rotation.js';

/** How often the primary looks at the shared access log's size. */
const CHECK_MS = 1000;

/**
 * Rotation of an access-log file that several workers append to (workers > 1): done
 * once, by the primary. When the file is due (size or age), the primary renames it,
 * asks every worker to write what it buffered and reopen the path (each answers once
 * its new file is open), and only then compresses the rotated file and prunes old
 * ones. Lines written in between land in the rotated file, whole: none is lost or split.
 * The size is checked every second, so a file may pass `size` by one second of lines.
 */
export class RotationHost {
  private startedAt = Date.now();
  private readonly timer: NodeJS.Timeout;
  private busy = false;

  constructor(
    private readonly file: string,
    private readonly opts: RotationOptions,
    private readonly reopenAll: () => Promise<void>,
  ) {
    this.timer = setInterval(() => void this.check(), Math.min(CHECK_MS, opts.every > 0 ? opts.every : CHECK_MS));
    this.timer.unref();
  }

  private due(): boolean {
    const { size, every } = this.opts;
    return (size > 0 && sizeOf(this.file) >= size) || (every > 0 && Date.now() - this.startedAt >= every);
  }

  async check(): Promise<void> {
    if (this.busy || !this.due()) return;
    this.busy = true;
    try {
      await this.rotate();
    } finally {
      this.busy = false;
    }
  }

  private async rotate(): Promise<void> {
    const target = rotatedName(this.file, Date.now());
    this.startedAt = Date.now();
    try {
      renameSync(this.file, target);
    } catch (err) {
      this.opts.onProblem?.(`log rotation of ${this.file} failed: ${(err as Error).message}; writing on to the same file`);
      return;
    }
    // Bounded by each worker's own wait: a worker that does not answer keeps writing to
    // the rotated file until it does, which loses nothing.
    await this.reopenAll().catch((err: unknown) => this.opts.onProblem?.(`a worker did not reopen ${this.file}: ${String(err)}`));
    await finishRotation(this.file, target, this.opts);
  }

  /** After an external rotation (logrotate + SIGUSR1): age counts from now. */
  reopened(): void {
    this.startedAt = Date.now();
  }

  close(): void {
    clearInterval(this.timer);
  }
}

