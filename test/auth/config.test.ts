import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError, formatProblem } from '../../src/config/yaml-source.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { decide } from '../../src/policy/decide.js';
import { explain, formatExplanation } from '../../src/policy/explain.js';
import { policyFileSchema } from '../../src/policy/schema.js';

/** The `auth` config section, the open-proxy guard's auth alternative, and the policy rule `auth` property. */

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egressd-authcfg-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(text: string) {
  const file = join(dir, `c${++n}.yaml`);
  writeFileSync(file, text);
  return { file, load: () => loadConfig(file) };
}

function problems(text: string): string[] {
  const c = load(text);
  try {
    c.load();
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return e.problems.map(formatProblem);
  }
  throw new Error('config was accepted');
}

describe('auth config', () => {
  it('has defaults, and resolves users and groupsFile against the config folder', () => {
    const { config } = load('auth:\n  users: users.htpasswd\n  groupsFile: /etc/egressd/groups\n').load();
    expect(config.auth).toMatchObject({ required: false, realm: 'egressd', users: join(dir, 'users.htpasswd'), groupsFile: '/etc/egressd/groups', cacheTtl: 300_000, watch: true });
    expect(config.auth.lockout).toEqual({ threshold: 5, addressThreshold: 20, baseDelay: 1000, maxDelay: 900_000, window: 900_000, maxTracked: 100_000 });
  });

  it.each([
    ['auth:\n  required: true\n', /2:13: auth.required: needs users, ldap or sources/],
    ['auth:\n  realm: "a\\nb"\n', /2:10: auth.realm: no control characters/],
    ['auth:\n  sources: [{ cidr: 10.0.0.0/33, user: x }]\n', /invalid CIDR/],
    ['auth:\n  ldap: { url: "http://x" }\n', /expected ldap:\/\/host:port/],
    ['auth:\n  ldap: { url: "ldap://127.0.0.1:389" }\n', /give userDn .* or searchBase/],
    ['auth:\n  ldap: { url: "ldap://h:1", userDn: "uid=x" }\n', /must contain \{user\}/],
    ['auth:\n  cacheTtl: soon\n', /invalid duration/],
    ['auth:\n  bogus: 1\n', /bogus/],
  ])('rejects %j', (text, message) => {
    expect(problems(text).join('\n')).toMatch(message);
  });

  it('accepts auth.required instead of clients.allow for a listener on the network', () => {
    const open = 'listeners:\n  - { address: 0.0.0.0, port: 3128 }\n';
    expect(problems(open).join('\n')).toMatch(/clients.allow is empty: .* or set auth.required: true/);
    expect(load(`${open}auth:\n  required: true\n  users: u\n`).load().config.auth.required).toBe(true);
  });
});

describe('policy rule auth', () => {
  const policy = (yaml: object) =>
    compilePolicy([{ file: 'p.yaml', document: policyFileSchema.parse(yaml), lists: new Map() }]);
  it('carries auth: required|none on the decision, also through a report-mode rule', () => {
    const p = policy({
      version: 1,
      rules: [
        { id: 'watch', hosts: ['a.test'], action: 'deny', mode: 'report' },
        { id: 'open', hosts: ['a.test'], action: 'allow', auth: 'none' },
        { id: 'default', action: 'deny', auth: 'required' },
      ],
    });
    const facts = { port: 80, scheme: 'http' as const, method: 'GET', clientIp: '10.0.0.1' };
    expect(decide(p, { ...facts, host: 'a.test' })).toMatchObject({ ruleId: 'watch', wouldDeny: true, auth: 'none' });
    expect(decide(p, { ...facts, host: 'b.test' })).toMatchObject({ ruleId: 'default', action: 'deny', auth: 'required' });
    // egressd policy test shows it.
    expect(formatExplanation(explain(p, { ...facts, host: 'b.test' }))).toContain('auth: required (an anonymous client gets 407 first)');
  });

  it('rejects another value', () => {
    expect(policyFileSchema.safeParse({ version: 1, rules: [{ id: 'x', action: 'allow', auth: 'maybe' }] }).success).toBe(false);
  });
});
