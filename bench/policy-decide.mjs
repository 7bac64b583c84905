// Policy decision cost. Run by hand after a build:
//   npx tsc -p . && node bench/policy-decide.mjs [--quick]
//
// 1. A 1,000-rule policy (mostly host rules, some user/group/source/path rules, a few
//    real globs): load time, and decisions per second for requests that match early,
//    late, or fall through to the default.
// 2. A 1,000,000-domain list: load time, and lookups per second (hits and misses).
// Each figure is the best of several runs, so a busy machine disturbs it less.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decide } from '../dist/policy/decide.js';
import { explain } from '../dist/policy/explain.js';
import { loadPolicy } from '../dist/policy/load.js';

const quick = process.argv.includes('--quick');
const RUNS = quick ? 3 : 7;
const OPS = quick ? 50_000 : 200_000;
const LIST_SIZE = 1_000_000;

function best(fn, runs = RUNS) {
  let min = Infinity;
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    min = Math.min(min, performance.now() - t0);
  }
  return min;
}

/** ops/s and ns/op of `decide` over `requests`, cycling. */
function measure(policy, requests, ops = OPS, fn = decide) {
  let sink = 0;
  const ms = best(() => {
    for (let i = 0; i < ops; i++) if (fn(policy, requests[i % requests.length]).action === 'deny') sink++;
  });
  if (sink < 0) console.log(sink);
  return { perSec: Math.round((ops / ms) * 1000), nsPerOp: Math.round((ms * 1e6) / ops) };
}

const req = (host, extra = {}) => ({ host, port: 443, scheme: 'https', method: 'CONNECT', clientIp: '10.1.2.3', ...extra });

function thousandRules() {
  const rules = [];
  for (let i = 0; i < 1000; i++) {
    const d = `site${i}.example`;
    let cond;
    if (i % 50 === 7) cond = `hosts: ["cdn-*.${d}"]`; // 20 real globs: never indexed
    else if (i % 25 === 3) cond = `users: [user${i}]\n    groups: [group${i}]`; // 40 identity rules
    else if (i % 25 === 4) cond = `sources: [10.${i % 256}.0.0/16]\n    ports: [8443]`; // 40 source rules
    else if (i % 3 === 0) cond = `hosts: [${d}, www.${d}]`;
    else if (i % 3 === 1) cond = `hosts: ["*.${d}"]\n    methods: [CONNECT, GET]`;
    else cond = `hosts: [.${d}]\n    paths: ["/private/**"]\n    onUnknownPath: match`;
    rules.push(`  - id: r${i}\n    ${cond}\n    action: ${i % 2 ? 'deny' : 'allow'}`);
  }
  return `version: 1\nrules:\n${rules.join('\n')}\n  - id: default\n    action: allow\n`;
}

async function main() {
  const dir = await mkdtemp(join(tmpdir(), 'egressd-bench-'));
  const rows = [];
  try {
    // 1. 1,000 rules
    await writeFile(join(dir, 'rules.yaml'), thousandRules());
    let policy;
    const loadMs = await timeAsync(async () => (policy = await loadPolicy([join(dir, 'rules.yaml')])));
    rows.push(['1,000 rules', 'load + compile', `${loadMs.toFixed(0)} ms`, '']);
    rows.push(['1,000 rules', `index: ${policy.index.always.length} rules always tried`, '', '']);
    const cases = [
      ['match early (rule 0)', [req('site0.example')]],
      ['match late (rule 998)', [req('www.site998.example')]],
      ['subdomain rule', [req('a.b.site500.example')]],
      ['no match -> default', [req('unknown.example.org')]],
      ['mixed 1,000 hosts', Array.from({ length: 1000 }, (_, i) => req(i % 4 ? `x.site${i}.example` : `other${i}.test`, { user: `user${i}` }))],
    ];
    for (const [name, requests] of cases) {
      const m = measure(policy, requests);
      rows.push(['1,000 rules', `decide: ${name}`, `${fmt(m.perSec)} /s`, `${m.nsPerOp} ns`]);
    }
    const e = measure(policy, [req('unknown.example.org')], quick ? 500 : 2000, (p, f) => explain(p, f).verdict);
    rows.push(['1,000 rules', 'explain (linear walk, all conditions)', `${fmt(e.perSec)} /s`, `${e.nsPerOp} ns`]);

    // 2. 1,000,000-domain list
    const lines = ['# generated for bench/policy-decide.mjs'];
    for (let i = 0; i < LIST_SIZE; i++) lines.push(`d${i}.cat${i % 211}.example`);
    await writeFile(join(dir, 'big.txt'), lines.join('\n'));
    lines.length = 0;
    await writeFile(
      join(dir, 'list.yaml'),
      'version: 1\nlists:\n  big: { file: big.txt }\nrules:\n  - id: big\n    domainLists: [big]\n    action: deny\n  - id: default\n    action: allow\n',
    );
    let listPolicy;
    const listMs = await timeAsync(async () => (listPolicy = await loadPolicy([join(dir, 'list.yaml')])));
    rows.push(['1M-domain list', 'load (read + parse + index)', `${listMs.toFixed(0)} ms`, '']);
    const hits = Array.from({ length: 1000 }, (_, i) => req(`www.d${i * 997}.cat${(i * 997) % 211}.example`));
    const misses = Array.from({ length: 1000 }, (_, i) => req(`www.d${i}.nothere${i}.example`));
    for (const [name, requests] of [
      ['decide: hit (subdomain of an entry)', hits],
      ['decide: miss', misses],
    ]) {
      const m = measure(listPolicy, requests);
      rows.push(['1M-domain list', name, `${fmt(m.perSec)} /s`, `${m.nsPerOp} ns`]);
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  print(rows);
}

async function timeAsync(fn) {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

function fmt(n) {
  return n.toLocaleString('en-US');
}

function print(rows) {
  const head = ['policy', 'measure', 'rate / time', 'per op'];
  const all = [head, ...rows];
  const widths = head.map((_, c) => Math.max(...all.map((r) => String(r[c]).length)));
  const line = (r) => `| ${r.map((v, c) => (c >= 2 ? String(v).padStart(widths[c]) : String(v).padEnd(widths[c]))).join(' | ')} |`;
  console.log(line(head));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const r of rows) console.log(line(r));
  console.log(`\nnode ${process.version}, best of ${RUNS} runs, ${fmt(OPS)} decisions per run`);
}

await main();
