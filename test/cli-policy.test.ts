import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCliAsync } from './helpers/err-cli.js';

/** `egressd policy test` and `egressd check-config` on policy files, as an admin runs them. */

const REPORT = `version: 1
mode: report
rules:
  - id: ads-report
    hosts: [".ads.test"]
    action: deny
    reason: Ads would be blocked
`;

const MAIN = `version: 1
rules:
  - id: block-evil
    hosts: [evil.test]
    action: deny
    reason: Evil is blocked
  - id: no-curl-from-servers
    sources: [10.0.0.0/8]
    headers: { User-Agent: "curl/*" }
    action: deny
    reason: Servers must use the mirror
  - id: no-delete
    methods: [DELETE]
    action: deny
  - id: office-hours
    hosts: [social.test]
    schedule: { timezone: Europe/Paris, days: [mon-fri], hours: ["09:00-18:00"] }
    action: deny
  - id: default
    action: allow
    reason: Allowed by default
`;

const DEST = `version: 1
rules:
  - id: internal
    destinations: [10.0.0.0/8]
    action: deny
  - id: default
    action: allow
`;

/** Schema problems at 7:13 (port) and 11:5 (unknown key). */
const BAD_SCHEMA = `version: 1
rules:
  - id: a
    hosts: [evil.test]
    action: deny
  - id: b
    ports: [70000]
    action: deny
  - id: default
    action: allow
    colour: red
`;

/** Valid YAML and schema, wrong references: missing list file, unknown list, duplicate id, no default. */
const BAD_REFS = `version: 1
lists:
  missing: { file: nope.txt }
rules:
  - id: a
    domainLists: [missing, unknown]
    action: deny
  - id: a
    hosts: [x.test]
    action: allow
`;

let dir: string;
const files: Record<string, string> = {};
function write(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  files[name] = p;
  return p;
}

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'egressd-cli-policy-'));
  write('report.yaml', REPORT);
  write('main.yaml', MAIN);
  write('dest.yaml', DEST);
  write('bad-schema.yaml', BAD_SCHEMA);
  write('bad-refs.yaml', BAD_REFS);
  write('egressd.yaml', 'policy:\n  files: [report.yaml, main.yaml]\n');
  write('dest-egressd.yaml', 'policy:\n  files: [dest.yaml]\n');
  write('bad-schema-egressd.yaml', 'policy:\n  files: [bad-schema.yaml, missing.yaml]\n');
  write('bad-refs-egressd.yaml', 'policy:\n  files: [bad-refs.yaml]\n');
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

const policyTest = (...args: string[]) => runCliAsync(['policy', 'test', '-c', files['egressd.yaml']!, ...args]);

