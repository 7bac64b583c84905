import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { decide } from '../../src/policy/decide.js';
import { explain, formatExplanation } from '../../src/policy/explain.js';
import { loadPolicy } from '../../src/policy/load.js';
import { connect, facts } from './helpers.js';

const DEFAULT = fileURLToPath(new URL('../../policies/default.yaml', import.meta.url));

describe('policies/default.yaml', () => {
  it('loads, and allows everything (the quickstart must work)', async () => {
    const policy = await loadPolicy([DEFAULT]);
    for (const f of [facts(), connect('www.example.com'), facts({ host: '10.0.0.1', method: 'POST', path: '/x' })]) {
      const d = decide(policy, f);
      expect(d).toMatchObject({ action: 'allow', ruleId: 'default' });
    }
  });

  it('shows report mode on the example list', async () => {
    const policy = await loadPolicy([DEFAULT]);
    const f = facts({ host: 'tracker.ads.example' });
    expect(decide(policy, f)).toMatchObject({ action: 'allow', wouldDeny: true, ruleId: 'ads-report', allowedBy: 'default' });
    const text = formatExplanation(explain(policy, f));
    expect(text).toContain('would deny in enforce mode; allowed by rule "default"');
    expect(text).toContain('is in list "example-ads" (entry "ads.example")');
  });

  it('still loads with every example rule uncommented', async () => {
    const { readFile } = await import('node:fs/promises');
    const { loadPolicyFromText } = await import('../../src/policy/load.js');
    const text = await readFile(DEFAULT, 'utf8');
    // Uncomment each example rule: from a "  # - id:" line up to the next blank line.
    let inRule = false;
    const uncommented = text
      .split('\n')
      .map((line) => {
        if (/^ {2}# - id:/.test(line)) inRule = true;
        else if (line.trim() === '') inRule = false;
        return inRule ? line.replace(/^ {2}# /, '  ') : line;
      })
      .join('\n');
    expect(uncommented).not.toBe(text);
    const policy = await loadPolicyFromText([{ file: DEFAULT, text: uncommented }]);
    expect(policy.rules.map((r) => r.id)).toEqual([
      'ads-report',
      'block-ads',
      'banking-tunnel',
      'no-exe-downloads',
      'inspect-file-sharing',
      'social-office-hours',
      'contractors',
      'no-internal-destinations',
      'no-curl-from-servers',
      'default',
    ]);
    expect(decide(policy, connect('www.bank.example'))).toMatchObject({ action: 'allow', tls: 'tunnel', ruleId: 'banking-tunnel' });
    // the tunnel is intercepted (the path rule is skipped: no path yet) ...
    expect(decide(policy, connect('dl.files.example'))).toMatchObject({ action: 'allow', tls: 'intercept', ruleId: 'inspect-file-sharing' });
    // ... and each decrypted request is decided again with its path
    const inner = { host: 'dl.files.example', scheme: 'https' as const, port: 443 };
    expect(decide(policy, facts({ ...inner, path: '/a/setup.EXE' }))).toMatchObject({ action: 'deny', ruleId: 'no-exe-downloads' });
    expect(decide(policy, facts({ ...inner, path: '/a/readme.txt' }))).toMatchObject({ action: 'allow', ruleId: 'inspect-file-sharing' });
    expect(decide(policy, connect('www.social.example', { time: new Date('2024-01-15T10:00:00Z') }))).toMatchObject({ action: 'deny' });
    expect(decide(policy, connect('www.social.example', { time: new Date('2024-01-15T11:30:00Z'), destIp: '1.1.1.1' }))).toMatchObject({ action: 'allow' });
    expect(decide(policy, connect('x.test', { destIp: '10.1.1.1' }))).toMatchObject({ action: 'deny', ruleId: 'no-internal-destinations' });
    expect(decide(policy, facts({ host: 'x.test', destIp: '1.1.1.1', clientIp: '10.20.1.1', headers: { 'user-agent': 'curl/8' } }))).toMatchObject({
      ruleId: 'no-curl-from-servers',
    });
  });
});
