import { describe, expect, it } from 'vitest';
import type { Runtime } from '../../src/exchange/runtime.js';
import { Generations } from '../../src/server/generations.js';

/** A retired generation's upstream closes once, and only after its last request ended. */
function fakeUpstream(): { u: Runtime['upstream']; closed: () => number } {
  let closed = 0;
  const u = { close: async () => void closed++ } as unknown as Runtime['upstream'];
  return { u, closed: () => closed };
}

describe('Generations', () => {
  const cases: [string, (g: Generations, u: Runtime['upstream']) => void, number][] = [
    ['retired with nothing holding it: closed at once', (g, u) => g.retire(u), 1],
    ['held, never retired: stays open', (g, u) => (g.hold(u), g.release(u)), 0],
    ['held, retired: stays open while held', (g, u) => (g.hold(u), g.retire(u)), 0],
    ['held, retired, released: closed', (g, u) => (g.hold(u), g.retire(u), g.release(u)), 1],
    ['held twice, retired, released once: still open', (g, u) => (g.hold(u), g.hold(u), g.retire(u), g.release(u)), 0],
    ['held twice, retired, released twice: closed once', (g, u) => (g.hold(u), g.hold(u), g.retire(u), g.release(u), g.release(u)), 1],
    ['released to zero before retiring, then retired: closed once', (g, u) => (g.hold(u), g.release(u), g.retire(u)), 1],
    ['held again after being retired and closed: a later release does not close twice', (g, u) => (g.retire(u), g.hold(u), g.release(u)), 1],
  ];
  for (const [what, run, closes] of cases) {
    it(what, () => {
      const g = new Generations();
      const { u, closed } = fakeUpstream();
      run(g, u);
      expect(closed()).toBe(closes);
    });
  }
});
