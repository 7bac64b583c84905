#!/usr/bin/env node
// Per-request cost of the admin hook (Metrics.record + DashboardWindow.record), which
// runs once per access-log line. Run after a build: `npx tsc -p . && node bench/metrics-cost.mjs`.
// Not a bench/ workload: one process, no sockets, a fixed mix of records.
import { performance } from 'node:perf_hooks';

const { Metrics } = await import('../dist/admin/metrics.js');
const { DashboardWindow } = await import('../dist/admin/dashboard-window.js');

const view = {
  configFile: () => 'x.yaml', generation: () => 1, listeners: () => [], ready: () => true, draining: () => false,
  active: () => ({ connections: 0, requests: 0, tunnels: 0 }), parents: () => [], cache: () => null, ca: () => null,
  leaves: () => null, reload: async () => ({ ok: true, generation: 1 }), localPage: () => 404,
};
const allow = { action: 'allow', ruleId: 'default', reason: 'ok', mode: 'enforce' };
const deny = { action: 'deny', ruleId: 'no-social', reason: 'no', mode: 'enforce' };
const records = [];
for (let i = 0; i < 1000; i++) {
  const tunnel = i % 10 === 0;
  records.push({
    id: `p-${i}`, kind: tunnel ? 'connect' : 'http', clientIp: `10.0.${i % 7}.${i % 251}`, clientPort: 40000 + i,
    method: tunnel ? 'CONNECT' : 'GET', url: tunnel ? `host${i % 300}.example:443` : `http://host${i % 300}.example/path/${i}`,
    status: i % 17 === 0 ? 403 : 200, bytesIn: 0, bytesOut: 1024, startedAt: 0, upstream: null,
    errorCode: i % 17 === 0 ? 'POLICY_DENIED' : null, errorReason: null, tls: tunnel ? 'tunnel' : 'plain', sni: null,
    user: i % 5 === 0 ? null : `user${i % 40}`, groups: [], cache: tunnel ? null : i % 3 === 0 ? 'hit' : 'miss',
    decision: i % 17 === 0 ? deny : allow, quota: null,
  });
}

function run(label, fn, n) {
  for (let i = 0; i < 200_000; i++) fn(records[i % 1000], i); // warm up
  const t0 = performance.now();
  for (let i = 0; i < n; i++) fn(records[i % 1000], i);
  const ns = ((performance.now() - t0) * 1e6) / n;
  console.log(`${label.padEnd(34)} ${ns.toFixed(0)} ns/record`);
  return ns;
}

const N = 2_000_000;
const metrics = new Metrics(view);
const window = new DashboardWindow();
run('baseline (empty function)', () => {}, N);
run('Metrics.record', (r, i) => metrics.record(r, i % 1000), N);
const origin = performance.timeOrigin;
run('DashboardWindow.record', (r, i) => window.record(r, origin + (i % 1000)), N);
const m2 = new Metrics(view);
const w2 = new DashboardWindow();
run('both (the access-log hook)', (r, i) => {
  m2.record(r, i % 1000);
  w2.record(r, origin + (i % 1000));
}, N);
const t0 = performance.now();
await m2.scrape();
console.log(`${'one /metrics scrape'.padEnd(34)} ${(performance.now() - t0).toFixed(2)} ms`);
const t1 = performance.now();
w2.snapshot();
console.log(`${'one /api/dashboard snapshot'.padEnd(34)} ${(performance.now() - t1).toFixed(2)} ms`);
