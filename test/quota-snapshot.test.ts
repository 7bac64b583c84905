import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from './helpers/origin.js';
import { proxyRequest } from './helpers/pol-client.js';
import { QuotaDir } from './helpers/quota-proxy.js';

/**
 * Counters survive a restart: the memory store is snapshotted to a file (periodically
 * and at shutdown, atomically) and read back at start; a corrupt or missing snapshot
 * starts from zero with a warning, never a crash.
 */

const BODY = 'y'.repeat(600);
let origin: Origin;
const dirs: QuotaDir[] = [];
const QUOTA = { profiles: { day: { volume: ['1000 per day'] } }, anonymous: 'day', snapshot: { file: 'state/quota.json', interval: '150ms' } };

beforeAll(async () => {
  origin = await startOrigin((_req, res) => {
    res.writeHead(200, { 'content-length': BODY.length });
    res.end(BODY);
  });
});
afterAll(async () => {
  await origin.close();
  for (const d of dirs) d.remove();
});
function newDir(): QuotaDir {
  const d = new QuotaDir();
  dirs.push(d);
  return d;
}
const url = (p: string): string => `http://127.0.0.1:${origin.port}${p}`;

describe('quota snapshot', () => {
  it('survives a restart on the same snapshot file', async () => {
    const d = newDir();
    mkdirSync(d.path('state'));
    let p = await d.start({ quota: QUOTA });
    // No snapshot yet: a warning, and counting starts from zero.
    await p.server.waitFor((l) => l.level === 40 && /quota snapshot not found: counters start from zero/.test(l.msg));
    expect((await proxyRequest(p.port, url('/a'))).status).toBe(200);
    expect((await proxyRequest(p.port, url('/b'))).status).toBe(200);
    expect((await proxyRequest(p.port, url('/c'))).status).toBe(403);
    await p.close();
    const saved = JSON.parse(readFileSync(d.path('state/quota.json'), 'utf8')) as { version: number; entries: Record<string, { v: { day: [number, number] } }> };
    expect(saved.version).toBe(1);
    expect(saved.entries['day|ip:127.0.0.1']!.v.day[1]).toBe(1200);

    p = await d.start({ quota: QUOTA });
    try {
      await p.server.waitFor((l) => /quota counters restored from the snapshot/.test(l.msg) && l.keys === 1);
      const r = await proxyRequest(p.port, url('/d'));
      expect(r.status).toBe(403);
      expect(String(r.headers['x-egressd-error'])).toMatch(/^QUOTA_VOLUME: transfer quota "day" used up/);
    } finally {
      await p.close();
    }
  });

  it('writes the snapshot periodically, not only at shutdown', async () => {
    const d = newDir();
    const p = await d.start({ quota: { ...QUOTA, snapshot: { file: 'quota.json', interval: '100ms' } } });
    try {
      expect((await proxyRequest(p.port, url('/p'))).status).toBe(200);
      const file = d.path('quota.json');
      const deadline = Date.now() + 5000;
      let bytes = 0;
      while (Date.now() < deadline) {
        if (existsSync(file)) {
          const s = JSON.parse(readFileSync(file, 'utf8')) as { entries: Record<string, { v: { day?: [number, number] } }> };
          bytes = s.entries['day|ip:127.0.0.1']?.v.day?.[1] ?? 0;
          if (bytes) break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(bytes).toBe(600);
    } finally {
      await p.close();
    }
  });

  it.each([
    ['garbage', 'not json at all {{{', /quota snapshot is corrupt \(not JSON/],
    ['a truncated write', '{"version":1,"savedAt":"x","entries":{"day|ip:127.0.0.1":{"t":1,"a":0,"v":{"day":[0,', /quota snapshot is corrupt \(not JSON/],
    ['a wrong shape', '{"version":1,"entries":{"day|ip:127.0.0.1":{"t":1,"a":0,"v":{"day":"lots"}}}}', /corrupt \(entry "day\|ip:127.0.0.1" has a malformed "day" counter\)/],
  ])('a snapshot with %s: warning, counters from zero, proxy serves', async (_what, text, warning) => {
    const d = newDir();
    d.write('quota.json', text);
    const p = await d.start({ quota: { ...QUOTA, snapshot: { file: 'quota.json', interval: 0 } } });
    try {
      const w = await p.server.waitFor((l) => warning.test(l.msg));
      expect(w.level).toBe(40);
      expect((await proxyRequest(p.port, url('/z'))).status).toBe(200);
      const l = await p.access.waitFor((x) => x.url === url('/z'));
      expect(l.quota).toEqual({ profile: 'day', left: 400 });
    } finally {
      await p.close();
    }
    // Shutdown replaced the corrupt file with a valid snapshot.
    expect(JSON.parse(readFileSync(d.path('quota.json'), 'utf8')).entries['day|ip:127.0.0.1'].v.day[1]).toBe(600);
  });

  it('an unwritable snapshot path is a warning, not a crash', async () => {
    const d = newDir();
    writeFileSync(d.path('blocker'), 'a file, not a folder');
    const p = await d.start({ quota: { ...QUOTA, snapshot: { file: 'blocker/quota.json', interval: 0 } } });
    expect((await proxyRequest(p.port, url('/w'))).status).toBe(200);
    await p.close();
    await p.server.waitFor((l) => l.level === 40 && /cannot write the quota snapshot/.test(l.msg));
  });
});
