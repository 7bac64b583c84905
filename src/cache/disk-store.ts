import { mkdir, open as openFile, readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomic } from '../tls/atomic-file.js';
import { CorruptEntry, decode, encode, fileNameOf, indexMeta, metaSpan } from './disk-format.js';
import type { CacheEntry } from './entry.js';
import { withVariant, type CacheStore, type StoreStats, type Variants } from './store.js';

interface IndexRow {
  key: string;
  url: string;
  file: string;
  size: number;
  entries: number;
}

/**
 * The disk tier: one file per primary key in a folder bounded in bytes, surviving
 * restarts. An in-memory index (rebuilt by scanning the folder at open) answers a
 * miss without touching the disk and orders keys for LRU eviction. Files are written
 * atomically (temp file + rename); a file that does not decode is deleted, never served.
 */
export class DiskStore implements CacheStore {
  /** Insertion order = recency order (re-inserted on every access). */
  private readonly index = new Map<string, IndexRow>();
  private bytes = 0;
  private entries = 0;
  private readonly pending = new Set<Promise<unknown>>();
  /** The last write failed for lack of space (reported once until a write succeeds). */
  private full = false;

  constructor(
    private readonly dir: string,
    private readonly maxBytes: number,
    private readonly log: Logger,
  ) {}

  async open(): Promise<void> {
    let names: string[];
    try {
      await mkdir(this.dir, { recursive: true });
      names = (await readdir(this.dir)).filter((n) => n.endsWith('.entry'));
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw Object.assign(new Error(`cache.disk: cannot use the folder ${this.dir}: ${e.code ?? e.message}`), { code: e.code });
    }
    const rows: (IndexRow & { mtime: number })[] = [];
    for (const name of names) {
      const file = join(this.dir, name);
      try {
        rows.push({ ...(await this.readIndexRow(file, name)), file });
      } catch (err) {
        this.log.warn({ file, err: String(err) }, 'cache: discarding a corrupt disk entry');
        await unlink(file).catch(() => {});
      }
    }
    rows.sort((a, b) => a.mtime - b.mtime);
    for (const { mtime: _m, ...row } of rows) this.add(row);
    this.evict();
  }

  /** Index one file from its head only (a large cache starts without reading every body). */
  private async readIndexRow(file: string, name: string): Promise<Omit<IndexRow, 'file'> & { mtime: number }> {
    const fh = await openFile(file, 'r');
    try {
      const st = await fh.stat();
      const head = Buffer.alloc(Math.min(st.size, 64 * 1024));
      await fh.read(head, 0, head.length, 0);
      const span = metaSpan(head);
      const json = Buffer.alloc(span.length);
      const { bytesRead } = await fh.read(json, 0, span.length, span.start);
      if (bytesRead !== span.length) throw new CorruptEntry('truncated meta');
      const meta = indexMeta(json, span.start + span.length);
      if (fileNameOf(meta.key) !== name) throw new CorruptEntry('file name does not match its key');
      if (meta.size !== st.size) throw new CorruptEntry(`size ${st.size} does not match the ${meta.size} bytes its meta describes`);
      return { key: meta.key, url: meta.url, size: st.size, entries: meta.entries, mtime: st.mtimeMs };
    } finally {
      await fh.close();
    }
  }

  get(key: string): Variants | undefined | Promise<Variants | undefined> {
    const row = this.index.get(key);
    if (!row) return undefined;
    this.touch(row);
    return readFile(row.file).then(
      (buf) => decode(buf, key).variants,
      (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') this.log.warn({ file: row.file, err: String(err) }, 'cache: unreadable disk entry');
        this.drop(row);
        return undefined;
      },
    ).catch((err: unknown) => {
      // A corrupt file (torn by a crash, edited, bit rot): delete it, report a miss.
      this.log.warn({ file: row.file, err: String(err) }, 'cache: discarding a corrupt disk entry');
      this.drop(row);
      void unlink(row.file).catch(() => {});
      return undefined;
    });
  }

  /** Write the key's file with `entry` merged into the variants already on disk. */
  put(entry: CacheEntry): void {
    const task = (async () => {
      const existing = this.index.get(entry.key);
      let list: Variants | undefined;
      if (existing) list = await (this.get(entry.key) as Promise<Variants | undefined>);
      const variants = withVariant(list, entry);
      const buf = encode(variants);
      if (buf.length > this.maxBytes) return;
      const file = join(this.dir, fileNameOf(entry.key));
      await writeFileAtomic(file, buf);
      const old = this.index.get(entry.key);
      if (old) this.remove(old);
      this.add({ key: entry.key, url: entry.url, file, size: buf.length, entries: variants.length });
      this.evict();
      if (this.full) {
        this.full = false;
        this.log.info({ dir: this.dir }, 'cache: disk writes succeed again');
      }
    })().catch((err: unknown) => this.writeFailed(err, entry.url));
    this.pending.add(task);
    void task.finally(() => this.pending.delete(task));
  }

  /**
   * A full disk fails every write until space is freed: say so once (and once when it
   * ends), not once per response. writeFileAtomic has removed its temp file; the entry
   * stays in the memory tier, and responses are served either way.
   */
  private writeFailed(err: unknown, url: string): void {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOSPC' && code !== 'EDQUOT') {
      this.log.warn({ err: String(err), url }, 'cache: disk write failed');
      return;
    }
    if (this.full) return;
    this.full = true;
    this.log.warn({ dir: this.dir, code }, `cache: the disk is full (${code}): responses are not stored on disk until space is freed; they are still served`);
  }

  delete(key: string): boolean {
    const row = this.index.get(key);
    if (!row) return false;
    this.drop(row);
    void unlink(row.file).catch(() => {});
    return true;
  }

  purge(match: (url: string) => boolean): number {
    let n = 0;
    for (const row of [...this.index.values()]) {
      if (match(row.url)) {
        n += row.entries;
        this.delete(row.key);
      }
    }
    return n;
  }

  stats(): StoreStats {
    return { entries: this.entries, bytes: this.bytes };
  }

  /** Wait for writes in flight (tests, shutdown). */
  async flush(): Promise<void> {
    while (this.pending.size) await Promise.all([...this.pending]);
  }

  async close(): Promise<void> {
    await this.flush();
  }

  private add(row: IndexRow): void {
    this.index.set(row.key, row);
    this.bytes += row.size;
    this.entries += row.entries;
  }

  private remove(row: IndexRow): void {
    if (this.index.get(row.key) !== row) return;
    this.index.delete(row.key);
    this.bytes -= row.size;
    this.entries -= row.entries;
  }

  private drop(row: IndexRow): void {
    this.remove(row);
  }

  private touch(row: IndexRow): void {
    this.index.delete(row.key);
    this.index.set(row.key, row);
  }

  private evict(): void {
    for (const row of this.index.values()) {
      if (this.bytes <= this.maxBytes) break;
      this.drop(row);
      void unlink(row.file).catch(() => {});
    }
  }
}
