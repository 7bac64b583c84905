import { randomBytes } from 'node:crypto';
import { link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

export interface AtomicWriteOptions {
  /** File mode at creation; the temp file is created with it, so a key is never briefly world-readable. */
  mode?: number;
  /**
   * fsync the file and its folder before returning. Needed for keys (losing one after a
   * crash means every device must be re-provisioned); skipped for cache files, where a
   * file damaged by a crash is detected and reissued.
   */
  fsync?: boolean;
  /** Fail with EEXIST instead of replacing an existing file (link(2) is atomic and never overwrites). */
  exclusive?: boolean;
}

/**
 * Write a file so that readers see either the old content or the whole new content, never
 * a torn write: write a temp file in the same folder, then rename (or link) it into place.
 * Concurrent writers (several egressd processes sharing certs/) each use their own temp name.
 */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  options: AtomicWriteOptions = {},
): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const handle = await open(tmp, 'wx', options.mode ?? 0o644);
    try {
      await handle.writeFile(data);
      if (options.fsync) await handle.sync();
    } finally {
      await handle.close();
    }
    if (options.exclusive) {
      await link(tmp, path);
    } else {
      await rename(tmp, path);
    }
    if (options.fsync) await syncDir(dir);
  } finally {
    // After a rename the temp name is already gone (ENOENT, ignored); after a link or a
    // failure it still exists and must not be left behind.
    await unlink(tmp).catch(() => undefined);
  }
}

/** Make the rename itself durable; some file systems refuse fsync on a folder, which is fine. */
async function syncDir(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // EISDIR/EINVAL/EPERM on platforms without folder fsync: nothing more we can do.
  } finally {
    await handle?.close();
  }
}
