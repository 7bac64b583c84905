import { describe, expect, it } from 'vitest';
import { decide, decideResolving } from '../../src/policy/decide.js';
import { explain, formatExplanation } from '../../src/policy/explain.js';
import { loadPolicyFromText } from '../../src/policy/load.js';
import { connect, facts } from './helpers.js';

const policy = await loadPolicyFromText([
  {
    file: 'dest.yaml',
    text: `version: 1
rules:
  - id: deny-blocked-host
    hosts: [blocked.test]
    action: deny
  - id: no-internal
    destinations: [10.0.0.0/8, "fd00::/8"]
    action: deny
    reason: internal address
  - id: default
    action: allow
`,
  },
]);

describe('destination IP rules', () => {
  it('a host denied by name is decided without DNS', () => {
    expect(decide(policy, facts({ host: 'blocked.test' }))).toMatchObject({ action: 'deny', ruleId: 'deny-blocked-host' });
  });

  it('reaching a destinations rule without the IP asks for it', () => {
    expect(decide(policy, facts({ host: 'app.test' }))).toEqual({ action: 'needs-ip', ruleId: 'no-internal' });
    expect(policy.usesDestIp).toBe(true);
  });

  it.each([
    ['10.1.2.3', 'deny'],
    ['::ffff:10.1.2.3', 'deny'],
    ['fd00::1', 'deny'],
    ['93.184.216.34', 'allow'],
  ])('with destIp %s → %s', (destIp, action) => {
    expect(decide(policy, connect('app.test', { destIp })).action).toBe(action);
  });

  it('an IP literal host is its own destination', () => {
    expect(decide(policy, facts({ host: '10.0.0.1' }))).toMatchObject({ action: 'deny', ruleId: 'no-internal' });
    expect(decide(policy, connect('[fd00::5]'))).toMatchObject({ action: 'deny', ruleId: 'no-internal' });
  });

  it('decideResolving resolves only when asked, and returns the address to dial', async () => {
    const asked: string[] = [];
    const resolve = async (h: string): Promise<string> => {
      asked.push(h);
      return h === 'intranet.test' ? '10.9.9.9' : '203.0.113.5';
    };
    expect(await decideResolving(policy, facts({ host: 'blocked.test' }), resolve)).toEqual({
      decision: expect.objectContaining({ action: 'deny' }),
    });
    expect(asked).toEqual([]);
    const r = await decideResolving(policy, facts({ host: 'intranet.test' }), resolve);
    expect(r).toMatchObject({ decision: { action: 'deny', reason: 'internal address' }, destIp: '10.9.9.9' });
    expect(asked).toEqual(['intranet.test']);
  });

  it('explain says the IP is needed', () => {
    const e = explain(policy, facts({ host: 'app.test' }));
    expect(e.verdict).toEqual({ action: 'needs-ip', ruleId: 'no-internal' });
    expect(formatExplanation(e)).toContain('needs the destination IP');
  });
});
