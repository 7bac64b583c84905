import { mkdir, readFile, readdir, stat, unlink } from 'node:fs/promises';
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
  /** Certificates held, when the store keeps count. */
  readonly size?: number | undefined;
}

/**
 * One file per host under a folder: `<dir>/<host>.pem`. With `maxEntries`, the folder
 * is bounded: an in-memory index of the file names (read from the folder once, oldest
 * modification first, then kept in use order) deletes the least recently used file when
 * a new one would exceed the bound, so a client naming endless host names cannot fill
 * the disk. Several processes sharing the folder each keep their own index; the folder
 * then holds at most about `maxEntries` per process.
 */
export class DiskCertStore implements CertStore {
  #index: Map<string, true> | null = null;
  #loading: Promise<Map<string, true>> | null = null;

  constructor(
    readonly dir: string,
    private readonly maxEntries = Infinity,
  ) {}

  async get(host: NormalizedHost): Promise<string | undefined> {
    const name = hostFileName(host);
    try {
      const pem = await readFile(join(this.dir, name), 'utf8');
      this.#touch(name);
      return pem;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async set(host: NormalizedHost, pem: string): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const name = hostFileName(host);
    // No fsync: a certificate torn by a crash is detected on read and simply reissued.
    await writeFileAtomic(join(this.dir, name), pem, { mode: 0o644 });
    if (this.maxEntries === Infinity) return;
    const index = await this.#load();
    index.delete(name);
    index.set(name, true);
    const evict: string[] = [];
    for (const old of index.keys()) {
      if (index.size - evict.length <= this.maxEntries) break;
      evict.push(old);
    }
    for (const old of evict) index.delete(old);
    await Promise.all(evict.map((old) => unlink(join(this.dir, old)).catch(() => undefined)));
  }

  async delete(host: NormalizedHost): Promise<void> {
    const name = hostFileName(host);
    this.#index?.delete(name);
    await unlink(join(this.dir, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async clear(): Promise<void> {
    const names = await readdir(this.dir).catch(() => [] as string[]);
    await Promise.all(names.filter((n) => n.endsWith('.pem')).map((n) => unlink(join(this.dir, n)).catch(() => undefined)));
    if (this.#index) this.#index.clear();
  }

  /** Files in the folder as this process knows them (with a bound), for status and tests. */
  get size(): number | undefined {
    return this.#index?.size;
  }

  #touch(name: string): void {
    if (!this.#index?.delete(name)) return;
    this.#index.set(name, true);
  }

  /** The index, read from the folder once: oldest modification first. */
  #load(): Promise<Map<string, true>> {
    if (this.#index) return Promise.resolve(this.#index);
    this.#loading ??= (async () => {
      const names = (await readdir(this.dir).catch(() => [] as string[])).filter((n) => n.endsWith('.pem'));
      const timed = await Promise.all(names.map(async (n) => ({ n, t: (await stat(join(this.dir, n)).catch(() => null))?.mtimeMs ?? 0 })));
      timed.sort((a, b) => a.t - b.t);
      this.#index = new Map(timed.map(({ n }) => [n, true]));
      return this.#index;
    })();
    return this.#loading;
  }
}
