import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { collect, mallocTrim } from './malloc-trim.js';

/**
 * Old-generation room for buffers in flight.
 *
 * V8 counts the Buffer memory allocated since the last full collection against the old
 * generation's limit, including buffers still in the young generation that the next
 * scavenge frees. A relay allocates one 64 KiB buffer per socket read, and V8 scavenges
 * for them only once young buffers reach 32 MiB (Heap::AllocateExternalBackingStore).
 * After a full collection that found little promoted (a bulk transfer promotes little),
 * V8 sets the limit to the live size plus 8 MiB plus the new space: 12 MiB of room here.
 * At a few hundred MiB/s the buffers in flight alone cross it every few tens of ms: a
 * full collection every ~50 ms, and W2 at 264-572 MiB/s instead of 499-878 with this
 * (medians 340 and 672; docs/benchmarks.md, session 12).
 *
 * So, while buffer memory swings by more than V8's own room, the old generation's growth
 * factor (--heap-growing-percent, read at each full collection) is set to leave room for
 * the swing, measured over the last few seconds. When the swing subsides, V8 chooses the
 * factor again (0). The factor is ours only during bulk traffic.
 *
 * The same sampler gives the buffers' memory back afterwards. glibc keeps what was freed,
 * so when malloc holds 16 MiB more than after the last trim and few buffers are in
 * flight, it calls malloc_trim (malloc-trim.ts). Buffers still allocated while nothing
 * moves (the same array-buffer bytes two samples in a row) are dead ones waiting for a
 * collection; a young one is run first, and a full one (at most once a minute) if they
 * had been promoted.
 */

const MiB = 1024 * 1024;
/** Below this swing, V8's own room (8 MiB plus the new space) holds the buffers in flight. */
export const ENGAGE_BYTES = 8 * MiB;
/** Room beyond the measured swing: promoted buffers, and peaks between samples. */
const MARGIN_BYTES = 16 * MiB;
const MIN_PERCENT = 30;
const MAX_PERCENT = 400;
/** Samples kept: the swing and the live size are read over this many. */
const WINDOW = 10;
/** The least time between two full collections run here for idle buffers. */
const MAJOR_EVERY_MS = 60_000;
/** Memory malloc may gain over its level after the last trim before the next one. */
export const TRIM_BYTES = 16 * MiB;

/** The growth percent that leaves `swing` bytes of room above `live` (0: leave it to V8). */
export function headroomPercent(swing: number, live: number): number {
  if (swing < ENGAGE_BYTES || live <= 0) return 0;
  const p = Math.ceil((100 * (swing + MARGIN_BYTES)) / live / 10) * 10;
  return Math.min(MAX_PERCENT, Math.max(MIN_PERCENT, p));
}

/** The last samples of external memory and old-generation use. */
export class HeadroomWindow {
  private readonly external: number[] = [];
  private readonly old: number[] = [];

  /** Adds a sample; returns the percent for the window so far. */
  add(externalBytes: number, oldGenerationBytes: number): number {
    this.external.push(externalBytes);
    this.old.push(oldGenerationBytes);
    if (this.external.length > WINDOW) {
      this.external.shift();
      this.old.shift();
    }
    const swing = Math.max(...this.external) - Math.min(...this.external);
    // The old generation's smallest use in the window is the nearest reading of its live
    // size (right after a full collection).
    return headroomPercent(swing, Math.min(...this.old));
  }
}

/**
 * When to call malloc_trim. `held` is what the process holds outside V8's heap and the
 * live buffers (RSS - heap - array buffers): its level after the last trim is the base,
 * and it follows any fall below it. A transfer in progress (buffers moving, more than a
 * few MiB of them) holds the trim back: it would only fault the pages back in.
 */
export class TrimPolicy {
  private base = Infinity;

  /** `quiet`: no buffer was allocated or freed since the last sample. */
  shouldTrim(held: number, inFlight: number, quiet: boolean): boolean {
    if (held < this.base) this.base = held;
    return (quiet || inFlight < ENGAGE_BYTES) && held - this.base > TRIM_BYTES;
  }

  trimmed(held: number): void {
    this.base = held;
  }
}

let timer: NodeJS.Timeout | null = null;
let applied = 0;

/** Samples every `intervalMs`: sets the growth percent when it changes, collects idle buffers, trims. */
export function startBufferHeadroom(intervalMs = 1000): void {
  if (timer) return;
  const window = new HeadroomWindow();
  const policy = new TrimPolicy();
  let canTrim = true;
  let lastBuffers = -1;
  /** Buffer bytes right after the last collection run here (none again until they move). */
  let collected = -1;
  let majorAt = -Infinity;
  timer = setInterval(() => {
    // One reading serves both: `external` is V8's external-memory count (the one its limit uses).
    const mem = process.memoryUsage();
    const p = window.add(mem.external, oldGenerationUsed());
    if (p !== applied) {
      setFlagsFromString(`--heap-growing-percent=${p}`);
      applied = p;
    }
    let [held, buffers] = heldAndBuffers(mem);
    const quiet = buffers === lastBuffers;
    if (quiet && buffers >= ENGAGE_BYTES && buffers !== collected) {
      collect('minor');
      [held, buffers] = heldAndBuffers();
      if (buffers >= ENGAGE_BYTES && performance.now() - majorAt >= MAJOR_EVERY_MS) {
        collect('major');
        majorAt = performance.now();
        [held, buffers] = heldAndBuffers();
      }
      collected = buffers;
    }
    lastBuffers = buffers;
    if (!canTrim || !policy.shouldTrim(held, buffers, quiet)) return;
    const trim = mallocTrim();
    if (!trim) {
      canTrim = false;
      return;
    }
    trim();
    policy.trimmed(heldAndBuffers()[0]);
  }, intervalMs);
  timer.unref();
}

/** What malloc holds beyond V8's heap and the live buffers, and the buffers' bytes. */
function heldAndBuffers(m: NodeJS.MemoryUsage = process.memoryUsage()): [number, number] {
  return [m.rss - m.heapTotal - m.arrayBuffers, m.arrayBuffers];
}

/** The growth percent now in force (0: V8's own); tests, diagnostics. */
export function bufferHeadroomPercent(): number {
  return applied;
}

function oldGenerationUsed(): number {
  let used = 0;
  for (const s of getHeapSpaceStatistics()) {
    if (s.space_name !== 'new_space' && s.space_name !== 'new_large_object_space') used += s.space_used_size;
  }
  return used;
}
