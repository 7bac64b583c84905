import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { workerCount } from '../../src/cluster/worker-count.js';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError, formatProblem } from '../../src/config/yaml-source.js';

const dir = mkdtempSync(join(tmpdir(), 'egressd-workers-cfg-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function load(text: string): number | 'auto' | string {
  const file = join(dir, 'c.yaml');
  writeFileSync(file, text);
  try {
    return loadConfig(file).config.workers;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.problems.map(formatProblem).join('\n').replace(`${file}:`, '');
  }
}

describe('the workers key', () => {
  it.each<[string, number | 'auto' | RegExp]>([
    ['', 1],
    ['workers: 1\n', 1],
    ['workers: 2\n', 2],
    ['workers: 64\n', 64],
    ['workers: auto\n', 'auto'],
    ['workers: 0\n', /^1:10: workers: .*>=1/],
    ['workers: 65\n', /^1:10: workers: .*<=64/],
    ['workers: 1.5\n', /^1:10: workers: /],
    ['workers: two\n', /^1:10: workers: /],
    ['workers: "2"\n', /^1:10: workers: /],
  ])('%j → %s', (text, want) => {
    const got = load(text);
    if (want instanceof RegExp) expect(String(got)).toMatch(want);
    else expect(got).toBe(want);
  });

  it('auto is one per available CPU, within 1..64; numbers are taken as they are', () => {
    const n = workerCount('auto');
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(64);
    expect(workerCount(3)).toBe(3);
  });
});
