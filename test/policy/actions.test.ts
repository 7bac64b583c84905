import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/yaml-source.js';
import { decide } from '../../src/policy/decide.js';
import { loadPolicy, loadPolicyFromText } from '../../src/policy/load.js';
import { connect } from './helpers.js';

const policy = await loadPolicyFromText([
  {
    file: 'actions.yaml',
    text: `version: 1
rules:
  - id: long-form
    hosts: [a.test]
    action: allow
    tls: intercept
  - id: shorthand-intercept
    hosts: [b.test]
    action: intercept
  - id: shorthand-tunnel
    hosts: [c.test]
    action: tunnel
    reason: pinned certificates
  - id: plain-allow
    hosts: [d.test]
    action: allow
  - id: default
    action: deny
`,
  },
]);

describe('actions', () => {
  it.each([
    ['a.test', { action: 'allow', ruleId: 'long-form', tls: 'intercept', reason: 'allowed by rule "long-form"', mode: 'enforce' }],
    ['b.test', { action: 'allow', ruleId: 'shorthand-intercept', tls: 'intercept', reason: 'allowed by rule "shorthand-intercept"', mode: 'enforce' }],
    ['c.test', { action: 'allow', ruleId: 'shorthand-tunnel', tls: 'tunnel', reason: 'pinned certificates', mode: 'enforce' }],
    ['d.test', { action: 'allow', ruleId: 'plain-allow', reason: 'allowed by rule "plain-allow"', mode: 'enforce' }],
    ['e.test', { action: 'deny', ruleId: 'default', reason: 'denied by rule "default"', mode: 'enforce' }],
  ])('%s', (host, want) => {
    expect(decide(policy, connect(host))).toEqual(want);
  });

  it('decisions are frozen data shared between requests', () => {
    const d = decide(policy, connect('a.test'));
    expect(Object.isFrozen(d)).toBe(true);
    expect(decide(policy, connect('A.TEST.'))).toBe(d);
    expect(Object.isFrozen(policy.rules)).toBe(true);
    expect(JSON.parse(JSON.stringify(d))).toEqual(d);
  });

  it('no policy files is an error', async () => {
    await expect(loadPolicy([])).rejects.toBeInstanceOf(ConfigError);
  });
});
