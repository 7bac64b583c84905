import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * A small tmpfs to make a full disk on demand (mount(8) needs root). Tests that need it
 * check `tmpfsAvailable()` and are skipped, saying why, where mounting is refused.
 */
export interface Tmpfs {
  dir: string;
  /** Fill the file system to the last byte with a filler file. */
  fill(): void;
  /** Remove the filler: the space is free again. */
  free(): void;
  unmount(): void;
}

let probed: string | null | undefined;

/** null when a tmpfs can be mounted here, otherwise why not. */
export function tmpfsProblem(): string | null {
  if (probed !== undefined) return probed;
  const dir = mkdtempSync(join(tmpdir(), 'egressd-tmpfs-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir], { stdio: 'pipe' });
    execFileSync('umount', [dir], { stdio: 'pipe' });
    probed = null;
  } catch (err) {
    probed = `cannot mount a tmpfs (run as root to simulate a full disk): ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return probed;
}

export function mountTmpfs(size: string): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), 'egressd-tmpfs-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0755`, 'tmpfs', dir], { stdio: 'pipe' });
  const filler = join(dir, 'filler');
  return {
    dir,
    fill() {
      const fd = openSync(filler, 'a');
      const block = Buffer.alloc(4096);
      try {
        for (;;) writeSync(fd, block);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
      // The last partial block.
      try {
        for (;;) writeSync(fd, block, 0, 1);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
      closeSync(fd);
    },
    free() {
      try {
        unlinkSync(filler);
      } catch {
        // not filled
      }
    },
    unmount() {
      try {
        execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
