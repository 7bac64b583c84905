import type { Worker } from 'node:cluster';
import type { WorkerStatus } from '../admin/proxy-view.js';
import type { BoundAddress } from '../server/proxy-server.js';
import type { IpcChannel } from './ipc-channel.js';

/** Restarts counted for the backoff: those within this window. */
const RECENT_MS = 60_000;

/** Restart delay for a slot whose worker died `recent` times in the last minute: 100 ms, doubling, at most 10 s. */
export function restartDelay(recent: number): number {
  return Math.min(10_000, 100 * 2 ** Math.max(0, recent));
}

/**
 * One worker position (1..N). The process in it changes when a worker dies and is
 * restarted; the slot number stays, so "worker 1" (the admin listener) is always there.
 */
export class WorkerSlot {
  worker: Worker | null = null;
  channel: IpcChannel | null = null;
  pid = 0;
  startedAt = 0;
  ready = false;
  /** Ever reached ready (a slot that fails before its first ready stops the start). */
  everReady = false;
  restarts = 0;
  addresses: BoundAddress[] = [];
  restartTimer: NodeJS.Timeout | null = null;
  private readonly deaths: number[] = [];

  constructor(readonly id: number) {}

  /** Record a death now; the delay before the restart. */
  died(now = Date.now()): number {
    while (this.deaths.length && now - this.deaths[0]! > RECENT_MS) this.deaths.shift();
    const delay = restartDelay(this.deaths.length);
    this.deaths.push(now);
    return delay;
  }

  status(now = Date.now()): WorkerStatus {
    return {
      id: this.id,
      pid: this.pid,
      startedAt: new Date(this.startedAt).toISOString(),
      uptimeSeconds: this.startedAt ? Math.floor((now - this.startedAt) / 1000) : 0,
      restarts: this.restarts,
      ready: this.ready,
    };
  }
}
