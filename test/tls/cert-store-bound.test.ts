import { mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DiskCertStore } from '../../src/tls/cert-store.js';
import { normalizeHost } from '../../src/tls/host-name.js';

/** The disk leaf cache's bound (tls.leafDiskCacheSize): least recently used files go first. */
describe('DiskCertStore with maxEntries', () => {
  const dirs: string[] = [];
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  });
  const fresh = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'egressd-certstore-'));
    dirs.push(d);
    return d;
  };
  const files = (d: string): string[] => readdirSync(d).filter((n) => n.endsWith('.pem')).sort();

  it('keeps at most maxEntries files, deleting the least recently used (a get counts as a use)', async () => {
    const dir = fresh();
    const s = new DiskCertStore(dir, 3);
    for (const h of ['a.test', 'b.test', 'c.test']) await s.set(normalizeHost(h), `pem ${h}`);
    expect(await s.get(normalizeHost('a.test'))).toBe('pem a.test');
    await s.set(normalizeHost('d.test'), 'pem d.test');
    expect(files(dir)).toEqual(['a.test.pem', 'c.test.pem', 'd.test.pem']);
    expect(s.size).toBe(3);
    // Writing a host again does not count twice.
    await s.set(normalizeHost('d.test'), 'pem d2');
    expect(files(dir)).toHaveLength(3);
    await s.delete(normalizeHost('c.test'));
    expect(s.size).toBe(2);
  });

  it('counts the files already in the folder, oldest modification first', async () => {
    const dir = fresh();
    for (const [i, h] of ['old', 'mid', 'new'].entries()) {
      writeFileSync(join(dir, `${h}.test.pem`), h);
      utimesSync(join(dir, `${h}.test.pem`), 1000 + i, 1000 + i);
    }
    const s = new DiskCertStore(dir, 3);
    await s.set(normalizeHost('next.test'), 'pem');
    expect(files(dir)).toEqual(['mid.test.pem', 'new.test.pem', 'next.test.pem']);
  });

  it('without a bound keeps no index and deletes nothing', async () => {
    const dir = fresh();
    const s = new DiskCertStore(dir);
    for (let i = 0; i < 20; i++) await s.set(normalizeHost(`h${i}.test`), 'pem');
    expect(files(dir)).toHaveLength(20);
    expect(s.size).toBeUndefined();
  });
});
