import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, formatProblem } from '../../src/config/yaml-source.js';
import { decide } from '../../src/policy/decide.js';
import { loadPolicy } from '../../src/policy/load.js';
import { checkQuotaRefs } from '../../src/server/policy-files.js';

/** A policy rule's `quota: <profile>`: carried by the decision, validated, cross-checked with the config. */

const dir = mkdtempSync(join(tmpdir(), 'egressd-pq-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function file(text: string): string {
  const f = join(dir, `p${++n}.yaml`);
  writeFileSync(f, text);
  return f;
}
const facts = (host: string) => ({ host, port: 80, scheme: 'http' as const, method: 'GET', path: '/', clientIp: '192.0.2.1' });

describe('policy rule quota', () => {
  const POLICY = `version: 1
rules:
  - id: watch-updates
    hosts: [updates.example]
    action: deny
    mode: report
  - id: updates
    hosts: [updates.example, mirror.example]
    action: allow
    quota: updates
  - id: default
    action: allow
`;
  it('the decision carries the profile, also through a report-mode combination', async () => {
    const p = await loadPolicy([file(POLICY)]);
    const cases: [string, string | undefined][] = [
      ['mirror.example', 'updates'],
      ['updates.example', 'updates'],
      ['other.example', undefined],
    ];
    for (const [host, want] of cases) {
      const d = decide(p, facts(host));
      expect(d.action, host).toBe('allow');
      expect((d as { quota?: string }).quota, host).toBe(want);
      // updates.example goes through combine(): a report-mode "would deny" in front.
      if (host === 'updates.example') expect(d).toMatchObject({ wouldDeny: true, allowedBy: 'updates' });
    }
  });

  it.each([
    ['a deny rule with a quota', 'version: 1\nrules:\n  - id: d\n    action: deny\n    quota: x\n  - id: default\n    action: allow\n', /:5:\d+: .*a quota profile belongs on rules that allow/],
    ['a bad profile name', 'version: 1\nrules:\n  - id: default\n    action: allow\n    quota: "no spaces"\n', /:5:\d+: .*profile names use letters/],
  ])('rejects %s with its position', async (_what, text, why) => {
    const err = await loadPolicy([file(text)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map(formatProblem).join('\n')).toMatch(why);
  });

  it('checkQuotaRefs: known profiles pass, unknown ones are file:line problems', async () => {
    const p = await loadPolicy([file(POLICY)]);
    expect(() => checkQuotaRefs(p, { updates: {} })).not.toThrow();
    expect(() => checkQuotaRefs(null, {})).not.toThrow();
    const err = (() => {
      try {
        checkQuotaRefs(p, { staff: {} });
      } catch (e) {
        return e as ConfigError;
      }
      throw new Error('accepted');
    })();
    expect(err.problems.map(formatProblem)).toEqual([`${join(dir, `p${n}.yaml`)}:7:1: rule "updates": unknown quota profile "updates" (config quota.profiles: staff)`]);
  });
});
