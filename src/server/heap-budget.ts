import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * A smaller young generation for a long-running proxy. V8 grows it to 2 x 16 MiB as
 * soon as start-up allocates a lot, and keeps it: 24 MB of idle RSS for under 1 MB of
 * live young objects. Capped at 2 x 4 MiB: idle RSS 86 -> 74 MB and W1 peak 134 -> 111
 * MB, for about 3% of W1 throughput (docs/benchmarks.md, session 4). A faster old
 * generation cycle (--heap-growing-percent=20) took W1 under 100 MB too, but doubled
 * its p99 (15 -> 31 ms: a full collection every 450 ms) and cost 15% of throughput, so
 * it is not done.
 *
 * `--max-semi-space-size` is read only when V8 starts, so it cannot be set from here.
 * The growth factor is read at each young collection: growth is allowed until a
 * semi-space reaches the cap, and stopped there (and allowed again if V8 shrinks it).
 * Someone who starts node with their own heap flags keeps them.
 */
const SEMI_SPACE_CAP = 4 * 1024 * 1024;
const OWN_FLAGS = /--(max-semi-space-size|semi-space-growth-factor|heap-growing-percent|max-heap-size)\b/;

let observer: PerformanceObserver | null = null;

export function applyHeapBudget(argv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  if (observer || argv.some((a) => OWN_FLAGS.test(a)) || OWN_FLAGS.test(nodeOptions)) return false;
  let growing = true;
  const steer = (): void => {
    // new_space counts both semi-spaces.
    const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
    const wantGrowth = young !== undefined && young.space_size < 2 * SEMI_SPACE_CAP;
    if (wantGrowth === growing) return;
    growing = wantGrowth;
    setFlagsFromString(`--semi-space-growth-factor=${wantGrowth ? 2 : 1}`);
  };
  steer();
  observer = new PerformanceObserver(steer);
  observer.observe({ entryTypes: ['gc'] });
  return true;
}