describe('egressd policy test', () => {
  it('allow: exit 0, the verdict, and why each earlier rule did not match', async () => {
    const r = await policyTest('http://www.example.com/x');
    expect(r.status).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('verdict: allow by rule "default" (mode enforce): Allowed by default');
    expect(r.stdout).toContain(`  1. no    ads-report [deny, report] ${files['report.yaml']}:4\n           - hosts: host "www.example.com" matches none of [.ads.test]`);
    expect(r.stdout).toContain(`  2. no    block-evil [deny] ${files['main.yaml']}:3\n           - hosts: host "www.example.com" matches none of [evil.test]`);
    expect(r.stdout).toMatch(/ 3\. no {4}no-curl-from-servers .*\n {11}- sources: client 127\.0\.0\.1 is not in \[10\.0\.0\.0\/8\]\n {11}- headers: user-agent absent/);
    expect(r.stdout).toMatch(/ 4\. no {4}no-delete .*\n {11}- methods: /);
    expect(r.stdout).toMatch(/ 6\. MATCH default \[allow\] .*main\.yaml:19\n {11}\(no conditions: matches every request\)/);
    expect(r.stderr).toBe('');
  });

  it('deny: exit 1 and the matching rule, and nothing after it', async () => {
    const r = await policyTest('http://EVIL.test./');
    expect(r.status).toBe(1);
    expect(r.stdout.split('\n')[0]).toBe('verdict: deny by rule "block-evil" (mode enforce): Evil is blocked');
    expect(r.stdout).toContain('  2. MATCH block-evil [deny]');
    expect(r.stdout).toContain('+ hosts: host "evil.test" matches [evil.test]');
    expect(r.stdout).not.toContain('no-curl-from-servers');
  });

  it('report: exit 0, "would deny" with the report rule and the rule that allowed it', async () => {
    const r = await policyTest('http://tracker.ads.test/');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^verdict: allow by rule "ads-report" \(mode report\): Ads would be blocked\n {2}would deny in enforce mode; allowed by rule "default"\n/);
    expect(r.stdout).toContain('  1. MATCH ads-report [deny, report]');
  });

  it('--src and -H decide source and header rules', async () => {
    const hit = await policyTest('--src', '10.1.2.3', '-H', 'User-Agent: curl/8.5.0', 'http://x.test/');
    expect(hit.status).toBe(1);
    expect(hit.stdout.split('\n')[0]).toBe('verdict: deny by rule "no-curl-from-servers" (mode enforce): Servers must use the mirror');
    expect(hit.stdout).toContain('+ sources: client 10.1.2.3 is in [10.0.0.0/8]');
    const miss = await policyTest('--src', '192.0.2.7', '-H', 'User-Agent: curl/8.5.0', 'http://x.test/');
    expect(miss.status).toBe(0);
    expect(miss.stdout).toContain('- sources: client 192.0.2.7 is not in [10.0.0.0/8]');
  });

  it('-m sets the method; host:port is a CONNECT tunnel', async () => {
    const del = await policyTest('-m', 'DELETE', 'http://x.test/');
    expect(del.status).toBe(1);
    expect(del.stdout.split('\n')[0]).toMatch(/^verdict: deny by rule "no-delete"/);
    const tunnel = await policyTest('evil.test:443');
    expect(tunnel.status).toBe(1);
    const ok = await policyTest('x.test:443');
    expect(ok.status).toBe(0);
  });

  it('--time evaluates schedules at a given instant', async () => {
    const monday = await policyTest('--time', '2026-01-05T10:00:00Z', 'http://social.test/');
    expect(monday.status).toBe(1);
    expect(monday.stdout).toContain('+ schedule: local time mon 11:00 Europe/Paris is within');
    const sunday = await policyTest('--time', '2026-01-04T10:00:00Z', 'http://social.test/');
    expect(sunday.status).toBe(0);
    expect(sunday.stdout).toContain('- schedule: local time sun 11:00 Europe/Paris is outside');
  });

  it('--dest-ip decides a destinations rule', async () => {
    const args = ['policy', 'test', '-c', files['dest-egressd.yaml']!];
    expect((await runCliAsync([...args, '--dest-ip', '10.1.1.1', 'http://x.test/'])).status).toBe(1);
    expect((await runCliAsync([...args, '--dest-ip', '192.0.2.1', 'http://x.test/'])).status).toBe(0);
  });

  it('a destinations rule without --dest-ip is not reported as allowed (exit status is not 0)', async () => {
    const r = await runCliAsync(['policy', 'test', '-c', files['dest-egressd.yaml']!, 'http://x.test/']);
    expect(r.stdout).toContain('needs the destination IP');
    expect(r.status).not.toBe(0);
  });

  it('usage errors exit 2: no target, two targets, an unknown option, a bad header', async () => {
    const none = await policyTest();
    expect(none.status).toBe(2);
    expect(none.stderr).toContain('give exactly one URL or host:port');
    expect((await policyTest('http://a.test/', 'http://b.test/')).status).toBe(2);
    const unknown = await policyTest('--bogus', 'http://a.test/');
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('Usage: egressd policy test');
    expect((await policyTest('-H', 'no-colon', 'http://a.test/')).status).toBe(2);
    expect((await policyTest('ftp://a.test/')).status).toBe(2);
    const help = await policyTest('--help');
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Exit status: 0 allow, 1 deny, 2 usage or config error, 3 undecided');
  });

  it('an invalid --time is a usage error (exit 2), not a crash', async () => {
    const r = await policyTest('--time', 'garbage', 'http://social.test/');
    expect(r.stderr).not.toMatch(/RangeError|\n\s+at /);
    expect(r.status).toBe(2);
  });

  it('an invalid --src or --dest-ip is a usage error (exit 2)', async () => {
    expect((await policyTest('--src', 'nonsense', 'http://x.test/')).status).toBe(2);
    expect((await runCliAsync(['policy', 'test', '-c', files['dest-egressd.yaml']!, '--dest-ip', 'nonsense', 'http://x.test/'])).status).toBe(2);
  });

  it('an invalid policy file: exit 2 with file:line:col on stderr', async () => {
    const r = await runCliAsync(['policy', 'test', '-c', files['bad-refs-egressd.yaml']!, 'http://x.test/']);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain(`${files['bad-refs.yaml']}:8:9: duplicate rule id "a"`);
  });
});

describe('egressd check-config with policy files', () => {
  it('valid: exit 0 and names the policy files', async () => {
    const r = await runCliAsync(['check-config', '-c', files['egressd.yaml']!]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`ok: ${files['egressd.yaml']} (policy: ${files['report.yaml']}, ${files['main.yaml']})\n`);
  });

  it('schema problems in one file and an unreadable second file: every problem as file:line:col, exit 1', async () => {
    const r = await runCliAsync(['check-config', '-c', files['bad-schema-egressd.yaml']!]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe('');
    const bad = files['bad-schema.yaml']!;
    expect(r.stderr.trimEnd().split('\n')).toEqual([
      `${bad}:7:13: rules[1].ports[0]: invalid port or port range 70000 (use e.g. 443 or "8000-8999")`,
      `${bad}:11:5: unknown key "colour" in rules[2]`,
      `${join(dir, 'missing.yaml')}:1:1: cannot read policy file: ENOENT`,
    ]);
  });

  it('reference problems (missing list file, unknown list, duplicate id, no default) with their positions', async () => {
    const r = await runCliAsync(['check-config', '-c', files['bad-refs-egressd.yaml']!]);
    expect(r.status).toBe(1);
    const f = files['bad-refs.yaml']!;
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines).toContain(`${f}:3:20: cannot read domain list ${join(dir, 'nope.txt')}: ENOENT`);
    expect(lines).toContain(`${f}:6:28: unknown list "unknown" (declared in this file: missing)`);
    expect(lines).toContain(`${f}:8:9: duplicate rule id "a" (first defined at line 5)`);
    expect(lines.some((l) => l.startsWith(`${f}:8:5: the policy must end with a default rule`))).toBe(true);
    expect(lines).toHaveLength(4);
  });
});
