import { EventEmitter } from 'node:events';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { IpcChannel, type IpcPort } from '../../src/cluster/ipc-channel.js';
import { relayLines } from '../../src/cluster/line-relay.js';
import { restartDelay, WorkerSlot } from '../../src/cluster/worker-slot.js';

/** Two ends of an in-memory channel (JSON copies, delivered asynchronously, as IPC does). */
function pair(): [IpcPort, IpcPort] {
  const a = new EventEmitter();
  const b = new EventEmitter();
  const port = (self: EventEmitter, other: EventEmitter): IpcPort =>
    Object.assign(self, {
      send(m: unknown, cb?: (e: Error | null) => void): boolean {
        const copy = JSON.parse(JSON.stringify(m));
        setImmediate(() => other.emit('message', copy));
        cb?.(null);
        return true;
      },
    }) as unknown as IpcPort;
  return [port(a, b), port(b, a)];
}

describe('IpcChannel', () => {
  it('answers requests, carries errors back, ignores foreign messages, times out, and rejects on close', async () => {
    const [pa, pb] = pair();
    const a = new IpcChannel(pa);
    const b = new IpcChannel(pb);
    b.handle('add', (x) => (x as number[]).reduce((s, n) => s + n, 0));
    b.handle('later', async (x) => `later ${String(x)}`);
    b.handle('boom', () => {
      throw new Error('no such thing');
    });
    (pb as unknown as EventEmitter).emit('message', { cmd: 'NODE_CLUSTER' }); // node:cluster's own
    expect(await a.request('add', [1, 2, 3], 1000)).toBe(6);
    expect(await a.request('later', 'x', 1000)).toBe('later x');
    await expect(a.request('boom', null, 1000)).rejects.toThrow('no such thing');
    await expect(a.request('missing', null, 1000)).rejects.toThrow('no handler for "missing"');
    b.handle('never', () => new Promise(() => {}));
    await expect(a.request('never', null, 50)).rejects.toThrow('no answer to "never" within 50 ms');
    const pending = a.request('never', null, 5000);
    a.close('worker 2 exited');
    await expect(pending).rejects.toThrow('worker 2 exited');
    await expect(a.request('add', [1], 1000)).rejects.toThrow('IPC channel closed');
  });
});

describe('relayLines', () => {
  const cases: { name: string; chunks: string[]; writes: string[] }[] = [
    { name: 'whole lines pass as they come', chunks: ['a\n', 'b\nc\n'], writes: ['a\n', 'b\nc\n'] },
    { name: 'a line cut across chunks is written once complete', chunks: ['{"a":', '1}\n{"b"', ':2}\n'], writes: ['{"a":1}\n', '{"b":2}\n'] },
    { name: 'a tail without newline waits for its end', chunks: ['x\ny', 'y', 'y\n'], writes: ['x\n', 'yyy\n'] },
    { name: 'a last line without newline is ended at EOF', chunks: ['x\npartial'], writes: ['x\n', 'partial\n'] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const from = new PassThrough();
      const writes: string[] = [];
      relayLines(from, { write: (b: Buffer) => writes.push(b.toString()) });
      for (const ch of c.chunks) {
        from.write(ch);
        await new Promise((r) => setImmediate(r));
      }
      from.end();
      await new Promise((r) => setImmediate(r));
      expect(writes).toEqual(c.writes);
    });
  }
});

describe('restart backoff', () => {
  it.each([
    [0, 100],
    [1, 200],
    [3, 800],
    [6, 6400],
    [7, 10_000],
    [50, 10_000],
  ])('%i deaths in the last minute: %i ms', (recent, ms) => expect(restartDelay(recent)).toBe(ms));

  it('counts only deaths within the last minute', () => {
    const s = new WorkerSlot(2);
    const t = 1_000_000;
    expect([s.died(t), s.died(t + 1), s.died(t + 2)]).toEqual([100, 200, 400]);
    expect(s.died(t + 61_000)).toBe(100);
  });
});
