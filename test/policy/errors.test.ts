import { describe, expect, it } from 'vitest';
import { ConfigError, formatProblem } from '../../src/config/yaml-source.js';
import { compilePolicy } from '../../src/policy/compile.js';
import { loadPolicyFromText } from '../../src/policy/load.js';
import { fixture, loadFixtures } from './helpers.js';

type Expected = [file: string, line: number, col: number, message: RegExp];

async function problemsOf(...names: string[]): Promise<ConfigError> {
  const err = await loadFixtures(...names).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  return err as ConfigError;
}

const f = (name: string): string => fixture(name)[0]!;

// Each invalid file and every problem it must report, with file:line:col.
const cases: [string, Expected[]][] = [
  ['invalid/unknown-key.yaml', [[f('invalid/unknown-key.yaml'), 4, 5, /unknown key "hots" in rules\[0\]/]]],
  [
    'invalid/bad-values.yaml',
    [
      [f('invalid/bad-values.yaml'), 4, 15, /invalid CIDR or IP address "10\.0\.0\.0\/33"/],
      [f('invalid/bad-values.yaml'), 7, 13, /invalid glob "api-\[\.example": unclosed "\["/],
      [f('invalid/bad-values.yaml'), 10, 27, /unknown time zone "Mars\/Olympus_Mons"/],
      [f('invalid/bad-values.yaml'), 13, 13, /invalid port or port range 0/],
      [f('invalid/bad-values.yaml'), 13, 16, /invalid port or port range "9000-8000"/],
      [f('invalid/bad-values.yaml'), 16, 40, /invalid hour range "25:00-26:00"/],
      [f('invalid/bad-values.yaml'), 16, 55, /empty hour range "10:00-10:00"/],
      [f('invalid/bad-values.yaml'), 16, 78, /invalid day "funday"/],
      [f('invalid/bad-values.yaml'), 19, 13, /contains "\/"/],
      [f('invalid/bad-values.yaml'), 19, 33, /"\*\*" is not supported/],
      [f('invalid/bad-values.yaml'), 19, 51, /empty host pattern/],
      [f('invalid/bad-values.yaml'), 22, 13, /path glob "admin\/\*\*" must start with "\/"/],
      [f('invalid/bad-values.yaml'), 25, 28, /invalid regular expression/],
      [f('invalid/bad-values.yaml'), 29, 10, /"tls" goes with action allow/],
      [f('invalid/bad-values.yaml'), 32, 26, /invalid size "lots"/],
    ],
  ],
  ['invalid/duplicate-id.yaml', [[f('invalid/duplicate-id.yaml'), 6, 9, /duplicate rule id "same" \(first defined at line 3\)/]]],
  ['invalid/unknown-list.yaml', [[f('invalid/unknown-list.yaml'), 6, 24, /unknown list "malware" \(declared in this file: ads\)/]]],
  ['invalid/missing-default.yaml', [[f('invalid/missing-default.yaml'), 6, 5, /must end with a default rule .* enforce mode/]]],
  ['invalid/unreachable.yaml', [[f('invalid/unreachable.yaml'), 5, 5, /rule "never" can never match: rule "catch-all" \(line 3\)/]]],
  ['invalid/no-version.yaml', [[f('invalid/no-version.yaml'), 1, 1, /version: must be 1/]]],
  ['invalid/syntax.yaml', [[f('invalid/syntax.yaml'), 6, 1, /Flow sequence/]]],
  [
    'invalid/bad-list.yaml',
    [
      [f('invalid/bad-list.yaml'), 4, 20, /cannot read domain list .*does-not-exist\.txt: ENOENT/],
      [f('lists/broken.txt'), 2, 3, /invalid domain "not a domain"/],
      [f('lists/broken.txt'), 4, 1, /invalid domain "bad\.\.example"/],
    ],
  ],
];

