import { describe, expect, it } from 'vitest';
import { MemoryStore } from '../../src/quota/memory-store.js';
import { Profiles } from '../../src/quota/profiles.js';
import { QuotaHost } from '../../src/quota/quota-host.js';
import { RemoteStore } from '../../src/quota/remote-store.js';
import type { RemoteBatch, RemoteQuotaTransport } from '../../src/quota/remote-wire.js';
import { StoreHealth } from '../../src/quota/store-health.js';
import type { QuotaConfig } from '../../src/quota/quotas.js';

/**
 * The workers' quota store (RemoteStore) against the primary's side (QuotaHost), with
 * the IPC replaced by a JSON round trip: the same answers as a MemoryStore, one set of
 * counters for every worker, and the Redis store's failure semantics.
 */
const T = Date.parse('2026-12-01T10:00:00Z');
const cfg = (profiles: QuotaConfig['profiles']): QuotaConfig => ({
  timezone: 'Europe/Paris',
  profiles,
  users: {},
  groups: {},
  anonymous: null,
  default: null,
  store: 'memory',
  snapshot: { file: '', interval: 0 },
  tunnelCheck: 1000,
  redis: { url: 'redis://127.0.0.1:6379', prefix: 'egressd:', onError: 'open', timeout: 500 },
});
const PROFILES: QuotaConfig['profiles'] = {
  rated: { rate: 1, burst: 3, volume: [] },
  vol: { volume: [{ bytes: 1000, per: 'day', text: '1000 per day' }, { bytes: 3000, per: 'month', text: '3000 per month' }] },
  both: { rate: 2, burst: 2, volume: [{ bytes: 500, per: 'hour', text: '500 per hour' }] },
};
const compiled = new Profiles(cfg(PROFILES));
const P = (n: string) => compiled.byName.get(n)!;

function logs() {
  const lines: string[] = [];
  return { lines, info: (_o: object, m: string) => lines.push(`info ${m}`), warn: (_o: object, m: string) => lines.push(`warn ${m}`) };
}

/** Through JSON both ways, as cluster IPC carries it. */
function viaJson(host: QuotaHost, counter = { batches: 0 }): RemoteQuotaTransport {
  return {
    batch: async (b: RemoteBatch) => {
      counter.batches++;
      return JSON.parse(JSON.stringify(host.handle(JSON.parse(JSON.stringify(b)) as RemoteBatch)));
    },
    usage: async () => host.usage(),
  };
}

const workerStore = (t: RemoteQuotaTransport, log = logs()) => new RemoteStore(t, new StoreHealth(log, 'primary', 'open'), 1000);

describe('RemoteStore + QuotaHost', () => {
  const cases: { name: string; steps: ({ admit: string; at: number } | { record: string; bytes: number; at: number })[] }[] = [
    { name: 'rate: burst then refusal with the wait, then refill', steps: [{ admit: 'rated', at: T }, { admit: 'rated', at: T }, { admit: 'rated', at: T }, { admit: 'rated', at: T + 10 }, { admit: 'rated', at: T + 2000 }] },
    { name: 'volume: allowance, used up, refused until the window ends', steps: [{ admit: 'vol', at: T }, { record: 'vol', bytes: 999, at: T }, { admit: 'vol', at: T }, { record: 'vol', bytes: 5, at: T }, { admit: 'vol', at: T }, { admit: 'vol', at: T + 86_400_000 }] },
    { name: 'rate and volume together', steps: [{ admit: 'both', at: T }, { record: 'both', bytes: 600, at: T }, { admit: 'both', at: T }, { admit: 'both', at: T + 3_600_000 }] },
  ];
  for (const c of cases) {
    it(`answers as a MemoryStore does: ${c.name}`, async () => {
      const local = new MemoryStore();
      const remote = workerStore(viaJson(new QuotaHost(cfg(PROFILES), { log: logs(), write: async () => {} })));
      for (const s of c.steps) {
        if ('admit' in s) expect(await remote.admit('k', P(s.admit), s.at)).toEqual(local.admit('k', P(s.admit), s.at));
        else expect(await remote.record('k', P(s.record), s.bytes, s.at)).toEqual(local.record('k', P(s.record), s.bytes, s.at));
      }
    });
  }

  it('two workers share one bucket: the burst is counted once, not per worker', async () => {
    const host = new QuotaHost(cfg(PROFILES), { log: logs(), write: async () => {} });
    const a = workerStore(viaJson(host));
    const b = workerStore(viaJson(host));
    const answers = await Promise.all([a, b, a, b, a, b].map((s) => s.admit('who', P('rated'), T)));
    expect(answers.filter((x) => x.ok)).toHaveLength(3);
    expect(answers.filter((x) => !x.ok && x.limit === 'rate')).toHaveLength(3);
    expect((await a.usage()).map((u) => u.key)).toEqual(['who']);
  });

  it('sends what one event-loop turn queued in one message', async () => {
    const counter = { batches: 0 };
    const s = workerStore(viaJson(new QuotaHost(cfg(PROFILES), { log: logs(), write: async () => {} }), counter));
    await Promise.all(Array.from({ length: 50 }, (_, i) => s.admit(`k${i}`, P('rated'), T)));
    expect(counter.batches).toBe(1);
  });

  it('a volume refusal names the profile\'s own limit object (block page, Retry-After)', async () => {
    const s = workerStore(viaJson(new QuotaHost(cfg(PROFILES), { log: logs(), write: async () => {} })));
    await s.record('k', P('vol'), 3000, T);
    const r = await s.admit('k', P('vol'), T);
    expect(r.ok === false && r.limit === 'volume' && r.volume).toBe(P('vol').volumes[0]);
  });

  it('an unreachable primary is "unavailable", logged once (as for Redis), and records are dropped as Infinity', async () => {
    const log = logs();
    const down: RemoteQuotaTransport = { batch: () => Promise.reject(new Error('IPC channel closed')), usage: async () => [] };
    const s = workerStore(down, log);
    for (let i = 0; i < 5; i++) expect(await s.admit('k', P('rated'), T)).toEqual({ ok: false, limit: 'unavailable', error: 'IPC channel closed' });
    expect(await s.record('k', P('vol'), 10, T)).toBe(Infinity);
    expect(log.lines.filter((l) => l.startsWith('warn'))).toHaveLength(1);
  });

  it('the host refuses a malformed profile definition without throwing', () => {
    const host = new QuotaHost(cfg(PROFILES), { log: logs(), write: async () => {} });
    expect(host.handle({ ops: [{ o: 'a', k: 'k', p: 'not json', t: T }, { o: 'a', k: 'k', p: '{"n":"x","r":1,"b":1,"v":[],"z":"Not/AZone"}', t: T }] })).toEqual([null, null]);
  });
});
