#!/usr/bin/env node
// Cost of one access-log line (format + hand-off to the destination), with a record
// shaped as under W1: `npx tsc -p . && node bench/access-log-cost.mjs [lines]`.
// Lines go to /dev/null through the real destination (sonic-boom, buffered).
import { AccessLog } from '../dist/log/access-log.js';
import { ProxyContext } from '../dist/exchange/context.js';

const n = Number(process.argv[2] ?? 300_000);
const log = new AccessLog('/dev/null');
const records = Array.from({ length: 256 }, (_, i) => {
  const r = new ProxyContext(`ff4d2842-${(i * 7919).toString(36)}`, 'http', '127.0.0.1', 40000 + i);
  r.method = 'GET';
  r.url = `http://127.0.0.1:18080/1k?n=${i}`;
  r.status = 200;
  r.bytesOut = 1024;
  r.upstream = '127.0.0.1:18080';
  r.ttfbMs = 0.8 + i / 1000;
  return r;
});
const run = (count) => {
  const t = performance.now();
  for (let i = 0; i < count; i++) { const r = records[i & 255]; log.write(r, r.startedAt + 3.25 + (i & 7)); }
  return performance.now() - t;
};
run(50_000); // warm up the JIT
const rounds = [];
for (let k = 0; k < 5; k++) rounds.push((run(n) * 1000) / n);
rounds.sort((a, b) => a - b);
console.log(`| lines per round | rounds | µs per line (median) | min | max |\n|---:|---:|---:|---:|---:|\n| ${n} | 5 | ${rounds[2].toFixed(2)} | ${rounds[0].toFixed(2)} | ${rounds[4].toFixed(2)} |`);
await log.close();
