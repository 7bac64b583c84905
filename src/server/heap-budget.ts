import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { startBufferHeadroom } from './buffer-headroom.js';

/**
 * A smaller young generation for a long-running proxy. V8 grows it to 2 x 16 MiB as
 * soon as start-up allocates a lot, and keeps it: 24 MB of idle RSS for under 1 MB of
 * live young objects. Capped at 2 x 4 MiB: idle RSS 86 -> 74 MB and W1 peak 134 -> 111
 * MB, for about 3% of W1 throughput (docs/benchmarks.md, session 4). A faster old
 * generation cycle (--heap-growing-percent=20) took W1 under 100 MB too, but doubled
 * its p99 (15 -> 31 ms: a full collection every 450 ms) and cost 15% of throughput, so
 * it is not done. Tried again in session 11, with W1's promotion fixed: W1 stayed under
 * 100 MB after connection churn at no W1 cost, but W2 ran at half speed in every run (a
 * full collection every ~100 ms: docs/benchmarks.md), so still not done. That W2 slow
 * mode came from buffers in flight counted against the old generation's limit; the
 * growth factor is now raised only while they swing (buffer-headroom.ts).
 *
 * `--max-semi-space-size` is read only when V8 starts, so it cannot be set from here.
 * The growth factor is read at each young collection: growth is allowed until a
 * semi-space reaches the cap, and stopped there (and allowed again if V8 shrinks it).
 * Someone who starts node with their own heap flags keeps them.
 */
const SEMI_SPACE_CAP = 4 * 1024 * 1024;
const OWN_FLAGS = /--(max-semi-space-size|semi-space-growth-factor|heap-growing-percent|max-heap-size)\b/;
/** How often, at the cap, to look whether V8 has shrunk the young generation. */
const POLL_MS = 5000;

let observer: PerformanceObserver | null = null;
let poll: NodeJS.Timeout | null = null;

/**
 * Below the cap the young generation is watched at every collection, since V8 may grow
 * it at each. At the cap growth is off, and a slow poll replaces the watch: a GC
 * observer builds an entry object (with Node's deprecation wrappers) for every
 * collection: 13% of what W1 promoted once the rest was fixed (docs/benchmarks.md).
 */
export function applyHeapBudget(argv: readonly string[] = process.execArgv, nodeOptions = process.env.NODE_OPTIONS ?? ''): boolean {
  if (observer || argv.some((a) => OWN_FLAGS.test(a)) || OWN_FLAGS.test(nodeOptions)) return false;
  const gc = new PerformanceObserver(() => {
    if (!belowCap()) capped();
  });
  const watch = (): void => {
    setFlagsFromString('--semi-space-growth-factor=2');
    gc.observe({ entryTypes: ['gc'] });
  };
  const capped = (): void => {
    setFlagsFromString('--semi-space-growth-factor=1');
    gc.disconnect();
    poll = setInterval(() => {
      if (!belowCap()) return;
      if (poll) clearInterval(poll);
      poll = null;
      watch();
    }, POLL_MS);
    poll.unref();
  };
  observer = gc;
  startBufferHeadroom();
  if (belowCap()) watch();
  else capped();
  return true;
}

/** What the budget is doing now (tests, diagnostics). */
export function heapBudgetState(): 'off' | 'watching' | 'capped' {
  if (!observer) return 'off';
  return poll ? 'capped' : 'watching';
}

function belowCap(): boolean {
  // new_space counts both semi-spaces.
  const young = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  return young !== undefined && young.space_size < 2 * SEMI_SPACE_CAP;
}
