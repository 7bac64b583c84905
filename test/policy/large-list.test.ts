import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decide } from '../../src/policy/decide.js';
import { loadPolicy, type LoadedPolicy } from '../../src/policy/load.js';
import { connect } from './helpers.js';

const N = 1_000_000;
let dir: string;
let policy: LoadedPolicy;
let loadMs: number;

describe('a 1,000,000-domain list', () => {
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'egressd-policy-'));
    const lines: string[] = ['# generated'];
    for (let i = 0; i < N; i++) lines.push(`d${i}.category${i % 97}.test`);
    await writeFile(join(dir, 'big.txt'), lines.join('\n'));
    await writeFile(
      join(dir, 'policy.yaml'),
      'version: 1\nlists:\n  big: { file: big.txt }\nrules:\n  - id: big\n    domainLists: [big]\n    action: deny\n  - id: default\n    action: allow\n',
    );
    const t0 = performance.now();
    policy = await loadPolicy([join(dir, 'policy.yaml')]);
    loadMs = performance.now() - t0;
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads in under 5 s', () => {
    expect(policy.listFiles).toEqual([join(dir, 'big.txt')]);
    expect(loadMs).toBeLessThan(5000);
  });

  it('matches entries and their subdomains, and nothing else', () => {
    expect(decide(policy, connect('d0.category0.test')).action).toBe('deny');
    expect(decide(policy, connect(`www.d${N - 1}.category${(N - 1) % 97}.test`)).action).toBe('deny');
    expect(decide(policy, connect('d1.category0.test')).action).toBe('allow');
    expect(decide(policy, connect('category0.test')).action).toBe('allow');
  });

  it('looks up in O(labels): 100,000 decisions well under a second', () => {
    const hosts = Array.from({ length: 1000 }, (_, i) => (i % 2 ? `a.b.d${i * 999}.category${(i * 999) % 97}.test` : `miss${i}.example.org`));
    const t0 = performance.now();
    let denied = 0;
    for (let k = 0; k < 100_000; k++) if (decide(policy, connect(hosts[k % 1000]!)).action === 'deny') denied++;
    const ms = performance.now() - t0;
    expect(denied).toBe(50_000);
    expect(ms).toBeLessThan(1000);
  });
});
