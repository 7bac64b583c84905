import bcrypt from 'bcryptjs';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { OffThreadPasswordCheck } from '../../src/auth/password-check.js';
import { ensureBuilt } from '../helpers/fwd-child-proxy.js';

const HASH = bcrypt.hashSync('secret', 4);
const dir = mkdtempSync(join(tmpdir(), 'egressd-pwcheck-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('OffThreadPasswordCheck', () => {
  it('answers in a worker thread: right and wrong passwords, and a malformed hash as bcryptjs does in this thread', async () => {
    ensureBuilt();
    const c = new OffThreadPasswordCheck();
    try {
      expect(c.offThread).toBe(true);
      expect(await Promise.all([c.compare('secret', HASH), c.compare('Secret', HASH), c.compare('', HASH)])).toEqual([true, false, false]);
      expect(await c.compare('secret', 'not a hash')).toBe(await bcrypt.compare('secret', 'not a hash').catch(() => 'threw'));
    } finally {
      await c.close();
    }
  });

  it('without its script it checks in this thread, with the same answers', async () => {
    const c = new OffThreadPasswordCheck(null);
    expect(c.offThread).toBe(false);
    expect(await c.compare('secret', HASH)).toBe(true);
    expect(await c.compare('nope', HASH)).toBe(false);
  });

  it('a worker that dies with checks owed: they are redone in this thread, and later ones stay here', async () => {
    // A worker that takes the request and exits without answering.
    const script = join(dir, 'dying-worker.mjs');
    writeFileSync(script, "import { parentPort } from 'node:worker_threads'; parentPort.on('message', () => process.exit(3));\n");
    const c = new OffThreadPasswordCheck(pathToFileURL(script));
    expect(await Promise.all([c.compare('secret', HASH), c.compare('wrong', HASH)])).toEqual([true, false]);
    expect(c.offThread).toBe(false);
    expect(await c.compare('secret', HASH)).toBe(true);
  });

  it('close() with checks in flight still answers them', async () => {
    ensureBuilt();
    const c = new OffThreadPasswordCheck();
    const owed = c.compare('secret', bcrypt.hashSync('secret', 8));
    await c.close();
    expect(await owed).toBe(true);
    // A check after close() starts a new worker; closing again leaves nothing hanging.
    const again = c.compare('secret', HASH);
    expect(c.offThread).toBe(true);
    expect(await again).toBe(true);
    const owedAgain = c.compare('wrong', HASH);
    await c.close();
    expect(await owedAgain).toBe(false);
  });
});
