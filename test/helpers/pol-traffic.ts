import { Agent } from 'node:http';
import { proxyRequest } from './pol-client.js';

export interface Outcome {
  loop: number;
  seq: number;
  status: number;
  rule?: string;
  error?: string;
  /** Set when the request failed without any response (a connection error). */
  failure?: string;
}

/**
 * Clients that keep sending requests through a proxy until stopped: `loops` keep-alive
 * connections, each sending one request after the other. Used to prove a reload under
 * traffic fails no request.
 */
export class Traffic {
  readonly outcomes: Outcome[] = [];
  private running = true;
  private readonly done: Promise<void>[] = [];
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(proxyPort: number, url: (loop: number, seq: number) => string, loops = 4) {
    for (let i = 0; i < loops; i++) this.done.push(this.loop(proxyPort, url, i));
  }

  private async loop(port: number, url: (loop: number, seq: number) => string, loop: number): Promise<void> {
    for (let seq = 0; this.running; seq++) {
      try {
        const r = await proxyRequest(port, url(loop, seq), { agent: this.agent });
        this.outcomes.push({
          loop,
          seq,
          status: r.status,
          rule: r.headers['x-egressd-rule'] as string | undefined,
          error: r.headers['x-egressd-error'] as string | undefined,
          ...(r.complete ? {} : { failure: 'incomplete response' }),
        });
      } catch (err) {
        this.outcomes.push({ loop, seq, status: 0, failure: String(err) });
      }
    }
  }

  /** Resolves once `pred` holds for the outcomes so far (polls every 10 ms). */
  async until(pred: (o: Outcome[]) => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.outcomes)) {
      if (Date.now() > deadline) throw new Error(`traffic condition not met within ${timeoutMs} ms; last outcomes: ${JSON.stringify(this.outcomes.slice(-5))}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  async stop(): Promise<Outcome[]> {
    this.running = false;
    await Promise.all(this.done);
    this.agent.destroy();
    return this.outcomes;
  }

  /** Statuses of one loop, in order. */
  static sequence(outcomes: Outcome[], loop: number): number[] {
    return outcomes.filter((o) => o.loop === loop).sort((a, b) => a.seq - b.seq).map((o) => o.status);
  }
}
