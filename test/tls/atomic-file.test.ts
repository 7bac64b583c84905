import { readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeFileAtomic } from '../../src/tls/atomic-file.js';
import { tempDirs } from './helpers.js';

const dirs = tempDirs();
afterAll(() => dirs.cleanup());

describe('writeFileAtomic', () => {
  it('creates the file with the given mode and leaves no temp file', async () => {
    const d = await dirs.make();
    await writeFileAtomic(join(d, 'key.pem'), 'secret', { mode: 0o600, fsync: true });
    expect(await readFile(join(d, 'key.pem'), 'utf8')).toBe('secret');
    expect((await stat(join(d, 'key.pem'))).mode & 0o777).toBe(0o600);
    expect(await readdir(d)).toEqual(['key.pem']);
  });

  it('replaces by default, but never with `exclusive` (EEXIST, original kept, no temp left)', async () => {
    const d = await dirs.make();
    const file = join(d, 'f');
    await writeFile(file, 'old');
    await writeFileAtomic(file, 'new');
    expect(await readFile(file, 'utf8')).toBe('new');
    await expect(writeFileAtomic(file, 'newer', { exclusive: true })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(await readFile(file, 'utf8')).toBe('new');
    expect(await readdir(d)).toEqual(['f']);
  });

  it('lets exactly one of several concurrent exclusive writers win', async () => {
    const d = await dirs.make();
    const results = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => writeFileAtomic(join(d, 'one'), `writer ${i}`, { exclusive: true })),
    );
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(await readdir(d)).toEqual(['one']);
  });
});
