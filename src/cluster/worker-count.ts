import { availableParallelism } from 'node:os';

/** The `workers` key as a number of processes (`auto`: one per CPU this process may use, at most 64). */
export function workerCount(workers: 'auto' | number): number {
  return workers === 'auto' ? Math.max(1, Math.min(64, availableParallelism())) : workers;
}
