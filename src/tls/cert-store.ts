import { mkdir, readFile, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file.js';
import { hostFileName, type NormalizedHost } from './host-name.js';

/**
 * Persistent storage of issued leaf certificates (PEM, leaf only), keyed by normalised host.
 * The factory validates whatever a store returns, so a store may be shared, stale or damaged
 * without a bad certificate ever being served. Disk is the default; a shared store (Redis)
 * can plug in behind the same interface for several instances.
 */
export interface CertStore {
  get(host: NormalizedHost): Promise<string | undefined>;
  set(host: NormalizedHost, pem: string): Promise<void>;
  delete(host: NormalizedHost): Promise<void>;
  /** Remove every stored certificate (admin purge, or after a CA change). */
  clear(): Promise<void>;
}

/** One file per host under a folder: `<dir>/<host>.pem`. */
export class DiskCertStore implements CertStore {
  constructor(readonly dir: string) {}

  async get(host: NormalizedHost): Promise<string | undefined> {
    try {
      return await readFile(join(this.dir, hostFileName(host)), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async set(host: NormalizedHost, pem: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    // No fsync: a certificate torn by a crash is detected on read and simply reissued.
    await writeFileAtomic(join(this.dir, hostFileName(host)), pem, { mode: 0o644 });
  }

  async delete(host: NormalizedHost): Promise<void> {
    await unlink(join(this.dir, hostFileName(host))).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async clear(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => n.endsWith('.pem')).map((n) => unlink(join(this.dir, n)).catch(() => undefined)));
  }
}
