import { describe, expect, it } from 'vitest';
import { decide } from '../../src/policy/decide.js';
import { explain } from '../../src/policy/explain.js';
import { loadPolicyFromText } from '../../src/policy/load.js';
import { normalisePathForMatch } from '../../src/policy/path.js';
import { facts } from './helpers.js';

/**
 * decide() uses the host index; explain() walks every rule in order. Over a policy
 * mixing indexed and unindexed rules, they must agree for every request.
 */
describe('rule index equivalence', () => {
  it('decide agrees with a linear walk over a mixed 600-rule policy (hosts, identities, sources, ports)', async () => {
    const rules: string[] = [];
    for (let i = 0; i < 600; i++) {
      const d = `d${i % 50}.test`;
      const kinds = [
        `hosts: [${d}]`,
        `hosts: ["*.${d}"]`,
        `hosts: [.${d}]`,
        `hosts: ["w*.${d}"]`,
        `users: [u${i % 7}]`,
        `hosts: [.${d}]\n    ports: [${8000 + (i % 3)}]`,
        `hosts: [a.${d}, "*.b.${d}"]\n    methods: [POST]`,
        `groups: [G${i % 5}, other]`,
        `users: [U${i % 7}]\n    groups: [g${i % 3}]`,
        `hosts: ["{x,y}.${d}.*"]`,
        `ports: [${8000 + (i % 3)}]`,
        `sources: [10.${i % 4}.0.0/16, "2001:db8:${i % 3}::/48"]`,
        `sources: [10.${i % 4}.${i % 5}.7]\n    ports: [${8000 + (i % 3)}]`,
        `sources: ["::ffff:10.${i % 4}.0.0/112"]`,
        `ports: ["7000-9000"]\n    methods: [POST]`,
        `methods: [POST]`,
      ];
      rules.push(`  - id: r${i}\n    ${kinds[i % kinds.length]}\n    action: ${i % 3 ? 'deny' : 'allow'}${i % 11 === 0 ? '\n    mode: report' : ''}`);
    }
    const text = `version: 1\nrules:\n${rules.join('\n')}\n  - id: default\n    action: allow\n`;
    const policy = await loadPolicyFromText([{ file: 'mixed.yaml', text }]);
    let checked = 0;
    for (let d = 0; d < 55; d++) {
      for (const sub of ['', 'a.', 'w1.', 'x.b.', 'deep.x.y.', 'x.']) {
        for (const [user, port, method, groups, clientIp] of [
          [undefined, 80, 'GET', undefined, '192.0.2.1'],
          ['u3', 8001, 'POST', ['g1'], '10.1.3.7'],
          ['U6', 8002, 'GET', ['G2', 'g0'], '2001:db8:2::5'],
          [undefined, 8000, 'GET', ['g4'], '::ffff:10.2.0.9'],
          [undefined, 8002, 'POST', undefined, '10.3.2.7'],
        ] as const) {
          const f = facts({ host: `${sub}d${d}.test`, port, method, clientIp, ...(user ? { user } : {}), ...(groups ? { groups } : {}) });
          expect(decide(policy, f), JSON.stringify(f)).toEqual(explain(policy, f).verdict);
          checked++;
        }
      }
    }
    expect(checked).toBe(55 * 6 * 5);
    // the policy really exercises every kind of filing
    const size = policy.index.size;
    expect(size.names).toBeGreaterThan(50);
    expect(size.identities).toBeGreaterThan(5);
    expect(size.sources).toBeGreaterThan(5);
    expect(size.ports).toBe(3);
    expect(size.always).toBeGreaterThan(50);
  });

  it('decide agrees with a linear walk over source-address and port rules, IPv4, IPv6 and IPv4-mapped clients', async () => {
    const rules: string[] = [];
    const prefixes = [8, 12, 16, 20, 24, 28, 32];
    for (let i = 0; i < 300; i++) {
      const p = prefixes[i % prefixes.length]!;
      const kinds = [
        `sources: [10.${i % 8}.${(i * 7) % 256}.${(i * 13) % 256}/${p}]`,
        `sources: ["2001:db8:${(i % 4).toString(16)}::/${32 + (i % 5) * 16}"]`,
        `sources: ["::ffff:172.16.${i % 16}.0/${104 + (i % 3) * 8}"]`,
        `ports: [${8000 + (i % 6)}]`,
        `ports: ["${9000 + (i % 4)}-${9002 + (i % 4)}"]`,
        `sources: [10.${i % 8}.0.0/16]\n    ports: [${8000 + (i % 6)}]`,
      ];
      rules.push(`  - id: s${i}\n    ${kinds[i % kinds.length]}\n    action: ${i % 2 ? 'deny' : 'allow'}${i % 17 === 0 ? '\n    mode: report' : ''}`);
    }
    const policy = await loadPolicyFromText([{ file: 'src.yaml', text: `version: 1\nrules:\n${rules.join('\n')}\n  - id: default\n    action: allow\n` }]);
    const clients: string[] = [];
    for (let a = 0; a < 8; a++) for (const b of [0, 7, 49, 130, 255]) clients.push(`10.${a}.${b}.${(b * 3) % 256}`, `::ffff:10.${a}.${b}.9`);
    for (let a = 0; a < 16; a++) clients.push(`172.16.${a}.20`, `::ffff:172.16.${a}.200`);
    for (let a = 0; a < 4; a++) clients.push(`2001:db8:${a}::1`, `2001:db8:${a}:ffff::1`, `2001:db8:${a}:1:2:3:4:5`);
    clients.push('192.0.2.1', '2001:db9::1', '::1');
    let decided = 0;
    for (const clientIp of clients) {
      for (const port of [80, 8000, 8003, 8005, 9000, 9003, 9005]) {
        const f = facts({ clientIp, port });
        const got = decide(policy, f);
        expect(got, JSON.stringify(f)).toEqual(explain(policy, f).verdict);
        if ('ruleId' in got && got.ruleId !== 'default') decided++;
      }
    }
    // Most requests are decided by an indexed source or port rule, not the default.
    expect(decided).toBeGreaterThan(clients.length * 7 * 0.5);
    expect(policy.index.size.always).toBe(1);
  });
});

