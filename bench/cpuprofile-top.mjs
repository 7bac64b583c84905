#!/usr/bin/env node
// Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. via
// BENCH_EGRESSD_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" bash bench/run.sh):
// the functions with the most self time, and self time grouped by file.
//
//   node bench/cpuprofile-top.mjs FILE.cpuprofile [N]

import { readFileSync } from 'node:fs';

const [file, nArg] = process.argv.slice(2);
if (!file) {
  console.error('usage: cpuprofile-top.mjs FILE.cpuprofile [N]');
  process.exit(2);
}
const n = Number(nArg ?? 25);
const prof = JSON.parse(readFileSync(file, 'utf8'));

// Self time per node = sum of the sample intervals attributed to it.
const self = new Map();
const { samples, timeDeltas } = prof;
for (let i = 0; i < samples.length; i++) {
  const dt = timeDeltas[i + 1] ?? 0;
  self.set(samples[i], (self.get(samples[i]) ?? 0) + dt);
}
let total = 0;
for (const v of self.values()) total += v;

const byFn = new Map();
const byFile = new Map();
for (const node of prof.nodes) {
  const t = self.get(node.id) ?? 0;
  if (!t) continue;
  const cf = node.callFrame;
  const url = cf.url.replace(/^file:\/\//, '').replace(process.cwd() + '/', '');
  const where = url ? `${url}:${cf.lineNumber + 1}` : '';
  const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
  byFn.set(key, (byFn.get(key) ?? 0) + t);
  const group = url ? url.replace(/^.*node_modules\/((?:@[^/]+\/)?[^/]+).*$/, 'npm:$1') : `(${cf.functionName})`;
  byFile.set(group, (byFile.get(group) ?? 0) + t);
}

const pct = (t) => ((100 * t) / total).toFixed(1).padStart(5) + '%';
console.log(`${file}: ${(total / 1e6).toFixed(2)} s sampled\n\nTop functions by self time:`);
for (const [k, t] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${pct(t)}  ${k}`);
console.log('\nSelf time by file / package:');
for (const [k, t] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, n)) console.log(`${pct(t)}  ${k}`);
