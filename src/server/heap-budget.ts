import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * A smaller V8 heap for a long-running proxy. V8's defaults suit a short batch job: the
 * young generation grows to 2 x 16 MiB and the old generation to several times what is
 * live before a full collection. Under W1 (64 keep-alive clients) that is 150-180 MB
 * resident for about 25 MB of live objects; with a 4 MiB semi-space and a 1.2x old
 * generation growth it is under 100 MB, for a few per cent of throughput (see
 * docs/benchmarks.md, session 4).
 *
 * `--max-semi-space-size` is read only when V8 starts, so it cannot be set from here.
 * The growth factor is read at each young collection: growth is allowed until a
 * semi-space reaches the cap, and stopped there (and allowed again if V8 shrinks it).
 * Someone who starts node with their own heap flags keeps them.
 */
const SEMI_SPACE_CAP = 4 * 1024 * 1024;
const OLD_GROWING_PERCENT = 20;
const OWN_FLAGS = /--(max-semi-space-size|semi-space-growth-factor|heap-growing-percent|max-heap-size)\b/;

let observer: PerformanceObserver | null = null;

export function applyHeapBudget(argv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  if (observer || argv.some((a) => OWN_FLAGS.test(a)) || OWN_FLAGS.test(nodeOptions)) return false;
  setFlagsFromString(`--heap-growing-percent=${OLD_GROWING_PERCENT}`);
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
