import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { ensureBuilt, ROOT } from './helpers/err-cli.js';

/**
 * Regression: ioredis (~25 MB of RSS) was loaded by every egressd, pushing the 1 GiB
 * streaming test over its memory bound. It must load only when quota.store is redis.
 */
describe('ioredis is loaded only for store: redis', () => {
  it('a proxy with memory quotas never loads it; opening a redis store does', () => {
    ensureBuilt();
    const script = `
      const { createRequire } = await import('node:module');
      const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
      const { join } = await import('node:path');
      const { tmpdir } = await import('node:os');
      const { loadConfig } = await import('./dist/config/load.js');
      const { ProxyServer } = await import('./dist/server/proxy-server.js');
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).filter((k) => k.includes('/ioredis/')).length;
      const dir = mkdtempSync(join(tmpdir(), 'egressd-lazy-'));
      const file = join(dir, 'c.yaml');
      writeFileSync(file, 'listeners: [{ address: 127.0.0.1, port: 0 }]\\nlog: { server: ' + JSON.stringify(join(dir, 's.log')) + ', access: ' + JSON.stringify(join(dir, 'a.log')) + ' }\\nquota: { profiles: { p: { rate: 5 } }, anonymous: p }\\n');
      const mem = new ProxyServer(loadConfig(file));
      await mem.listen();
      const afterMemory = loaded();
      await mem.close(0);
      writeFileSync(file, 'listeners: [{ address: 127.0.0.1, port: 0 }]\\nlog: { server: ' + JSON.stringify(join(dir, 's.log')) + ', access: ' + JSON.stringify(join(dir, 'a.log')) + ' }\\nquota: { profiles: { p: { rate: 5 } }, anonymous: p, store: redis, redis: { url: "redis://127.0.0.1:1" } }\\n');
      const red = new ProxyServer(loadConfig(file));
      await red.listen();
      const afterRedis = loaded();
      await red.close(0);
      rmSync(dir, { recursive: true, force: true });
      process.stdout.write(JSON.stringify({ afterMemory, afterRedis }));
      process.exit(0);
    `;
    const out = execFileSync(process.execPath, ['--input-type=module', '-e', script], { cwd: ROOT, encoding: 'utf8', timeout: 30_000 });
    const r = JSON.parse(out) as { afterMemory: number; afterRedis: number };
    expect(r.afterMemory).toBe(0);
    expect(r.afterRedis).toBeGreaterThan(0);
  });
});
