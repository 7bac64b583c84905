import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/yaml-source.js';
import { decide } from '../../src/policy/decide.js';
import { explain } from '../../src/policy/explain.js';
import { loadPolicyFromText } from '../../src/policy/load.js';
import type { Decision } from '../../src/policy/types.js';
import { connect, facts, fixture, loadFixtures } from './helpers.js';

const reportPolicy = await loadFixtures('report.yaml');
const orderPolicy = await loadFixtures('order.yaml');

describe('report mode (per rule)', () => {
  const policy = reportPolicy;
  const cases: [string, Partial<Decision> & { action: string }][] = [
    // a report deny, then an enforce allow: passes, logged as would deny, TLS choice from the allowing rule
    [
      'www.social.test',
      {
        action: 'allow',
        ruleId: 'report-deny-social',
        reason: 'Social media (trial)',
        mode: 'report',
        wouldDeny: true,
        allowedBy: 'intercept-social',
        tls: 'intercept',
      },
    ],
    // a report deny, then an enforce deny: the enforce rule decides as if the report rule were not there
    ['upload.social.test', { action: 'deny', ruleId: 'enforce-deny-social-uploads', mode: 'enforce' }],
    // report deny followed by the default deny: plain deny
    ['www.video.test', { action: 'deny', ruleId: 'default', reason: 'Not on the allow list' }],
    // a report-mode allow never opens anything
    ['intranet.test', { action: 'deny', ruleId: 'default' }],
    ['other.test', { action: 'deny', ruleId: 'default' }],
  ];
  it.each(cases)('%s', (host, want) => {
    const d = decide(policy, connect(host));
    expect(d).toMatchObject(want);
    if (!want.wouldDeny) expect(d.action === 'needs-ip' || d.wouldDeny).toBeFalsy();
    expect(explain(policy, connect(host)).verdict).toEqual(d);
  });

  it('explain marks later report rules as skipped once one matched', () => {
    const e = explain(policy, connect('www.social.test'));
    expect(e.rules.map((r) => [r.ruleId, r.result])).toEqual([
      ['report-deny-social', 'matched'],
      ['report-deny-everything-video', 'skipped'],
      ['enforce-deny-social-uploads', 'no-match'],
      ['intercept-social', 'matched'],
    ]);
  });
});

describe('report mode (per file) and file order', () => {
  it('a trial file in report mode loaded before the base policy', async () => {
    const policy = await loadFixtures('file-report.yaml', 'file-base.yaml');
    const cases: [string, Partial<Decision>][] = [
      // the trial would allow github: no would-deny, the base policy decides
      ['www.github.test', { action: 'allow', ruleId: 'base-default', mode: 'enforce' }],
      ['blocked.github.test', { action: 'deny', ruleId: 'base-deny-github' }],
      // rule-level mode overrides the file's
      ['always.test', { action: 'deny', ruleId: 'trial-enforced-anyway', mode: 'enforce' }],
      // the trial's default deny is reported, the base default allows
      [
        'other.test',
        { action: 'allow', ruleId: 'trial-default-deny', reason: 'Not on the new allow list', mode: 'report', wouldDeny: true, allowedBy: 'base-default' },
      ],
    ];
    for (const [host, want] of cases) {
      const d = decide(policy, facts({ host }));
      expect(d, host).toMatchObject(want);
      if (!want.wouldDeny) expect(d.action === 'needs-ip' || d.wouldDeny, host).toBeFalsy();
    }
  });

  it('files are concatenated in the order given: the other order leaves rules unreachable', async () => {
    const err = await loadFixtures('file-base.yaml', 'file-report.yaml').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    const [p] = (err as ConfigError).problems;
    expect(p).toMatchObject({ file: fixture('file-report.yaml')[0], line: 5, col: 5 });
    expect(p!.message).toMatch(/rule "trial-allow-github" can never match: rule "base-default" \(.*file-base\.yaml:6\)/);
  });

  it('rule ids are unique across files', async () => {
    const a = 'version: 1\nrules:\n  - id: shared\n    hosts: [a.test]\n    action: deny\n';
    const b = 'version: 1\nrules:\n  - id: shared\n    hosts: [b.test]\n    action: deny\n  - id: default\n    action: allow\n';
    const err = (await loadPolicyFromText([{ file: 'a.yaml', text: a }, { file: 'b.yaml', text: b }]).catch((e: unknown) => e)) as ConfigError;
    expect(err.problems).toEqual([{ file: 'b.yaml', line: 3, col: 9, message: 'duplicate rule id "shared" (first defined at a.yaml:3)' }]);
  });
});

describe('first match wins, with and without the host index', () => {
  const policy = orderPolicy;
  const cases: [string, string | undefined, string][] = [
    ['www.order.test', undefined, 'first-allow-specific'],
    ['a.order.test', undefined, 'then-deny-domain'],
    ['order.test', undefined, 'then-deny-domain'],
    // an unindexed glob rule placed before an indexed exact rule still wins
    ['www.order2.test', undefined, 'glob-unindexed'],
    ['x.order2.test', undefined, 'default'],
    // a rule without hosts placed before host rules still wins
    ['x.order3.test', 'dave', 'users-before-host'],
    ['x.order3.test', undefined, 'host-after-users'],
    ['users.order.test', 'dave', 'then-deny-domain'],
  ];
  it.each(cases)('%s (user %s) → %s', (host, user, ruleId) => {
    const f = facts({ host, ...(user ? { user } : {}) });
    expect(decide(policy, f)).toMatchObject({ ruleId });
    expect(explain(policy, f).verdict).toEqual(decide(policy, f));
  });

  it('explain lists every rule up to the match with the reason each did not match', () => {
    const e = explain(policy, facts({ host: 'x.order3.test' }));
    expect(e.rules.map((r) => r.ruleId)).toEqual([
      'first-allow-specific',
      'then-deny-domain',
      'glob-unindexed',
      'indexed-after-glob',
      'users-before-host',
      'host-after-users',
    ]);
    expect(e.rules[4]).toMatchObject({ result: 'no-match', conditions: [{ name: 'users', result: 'no', detail: 'no authenticated user' }] });
    expect(e.rules[0]!.conditions[0]!.detail).toBe('host "x.order3.test" matches none of [www.order.test]');
    expect(e.rules[0]!.source).toMatch(/order\.yaml:3$/);
  });
});
