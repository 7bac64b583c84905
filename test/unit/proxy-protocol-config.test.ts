import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError, formatProblem } from '../../src/config/yaml-source.js';

/** listeners[].proxyProtocol and proxyFrom: validated at load, problems at file:line:col. */

let dir: string;
let n = 0;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egressd-ppcfg-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(text: string): { problems: string[]; config?: ReturnType<typeof loadConfig>['config'] } {
  const file = join(dir, `c${++n}.yaml`);
  writeFileSync(file, text);
  try {
    return { problems: [], config: loadConfig(file).config };
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { problems: e.problems.map((p) => formatProblem(p).slice(file.length + 1)) };
  }
}

describe('listener proxyProtocol', () => {
  it.each(['v1', 'v2', 'any'])('accepts %s with proxyFrom, on forward and transparent listeners', (v) => {
    const { config, problems } = load(`listeners:\n  - { port: 0, proxyProtocol: ${v}, proxyFrom: [10.0.0.5, "fd00::/8"] }\n  - { port: 0, mode: transparent, proxyProtocol: ${v}, proxyFrom: [10.0.0.0/24] }\n`);
    expect(problems).toEqual([]);
    expect(config!.listeners.map((l) => [l.proxyProtocol, l.proxyFrom])).toEqual([
      [v, ['10.0.0.5', 'fd00::/8']],
      [v, ['10.0.0.0/24']],
    ]);
  });

  it('defaults to off with no proxyFrom', () => {
    expect(load('listeners:\n  - { port: 0 }\n').config!.listeners[0]).toMatchObject({ proxyProtocol: 'off', proxyFrom: [] });
  });

  it.each([
    ['proxyProtocol without proxyFrom', 'listeners:\n  - port: 0\n    proxyProtocol: v2\n', /^2:5: listeners\[0\]\.proxyFrom: list the load balancers/],
    ['an empty proxyFrom', 'listeners:\n  - port: 0\n    proxyProtocol: any\n    proxyFrom: []\n', /^4:16: listeners\[0\]\.proxyFrom: list the load balancers/],
    ['proxyFrom with proxyProtocol off', 'listeners:\n  - port: 0\n    proxyFrom: [10.0.0.1]\n', /^3:16: listeners\[0\]\.proxyFrom: proxyFrom only applies with proxyProtocol/],
    ['an unknown version', 'listeners:\n  - port: 0\n    proxyProtocol: v3\n    proxyFrom: [10.0.0.1]\n', /^3:20: listeners\[0\]\.proxyProtocol: /],
    ['a bad CIDR', 'listeners:\n  - port: 0\n    proxyProtocol: v1\n    proxyFrom: [10.0.0.300/8]\n', /^4:17: listeners\[0\]\.proxyFrom\[0\]: invalid CIDR/],
    ['true instead of a version', 'listeners:\n  - port: 0\n    proxyProtocol: true\n    proxyFrom: [10.0.0.1]\n', /^3:20: listeners\[0\]\.proxyProtocol: /],
  ])('refuses %s', (_name, text, want) => {
    const { problems } = load(text);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(want);
  });
});
