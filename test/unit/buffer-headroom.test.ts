import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ENGAGE_BYTES, HeadroomWindow, headroomPercent, TRIM_BYTES, TrimPolicy } from '../../src/server/buffer-headroom.js';
import { ensureBuilt } from '../helpers/fwd-child-proxy.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const MiB = 1024 * 1024;

describe('buffer headroom: the percent', () => {
  it('leaves the factor to V8 while buffers swing less than its own room', () => {
    expect(headroomPercent(0, 17 * MiB)).toBe(0);
    expect(headroomPercent(ENGAGE_BYTES - 1, 17 * MiB)).toBe(0);
  });

  it('leaves room for the swing plus a margin above the live size', () => {
    // 32 MiB swing + 16 MiB margin over 17 MiB live: 282% -> 290 (rounded up to tens).
    expect(headroomPercent(32 * MiB, 17 * MiB)).toBe(290);
    const p = headroomPercent(20 * MiB, 60 * MiB);
    expect(60 * MiB * (p / 100)).toBeGreaterThanOrEqual(36 * MiB);
  });

  it('is bounded both ways', () => {
    expect(headroomPercent(32 * MiB, 1 * MiB)).toBe(400);
    expect(headroomPercent(32 * MiB, 4096 * MiB)).toBe(30);
  });

  it('reads the swing and the live size over the last ten samples', () => {
    const w = new HeadroomWindow();
    expect(w.add(3 * MiB, 18 * MiB)).toBe(0);
    // A sawtooth of young buffers: 3 -> 35 MiB; the smallest old-generation use is the live size.
    expect(w.add(35 * MiB, 17 * MiB)).toBe(headroomPercent(32 * MiB, 17 * MiB));
    for (let i = 0; i < 9; i++) w.add(3 * MiB, 19 * MiB);
    // The 35 MiB peak has left the window.
    expect(w.add(3 * MiB, 19 * MiB)).toBe(0);
  });
});

describe('buffer headroom: when to give freed memory back', () => {
  it('trims once malloc holds more than TRIM_BYTES over its base, and not in the middle of a transfer', () => {
    const t = new TrimPolicy();
    expect(t.shouldTrim(40 * MiB, 1 * MiB, false)).toBe(false);
    // Buffers moving and many in flight: not now, however much is held.
    expect(t.shouldTrim(40 * MiB + TRIM_BYTES + 1, 30 * MiB, false)).toBe(false);
    // The same bytes in flight but nothing moves (dead buffers waiting): now.
    expect(t.shouldTrim(40 * MiB + TRIM_BYTES + 1, 30 * MiB, true)).toBe(true);
    expect(t.shouldTrim(40 * MiB + TRIM_BYTES + 1, 1 * MiB, false)).toBe(true);
    t.trimmed(45 * MiB);
    expect(t.shouldTrim(45 * MiB + TRIM_BYTES - 1, 1 * MiB, false)).toBe(false);
  });

  it('follows the held memory down, so the next trim is measured from the lowest level', () => {
    const t = new TrimPolicy();
    t.shouldTrim(60 * MiB, 0, false);
    t.shouldTrim(42 * MiB, 0, false);
    expect(t.shouldTrim(42 * MiB + TRIM_BYTES + 1, 0, false)).toBe(true);
  });
});

interface ChildReport {
  during: number;
  after: number;
  /** The percent in force when the full collection was forced. */
  forcedAt: number | null;
  factor: number | null;
}

/**
 * In a fresh node: the sampler at 50 ms, then either a loopback relay (source server ->
 * this process -> sink server, 64 KiB socket reads, as a proxy relays) or the same time
 * of object-only allocation. Reports the largest percent seen, the percent after an idle
 * second, and the growth factor V8 printed for a full collection forced during the relay.
 */
function runChild(relay: boolean): ChildReport {
  ensureBuilt();
  const script = `
    const net = await import('node:net');
    const { startBufferHeadroom, bufferHeadroomPercent } = await import(${JSON.stringify(join(ROOT, 'dist', 'server', 'buffer-headroom.js'))});
    globalThis.live = Array.from({ length: 200000 }, (_, i) => ({ i, s: 'x' + i }));
    startBufferHeadroom(50);
    let during = 0;
    const watch = setInterval(() => { during = Math.max(during, bufferHeadroomPercent()); }, 10);
    if (${relay}) {
      const TOTAL = 768 * 1024 * 1024, chunk = Buffer.alloc(64 * 1024, 1);
      const src = net.createServer((s) => { let sent = 0; const pump = () => { while (sent < TOTAL) { sent += chunk.length; if (!s.write(chunk)) return void s.once('drain', pump); } s.end(); }; pump(); });
      const sink = net.createServer((s) => s.resume());
      await new Promise((r) => src.listen(0, '127.0.0.1', r));
      await new Promise((r) => sink.listen(0, '127.0.0.1', r));
      const a = net.connect(src.address().port, '127.0.0.1'), b = net.connect(sink.address().port, '127.0.0.1');
      let got = 0, forced = false;
      a.on('data', (d) => {
        got += d.length;
        // Three quarters in, with the transfer still running: a full collection now shows the factor V8 uses.
        if (!forced && got > TOTAL * 0.75 && bufferHeadroomPercent() > 0) {
          forced = true;
          process.stdout.write('FORCED ' + bufferHeadroomPercent() + '\\n'); gc(); process.stdout.write('DONE\\n');
        }
        if (!b.write(d)) { a.pause(); b.once('drain', () => a.resume()); }
      });
      await new Promise((r) => a.on('end', r));
      b.destroy(); src.close(); sink.close();
    } else {
      let keep = [];
      const until = Date.now() + 1500;
      while (Date.now() < until) {
        for (let i = 0; i < 2000; i++) keep.push({ i, s: 'y'.repeat(64) + i });
        if (keep.length > 20000) keep = keep.slice(10000);
        await new Promise((r) => setImmediate(r));
      }
    }
    await new Promise((r) => setTimeout(r, 1000));
    clearInterval(watch);
    process.stdout.write('REPORT ' + JSON.stringify({ during, after: bufferHeadroomPercent() }) + '\\n');
  `;
  const out = execFileSync(process.execPath, ['--expose-gc', '--trace-gc-verbose', '--input-type=module', '-e', script], { encoding: 'utf8', maxBuffer: 64 * MiB, timeout: 60_000 });
  const report = JSON.parse(/^REPORT (.*)$/m.exec(out)![1]!) as { during: number; after: number };
  const forced = /FORCED (\d+)\n([\s\S]*?)DONE\n/.exec(out);
  const f = forced ? /\[HeapController\] Limit: .*\(([\d.]+)\)/.exec(forced[2]!) : null;
  return { ...report, forcedAt: forced ? Number(forced[1]) : null, factor: f ? Number(f[1]) : null };
}

describe('buffer headroom: in a real process', () => {
  it('engages during a bulk loopback relay, V8 grows the old generation by that factor, and it lets go when the relay ends', () => {
    const r = runChild(true);
    expect(r.during).toBeGreaterThanOrEqual(30);
    // V8 prints the factor with one decimal: 1 + percent / 100.
    expect(r.forcedAt).not.toBeNull();
    expect(r.factor).toBeCloseTo(1 + r.forcedAt! / 100, 1);
    expect(r.after).toBe(0);
  }, 70_000);

  it('stays off under allocation without buffers', () => {
    const r = runChild(false);
    expect(r.during).toBe(0);
    expect(r.after).toBe(0);
  }, 70_000);
});
