/**
 * Request/answer messaging over a cluster IPC port (a worker's `process`, or the
 * primary's `Worker` object). Messages are tagged `egressd` so that others on the same
 * channel (node:cluster's own, prom-client's) pass untouched. A request that gets no
 * answer within its timeout, or whose channel closes, rejects: no caller waits forever.
 */

export interface IpcPort {
  send(message: unknown, callback?: (err: Error | null) => void): boolean;
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
}

interface Envelope {
  egressd: 1;
  /** Request type, for requests and notices. */
  type?: string;
  /** A request's id; an answer's `re` names it. */
  id?: number;
  re?: number;
  body?: unknown;
  error?: string;
}

type Handler = (body: unknown) => unknown;

export class IpcChannel {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private readonly handlers = new Map<string, Handler>();
  private closed = false;
  private readonly onMessage = (m: unknown): void => this.receive(m);

  constructor(private readonly port: IpcPort) {
    port.on('message', this.onMessage);
  }

  /** Answer requests of `type` with what `fn` returns (or resolves to); a throw is sent back as the error. */
  handle(type: string, fn: Handler): void {
    this.handlers.set(type, fn);
  }

  request<T>(type: string, body: unknown, timeoutMs: number): Promise<T> {
    if (this.closed) return Promise.reject(new Error(`IPC channel closed (${type})`));
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`no answer to "${type}" within ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, timer });
      this.post({ egressd: 1, type, id, body }, (err) => {
        const p = this.pending.get(id);
        if (!p) return;
        clearTimeout(p.timer);
        this.pending.delete(id);
        p.reject(err);
      });
    });
  }

  /** A message that expects no answer. */
  notify(type: string, body?: unknown): void {
    this.post({ egressd: 1, type, body }, () => {});
  }

  /** Reject everything in flight (the other side is gone) and stop listening. */
  close(reason = 'IPC channel closed'): void {
    if (this.closed) return;
    this.closed = true;
    this.port.off('message', this.onMessage);
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new Error(reason));
      this.pending.delete(id);
    }
  }

  private post(e: Envelope, onError: (err: Error) => void): void {
    try {
      this.port.send(e, (err) => {
        if (err) onError(err);
      });
    } catch (err) {
      onError(err as Error);
    }
  }

  private receive(m: unknown): void {
    const e = m as Envelope | null;
    if (!e || typeof e !== 'object' || e.egressd !== 1) return;
    if (e.re !== undefined) {
      const p = this.pending.get(e.re);
      if (!p) return; // timed out already
      clearTimeout(p.timer);
      this.pending.delete(e.re);
      if (e.error !== undefined) p.reject(new Error(e.error));
      else p.resolve(e.body);
      return;
    }
    const fn = e.type === undefined ? undefined : this.handlers.get(e.type);
    if (!fn) {
      if (e.id !== undefined) this.post({ egressd: 1, re: e.id, error: `no handler for "${e.type}"` }, () => {});
      return;
    }
    let out: unknown;
    try {
      out = fn(e.body);
    } catch (err) {
      if (e.id !== undefined) this.post({ egressd: 1, re: e.id, error: (err as Error)?.message ?? String(err) }, () => {});
      return;
    }
    if (e.id === undefined) return;
    const id = e.id;
    Promise.resolve(out).then(
      (body) => this.post({ egressd: 1, re: id, body }, () => {}),
      (err: unknown) => this.post({ egressd: 1, re: id, error: (err as Error)?.message ?? String(err) }, () => {}),
    );
  }
}
