import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCacheOrigin, viaProxy, type CacheOrigin } from './helpers/cache-origin.js';
import { startPolicyProxy, type PolicyProxy } from './helpers/pol-proxy.js';

/**
 * The cache stage runs after the policy: a denied request never reaches the cache, and
 * the response-side checks (content type, size) apply to hits with the rule in force
 * now. Cache rules bypass or force caching by host and path, capped by maxTtl.
 */
const ALLOW_ALL = `version: 1
rules:
  - id: default
    action: allow
`;
const NO_VIDEO = `version: 1
rules:
  - id: blocked-host
    hosts: [blocked.test]
    action: deny
    reason: Blocked host
  - id: media
    hosts: [media.test]
    action: allow
    response:
      denyContentTypes: ["video/*"]
      maxSize: 100
      reason: No video
  - id: default
    action: allow
`;

let origin: CacheOrigin;
let px: PolicyProxy;
const at = (host: string, p: string): string => `http://${host}:${origin.port}${p}`;

beforeAll(async () => {
  origin = await startCacheOrigin();
  px = await startPolicyProxy({
    files: { 'policy.yaml': ALLOW_ALL },
    hosts: { 'media.test': '127.0.0.1', 'blocked.test': '127.0.0.1', 'nocache.test': '127.0.0.1', 'forced.test': '127.0.0.1' },
    config: {
      cache: {
        maxTtl: '5m',
        rules: [
          { hosts: ['nocache.test'], action: 'bypass' },
          { hosts: ['forced.test'], paths: ['/static/**'], action: 'force', ttl: '1h' },
        ],
      },
    },
  });
});
afterAll(async () => {
  await px.close();
  await origin.close();
});

describe('policy and the cache', () => {
  it('applies the current response-side rule to a hit, and a request-side deny before the cache', async () => {
    origin.route('/clip', { headers: { 'cache-control': 'max-age=600', 'content-type': 'video/mp4' }, body: 'VIDEO' });
    origin.route('/big', { headers: { 'cache-control': 'max-age=600', 'content-type': 'text/plain' }, body: 'x'.repeat(500) });
    origin.route('/page', { headers: { 'cache-control': 'max-age=600', 'content-type': 'text/plain' }, body: 'page' });
    for (const p of ['/clip', '/big']) {
      await viaProxy(px.port, at('media.test', p));
      expect((await viaProxy(px.port, at('media.test', p))).headers['x-cache']).toBe('HIT from egressd');
    }
    await viaProxy(px.port, at('blocked.test', '/page'));
    px.write(NO_VIDEO);
    expect((await px.proxy.reloadPolicy()).ok).toBe(true);
    const clip = await viaProxy(px.port, at('media.test', '/clip'));
    expect(clip.status).toBe(403);
    expect(clip.body).not.toContain('VIDEO');
    expect(clip.headers['x-egressd-rule']).toBe('media');
    const big = await viaProxy(px.port, at('media.test', '/big'));
    expect(big.status).toBe(403);
    const blocked = await viaProxy(px.port, at('blocked.test', '/page'));
    expect(blocked.status).toBe(403);
    expect(blocked.body).not.toContain('page');
    expect(blocked.headers['x-cache']).toBeUndefined();
    const line = await px.access.waitFor((l) => l.url === at('media.test', '/clip') && l.status === 403);
    expect(line.error).toBe('POLICY_DENIED');
    expect(line.cache).toBe('hit');
  });
});

describe('cache rules', () => {
  it('bypass: never stored or served from the cache', async () => {
    origin.route('/x', { headers: { 'cache-control': 'max-age=600' }, body: 'x' });
    const a = await viaProxy(px.port, at('nocache.test', '/x'));
    expect(a.headers['x-cache']).toBe('BYPASS from egressd');
    expect(a.headers['cache-status']).toBe('egressd; fwd=bypass');
    await viaProxy(px.port, at('nocache.test', '/x'));
    const lines = px.access.lines.filter((l) => l.url === at('nocache.test', '/x'));
    expect(lines.map((l) => l.cache)).toEqual(['bypass', 'bypass']);
  });

  it('force: stores a response without freshness (and with no-cache) for the rule ttl, capped by maxTtl', async () => {
    origin.route('/static/app.js', { headers: { 'cache-control': 'no-cache' }, body: 'js' });
    origin.route('/other', { status: 200, headers: { 'cache-control': 'no-cache' }, body: 'o' });
    const before = origin.count('/static/app.js');
    await viaProxy(px.port, at('forced.test', '/static/app.js'));
    const hit = await viaProxy(px.port, at('forced.test', '/static/app.js'));
    expect(hit.headers['x-cache']).toBe('HIT from egressd');
    // ttl 1h capped at maxTtl 5m
    expect(Number(/ttl=(\d+)/.exec(String(hit.headers['cache-status']))![1])).toBeLessThanOrEqual(300);
    expect(Number(/ttl=(\d+)/.exec(String(hit.headers['cache-status']))![1])).toBeGreaterThan(290);
    expect(origin.count('/static/app.js') - before).toBe(1);
    // Outside the path glob the origin's no-cache holds.
    await viaProxy(px.port, at('forced.test', '/other'));
    expect((await viaProxy(px.port, at('forced.test', '/other'))).headers['x-cache']).not.toBe('HIT from egressd');
  });

  it('force never overrides private', async () => {
    origin.route('/static/me.json', { headers: { 'cache-control': 'private' }, body: 'me' });
    await viaProxy(px.port, at('forced.test', '/static/me.json'));
    const b = await viaProxy(px.port, at('forced.test', '/static/me.json'));
    expect(b.headers['x-cache']).toBe('MISS from egressd');
  });
});