describe('path normalisation', () => {
  it.each([
    ['/a/b?x=1#f', '/a/b'],
    ['', '/'],
    ['?q', '/'],
    ['/%61%64min', '/admin'],
    ['/a%2Fb', '/a%2Fb'],
    ['/a%2fb', '/a%2Fb'],
    ['/x/./y/../z', '/x/z'],
    ['/x/..', '/'],
    ['/../../etc', '/etc'],
    ['//a///b', '/a/b'],
    ['/a/b/', '/a/b/'],
    ['/%7Euser', '/~user'],
  ])('%s → %s', (raw, want) => expect(normalisePathForMatch(raw)).toBe(want));
});

describe('DomainSet', () => {
  it('mixes file slices and added names, dedupes, grows, and reports the entry', async () => {
    const { DomainSet } = await import('../../src/policy/domain-set.js');
    const { parseDomainList } = await import('../../src/policy/domain-list.js');
    const set = new DomainSet();
    parseDomainList('a.txt', 'one.example\nTWO.example\none.example\r\n  three.example  # c\n', set);
    for (let i = 0; i < 5000; i++) set.add(`n${i}.example`);
    set.add('one.example');
    expect(set.size).toBe(3 + 5000);
    expect(set.has('x.one.example')).toBe(true);
    expect(set.has('two.example')).toBe(true);
    expect(set.has('a.b.three.example')).toBe(true);
    expect(set.has('n4999.example')).toBe(true);
    expect(set.has('n5000.example')).toBe(false);
    expect(set.has('example')).toBe(false);
    expect(set.has('none.example')).toBe(false);
    expect(set.matchOf('deep.x.n42.example')).toBe('n42.example');
    expect(new DomainSet().has('a.example')).toBe(false);
  });

  it('globSuffix is the literal domain a glob can only match under', async () => {
    const { globSuffix } = await import('../../src/policy/rule-index.js');
    expect(globSuffix('cdn-*.site.example')).toBe('site.example');
    expect(globSuffix('*.s3.*.amazonaws.com')).toBe('amazonaws.com');
    expect(globSuffix('a{b,c}.site.example')).toBe('site.example');
    expect(globSuffix('*site.example')).toBe('example');
    expect(globSuffix('{a,b}.example.*')).toBeUndefined();
    expect(globSuffix('www.example.c?m')).toBeUndefined();
  });
});
