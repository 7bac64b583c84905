import bcrypt from 'bcryptjs';
import { compiledScript, JobThread } from '../thread/job-thread.js';
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

type Job = { password: string; hash: string };

/**
 * bcrypt in a worker thread (a JobThread), started at the first check. A flood of
 * wrong passwords then queues there instead of sharing the event loop with every
 * request and tunnel (docs/reliability.md measured 0.8-1.5 s waits for logged-in users
 * before this). If the worker cannot start or dies, checks fall back to this thread.
 */
export class OffThreadPasswordCheck implements PasswordCheck {
  private readonly thread: JobThread<Job, boolean, BcryptReply>;

  /** The worker script (tests pass their own); null: check in this thread. */
  constructor(script: URL | null = compiledScript(import.meta.url, 'auth/bcrypt-worker.js')) {
    this.thread = new JobThread({
      script,
      local: (j) => IN_THREAD.compare(j.password, j.hash),
      settle: (m) => (m.ok ? m.match : new Error(m.message)),
    });
  }

  compare(password: string, hash: string): Promise<boolean> {
    return this.thread.run({ password, hash });
  }

  /** Whether checks currently run off the event loop. */
  get offThread(): boolean {
    return this.thread.offThread;
  }

  /** Stop the worker; checks it still owed finish in this thread, later ones start a new worker. */
  close(): Promise<void> {
    return this.thread.close();
  }
}
