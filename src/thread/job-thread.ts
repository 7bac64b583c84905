import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/**
 * A compiled worker script. From dist/ it sits next to the module that starts it
 * (`moduleUrl`); from the TypeScript sources (vitest), the compiled copy in dist/ is
 * used. Null when there is none: the jobs then run in this thread.
 */
export function compiledScript(moduleUrl: string, distPath: string): URL | null {
  const name = distPath.slice(distPath.lastIndexOf('/') + 1);
  for (const rel of [`./${name}`, `../../dist/${distPath}`]) {
    const url = new URL(rel, moduleUrl);
    if (existsSync(fileURLToPath(url))) return url;
  }
  return null;
}

export interface JobThreadOptions<Job, Result, Reply> {
  /** The worker script; null: run every job in this thread. */
  script: URL | null;
  /** The worker's `workerData`, built when it starts. */
  workerData?: () => unknown;
  /** Runs a job in this thread: before the worker exists, when it cannot, and after it died. */
  local: (job: Job) => Promise<Result>;
  /** A worker's reply as a result, or the error to reject with. */
  settle: (reply: Reply) => Result | Error;
}

interface Pending<Job, Result> {
  job: Job;
  resolve: (r: Result) => void;
  reject: (e: Error) => void;
}

/**
 * CPU-heavy jobs (bcrypt, certificate signing) in one worker thread, started at the
 * first job, so they queue there instead of stalling every connection on the event
 * loop. Each job is posted as `{ id, ...job }` and answered with `{ id, ... }`. If the
 * worker cannot start or dies, jobs run in this thread from then on, and those it
 * owed are redone here: a broken worker never breaks what it serves. The worker is
 * unref'd while it owes nothing, so it never holds the process open.
 */
export class JobThread<Job extends object, Result, Reply extends { id: number }> {
  private worker: Worker | null = null;
  private failed = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending<Job, Result>>();

  constructor(private readonly opts: JobThreadOptions<Job, Result, Reply>) {}

  run(job: Job): Promise<Result> {
    const worker = this.failed ? null : this.ensureWorker();
    if (!worker) return this.opts.local(job);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { job, resolve, reject });
      worker.ref(); // keep it alive while it owes an answer
      worker.postMessage({ id, ...job });
    });
  }

  /** Whether jobs currently run off the event loop. */
  get offThread(): boolean {
    return !this.failed && this.ensureWorker() !== null;
  }

  /** Stop the worker; jobs it still owed finish in this thread, later ones start a new worker. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.redoHere();
    if (w) await w.terminate();
  }

  private ensureWorker(): Worker | null {
    if (this.worker) return this.worker;
    if (!this.opts.script) {
      this.failed = true;
      return null;
    }
    const w = new Worker(this.opts.script, { workerData: this.opts.workerData?.() });
    w.unref();
    w.on('message', (m: Reply) => this.answer(m));
    w.on('error', () => this.giveUp(w));
    w.on('exit', () => this.giveUp(w));
    this.worker = w;
    return w;
  }

  private answer(m: Reply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker?.unref();
    const r = this.opts.settle(m);
    if (r instanceof Error) p.reject(r);
    else p.resolve(r);
  }

  /** The worker died: finish what it owed in this thread, and run jobs here from now on. */
  private giveUp(w: Worker): void {
    if (this.worker !== w) return; // closed: close() took over what it owed
    this.worker = null;
    this.failed = true;
    this.redoHere();
  }

  private redoHere(): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      this.opts.local(p.job).then(p.resolve, p.reject);
    }
  }
}
