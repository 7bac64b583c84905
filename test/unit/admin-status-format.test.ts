import { describe, expect, it } from 'vitest';
import type { StatusBody } from '../../src/admin/status-api.js';
import { formatStatus, formatUptime } from '../../src/cli/status.js';

/** What `egressd status` prints for a given /api/status answer. */

describe('formatUptime', () => {
  it.each([
    [0, '0m 0s'],
    [59, '0m 59s'],
    [61, '1m 1s'],
    [3600, '1h 0m 0s'],
    [86_400 + 3 * 3600 + 4 * 60 + 5, '1d 3h 4m 5s'],
    [2 * 86_400 + 7, '2d 0h 0m 7s'],
  ])('%i s → %s', (s, text) => expect(formatUptime(s)).toBe(text));
});

const BASE: StatusBody = {
  version: '1.2.3', pid: 42, startedAt: '2026-01-01T00:00:00.000Z', uptimeSeconds: 65, configFile: '/etc/egressd.yaml', generation: 3,
  ready: true, draining: false, listeners: [{ address: '127.0.0.1', port: 3128, family: 'IPv4', mode: 'forward' }, { address: '::1', port: 3128, family: 'IPv6', mode: 'forward' }],
  active: { connections: 1, requests: 2, tunnels: 0 }, parents: [], cache: null, interception: null,
};

describe('formatStatus', () => {
  it.each<[string, Partial<StatusBody>, string[]]>([
    ['the basics', {}, ['version       egressd 1.2.3 (pid 42)', 'uptime        1m 5s (since 2026-01-01T00:00:00.000Z)', 'config        /etc/egressd.yaml (generation 3)', 'state         ready', 'listeners     127.0.0.1:3128 (forward)', '              [::1]:3128 (forward)', 'active        1 connection, 2 requests, 0 tunnels', 'cache         disabled', 'interception  off', 'parents       none (direct)']],
    ['draining', { draining: true, ready: false }, ['state         draining']],
    ['starting', { ready: false }, ['state         starting']],
    ['the cache', { cache: { entries: 1, bytes: 2048, hits: 3, stale: 0, revalidated: 1, misses: 4, bypass: 9, hitRatio: 0.5 } }, ['cache         1 entry, 2.00 KiB; hit ratio 50.0% (3 hits, 0 stale, 1 revalidated, 4 misses)']],
    ['the CA', { interception: { caSubject: 'CN=x', caSha256: 'AB:CD', leaves: { issued: 2, memoryHits: 5, storeHits: 1, storeDiscarded: 0, coalesced: 0, storeErrors: 0 } } }, ['interception  CA "CN=x" SHA-256 AB:CD', '              2 leaf certificates issued, 6 reused']],
    [
      'workers (workers > 1)',
      { workers: [{ id: 1, pid: 100, startedAt: '', uptimeSeconds: 61, restarts: 0, ready: true }, { id: 2, pid: 101, startedAt: '', uptimeSeconds: 5, restarts: 1, ready: false }] },
      ['workers       1: pid 100, up 1m 1s, 0 restarts', '              2: pid 101, up 0m 5s, 1 restart, not ready'],
    ],
    [
      'a parent group',
      { parents: [{ name: 'corp', strategy: 'round-robin', fallbackDirect: true, parents: [{ name: 'p0', address: '10.0.0.1:3128', state: 'ejected', ejectedUntil: '2026-01-01T00:01:00.000Z', active: 0, requests: 9, failures: 3, weight: 1 }] }] },
      ['parents       group corp (round-robin, falls back to direct)', '                p0 10.0.0.1:3128 ejected until 2026-01-01T00:01:00.000Z: 0 active, 9 requests, 3 failures'],
    ],
  ])('%s', (_n, over, want) => {
    const lines = formatStatus({ ...BASE, ...over }).split('\n');
    for (const w of want) expect(lines).toContain(w);
  });
});
