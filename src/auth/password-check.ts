import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import type { BcryptReply } from './bcrypt-worker.js';

/** Compares a password with a stored bcrypt hash (constant time either way). */
export interface PasswordCheck {
  compare(password: string, hash: string): Promise<boolean>;
  close(): Promise<void>;
}

/** In this thread: bcryptjs yields between rounds, but the CPU it takes is the event loop's. */
export const IN_THREAD: PasswordCheck = {
  compare: (password, hash) => bcrypt.compare(password, hash),
  close: async () => {},
};

interface Pending {
  password: string;
  hash: string;
  resolve: (match: boolean) => void;
  reject: (err: Error) => void;
}

/**
 * bcrypt in a worker thread, started at the first check. A flood of wrong passwords
 * then queues there instead of sharing the event loop with every request and tunnel
 * (docs/reliability.md measured 0.8-1.5 s waits for logged-in users before this). If
 * the worker cannot start or dies, checks fall back to this thread (those in flight are
 * redone here), so a broken worker never breaks authentication.
 */
export class OffThreadPasswordCheck implements PasswordCheck {
  private worker: Worker | null = null;
  private failed = false;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  /** From dist/ the script sits next to this file; from the TypeScript sources (vitest), dist/ has it. */
  constructor(private readonly script: URL | null = compiledScript()) {}

  compare(password: string, hash: string): Promise<boolean> {
    const worker = this.failed ? null : this.ensureWorker();
    if (!worker) return IN_THREAD.compare(password, hash);
    return new Promise((resolve, reject) => {
      const id = this.nextId++;
      this.pending.set(id, { password, hash, resolve, reject });
      worker.ref(); // keep it alive while it owes an answer
      worker.postMessage({ id, password, hash });
    });
  }

  /** Whether checks currently run off the event loop. */
  get offThread(): boolean {
    return !this.failed && this.ensureWorker() !== null;
  }

  /** Stop the worker; checks it still owed finish in this thread, later ones start a new worker. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.redoHere();
    if (w) await w.terminate();
  }

  private ensureWorker(): Worker | null {
    if (this.worker) return this.worker;
    if (!this.script) {
      this.failed = true;
      return null;
    }
    const w = new Worker(this.script);
    w.unref();
    w.on('message', (m: BcryptReply) => this.answer(m));
    w.on('error', () => this.giveUp(w));
    w.on('exit', () => this.giveUp(w));
    this.worker = w;
    return w;
  }

  private answer(m: BcryptReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    this.pending.delete(m.id);
    if (this.pending.size === 0) this.worker?.unref();
    if (m.ok) p.resolve(m.match);
    else p.reject(new Error(m.message));
  }

  /** The worker died: finish what it owed in this thread, and check here from now on. */
  private giveUp(w: Worker): void {
    if (this.worker !== w) return; // closed: close() took over what it owed
    this.worker = null;
    this.failed = true;
    this.redoHere();
  }

  private redoHere(): void {
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      IN_THREAD.compare(p.password, p.hash).then(p.resolve, p.reject);
    }
  }
}

function compiledScript(): URL | null {
  for (const rel of ['./bcrypt-worker.js', '../../dist/auth/bcrypt-worker.js']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(fileURLToPath(url))) return url;
  }
  return null;
}