describe('invalid policy files', () => {
  it.each(cases)('%s', async (name, expected) => {
    const err = await problemsOf(name);
    expect(err.code).toBe('CONFIG_INVALID');
    expect(err.problems).toHaveLength(expected.length);
    for (const [file, line, col, message] of expected) {
      const p = err.problems.find((x) => x.file === file && x.line === line && x.col === col);
      expect(p, `${file}:${line}:${col}`).toBeDefined();
      expect(p!.message).toMatch(message);
    }
    // the message is the list of file:line:col lines
    expect(err.message.split('\n')).toEqual(err.problems.map(formatProblem));
  });

  it('reports the problems of every file at once, in the order of the files', async () => {
    const err = await problemsOf('invalid/unknown-key.yaml', 'invalid/duplicate-id.yaml', 'invalid/no-version.yaml');
    expect(err.problems.map((p) => [p.file, p.line])).toEqual([
      [f('invalid/unknown-key.yaml'), 4],
      [f('invalid/duplicate-id.yaml'), 6],
      [f('invalid/no-version.yaml'), 1],
    ]);
  });

  it('a missing policy file is a problem, not a crash', async () => {
    const err = await problemsOf('nope.yaml');
    expect(err.problems).toEqual([{ file: f('nope.yaml'), line: 1, col: 1, message: 'cannot read policy file: ENOENT' }]);
  });

  it('caps invalid list lines and says how many more', async () => {
    const { parseDomainList } = await import('../../src/policy/domain-list.js');
    const text = Array.from({ length: 100 }, (_, i) => (i % 2 ? `ok${i}.example` : `bad entry ${i}`)).join('\n');
    const r = parseDomainList('big.txt', text);
    expect(r.set.size).toBe(50);
    expect(r.problems).toHaveLength(21);
    expect(r.problems[20]!.message).toBe('... and 30 more invalid lines');
  });

  it('compilePolicy alone checks cross references and throws ConfigError', () => {
    expect(() =>
      compilePolicy([
        { file: 'x.yaml', lists: new Map(), document: { version: 1, rules: [{ id: 'a', action: 'allow', domainLists: ['nope'] }] } },
      ]),
    ).toThrow(/x\.yaml:1:1: unknown list "nope"[\s\S]*x\.yaml:1:1: the policy must end with a default rule/);
  });
});

describe('rule-level semantic checks', () => {
  const wrap = (rule: string, top = ''): string => `version: 1\n${top}rules:\n  - id: r\n${rule}\n  - id: default\n    action: allow\n`;
  it.each([
    ['    paths: ["/a"]\n    onUnknownPath: block\n    action: deny', 5, 20, /onUnknownPath: Invalid option: expected one of "match"\|"skip"/],
    ['    onUnknownPath: match\n    action: deny', 4, 20, /onUnknownPath only applies to a rule with "paths"/],
    ['    action: deny\n    response: { maxSize: 1MiB }', 5, 15, /response limits belong on rules that allow/],
    ['    action: allow\n    response: { reason: x }', 5, 15, /give denyContentTypes and\/or maxSize/],
    ['    hosts: []\n    action: deny', 4, 12, /list at least one value/],
    ['    hosts: example.com\n    action: deny', 4, 12, /expected array/],
    ['    action: block', 4, 13, /Invalid option/],
    ['    headers: { "bad header": x }\n    action: deny', 4, 30, /not a valid header name/],
    ['    headers: { ua: 5 }\n    action: deny', 4, 20, /expected a glob, a list of globs, or \{ regex/],
    ['    schedule: { days: [mon] }\n    action: deny', 4, 15, /timezone/],
    ['    methods: ["GET /"]\n    action: deny', 4, 15, /not a valid HTTP method/],
  ])('%s', async (rule, line, col, message) => {
    const err = (await loadPolicyFromText([{ file: 'r.yaml', text: wrap(rule) }]).catch((e: unknown) => e)) as ConfigError;
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.problems).toHaveLength(1);
    expect(err.problems[0]).toMatchObject({ file: 'r.yaml', line, col });
    expect(err.problems[0]!.message).toMatch(message);
  });

  it('a list needs exactly one of file and domains', async () => {
    const err = (await loadPolicyFromText([{ file: 'l.yaml', text: wrap('    action: deny', 'lists:\n  x: { file: a.txt, domains: [a.example] }\n') }]).catch(
      (e: unknown) => e,
    )) as ConfigError;
    expect(err.problems).toEqual([{ file: 'l.yaml', line: 3, col: 6, message: 'lists.x: give either "file" or "domains"' }]);
  });
});
