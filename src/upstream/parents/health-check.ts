import { request } from 'node:http';
import type { Socket } from 'node:net';
import type { Dialer } from '../dialer.js';
import type { Parent } from './parent.js';

export interface HealthOptions {
  /** none: passive checks only; tcp: a connection is accepted; http: a request through the parent to `url` gets an answer below 500. */
  check: 'none' | 'tcp' | 'http';
  url?: string;
  interval: number;
  timeout: number;
  rise: number;
  fall: number;
}

/**
 * Active health checks of a group's parents, every `interval`, each bounded by
 * `timeout`. Timers are unref'ed: checks never keep the process alive.
 */
export class HealthChecker {
  private timer: NodeJS.Timeout | null = null;
  private running = false;

  constructor(
    private readonly parents: readonly Parent[],
    private readonly dialer: Dialer,
    private readonly opts: HealthOptions,
  ) {}

  start(): void {
    if (this.opts.check === 'none' || this.timer) return;
    this.timer = setInterval(() => void this.runOnce(), this.opts.interval);
    this.timer.unref();
    void this.runOnce();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One round over every parent (skipped while the previous round is still running). */
  async runOnce(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      await Promise.all(
        this.parents.map(async (p) => {
          const ok = await this.probe(p).then(
            () => true,
            () => false,
          );
          p.checked(ok, this.opts.rise, this.opts.fall);
        }),
      );
    } finally {
      this.running = false;
    }
  }

  private async probe(p: Parent): Promise<void> {
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(), this.opts.timeout);
    let socket: Socket | undefined;
    try {
      socket = (await this.dialer.dialParent(p.spec.host, p.spec.port, ac.signal)).socket;
      if (this.opts.check === 'http') await this.httpProbe(p, socket, ac.signal);
    } finally {
      clearTimeout(timer);
      socket?.destroy();
    }
  }

  private httpProbe(p: Parent, socket: Socket, signal: AbortSignal): Promise<void> {
    const url = this.opts.url!;
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { host: new URL(url).host, connection: 'close' };
      if (p.spec.authorization) headers['proxy-authorization'] = p.spec.authorization;
      const req = request({ method: 'GET', path: url, headers, createConnection: () => socket, setHost: false, signal });
      req.once('response', (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        if (status > 0 && status < 500) resolve();
        else reject(new Error(`check answered ${status}`));
      });
      req.once('error', reject);
      req.end();
    });
  }
}
