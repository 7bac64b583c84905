import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ensureBuilt } from '../helpers/fwd-child-proxy.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MiB = 1024 * 1024;

/**
 * Runs dist/server/heap-budget.js in a fresh node (its own heap), then allocates the
 * way a busy proxy does (short-lived garbage with a share that survives a while), and
 * reports the largest young generation V8 used.
 */
function youngPeak(execArgv: string[] = [], apply = true): { applied: boolean; peak: number; state: string } {
  ensureBuilt();
  const script = `
    const { getHeapSpaceStatistics } = await import('node:v8');
    const { applyHeapBudget, heapBudgetState } = await import(${JSON.stringify(join(ROOT, 'dist', 'server', 'heap-budget.js'))});
    const applied = ${apply} ? applyHeapBudget() : false;
    let peak = 0, keep = [];
    for (let round = 0; round < 400; round++) {
      for (let i = 0; i < 2000; i++) keep.push({ i, s: 'x'.repeat(64) + i });
      if (keep.length > 20000) keep = keep.slice(10000);
      await new Promise((r) => setImmediate(r));
      const y = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      peak = Math.max(peak, y.space_size);
    }
    process.stdout.write(JSON.stringify({ applied, peak, state: heapBudgetState() }));
  `;
  return JSON.parse(execFileSync(process.execPath, [...execArgv, '--input-type=module', '-e', script], { encoding: 'utf8' })) as { applied: boolean; peak: number; state: string };
}

describe('heap budget', () => {
  it('without it, this allocation pattern grows the young generation past 8 MiB (the test can see the difference)', () => {
    expect(youngPeak([], false).peak).toBeGreaterThan(8 * MiB);
  });

  it('caps the young generation at two 4 MiB semi-spaces under the same load', () => {
    const r = youngPeak();
    expect(r.applied).toBe(true);
    expect(r.peak).toBeLessThanOrEqual(8 * MiB);
  });

  it('stops watching every collection once the cap is reached (a slow poll takes over)', () => {
    expect(youngPeak().state).toBe('capped');
  });

  it('leaves heap flags given on the node command line alone', () => {
    const r = youngPeak(['--max-semi-space-size=16']);
    expect(r.applied).toBe(false);
    expect(r.state).toBe('off');
    expect(r.peak).toBeGreaterThan(8 * MiB);
  });
});
