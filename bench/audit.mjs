#!/usr/bin/env node
// Throughput and memory of `egressd audit` (issue 8), run by hand, never in CI:
//
//   npx tsc && node bench/audit.mjs [lines=1000000] [distinctHosts=200000]
//
// Writes a synthetic access log of LINES lines (about 420 bytes each: 1M lines ~ 0.4 GB)
// with DISTINCTHOSTS destinations and 5,000 users into a temp dir, runs the CLI over it
// (plain, then gzip), and prints lines per second and the peak RSS of the audit process
// (sampled from /proc every 50 ms). Bounded memory means the peak does not grow with
// LINES: run it with 1M and 3M lines and compare.
import { spawn } from 'node:child_process';
import { createWriteStream, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';

const LINES = Number(process.argv[2] ?? 1_000_000);
const HOSTS = Number(process.argv[3] ?? 200_000);
const BIN = fileURLToPath(new URL('../bin/egressd.js', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'egressd-audit-bench-'));

async function writeLog(file) {
  const out = createWriteStream(file);
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) / 4294967296);
  for (let i = 0; i < LINES; i++) {
    const host = `h${Math.floor(rnd() ** 3 * HOSTS)}.example`; // skewed: a few hosts are hot
    const user = `user${Math.floor(rnd() * 5000)}`;
    const deny = rnd() < 0.03;
    const line = {
      level: deny ? 40 : 30, time: new Date(1764576000000 + i * 10).toISOString(), id: `b-${i.toString(36)}`, kind: 'http', client: '10.1.2.3', user,
      method: 'GET', url: `http://${host}/path/${i % 977}`, status: deny ? 403 : 200, bytesIn: 0, bytesOut: deny ? 0 : 1000 + (i % 5000), durationMs: 1.5,
      upstream: '10.9.9.9:80', error: deny ? 'POLICY_DENIED' : null, reason: null, tls: 'plain', sni: null, cache: i % 3 ? 'miss' : 'hit',
      decision: { action: deny ? 'deny' : 'allow', rule: deny ? 'no-social' : 'default', reason: 'r', mode: 'enforce' }, msg: 'request',
    };
    if (!out.write(`${JSON.stringify(line)}\n`)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
}

function run(file) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(process.execPath, [BIN, 'audit', '--format', 'json', file], { stdio: ['ignore', 'pipe', 'inherit'] });
    let peak = 0;
    const timer = setInterval(() => {
      try {
        const kb = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1] ?? 0);
        peak = Math.max(peak, kb);
      } catch {}
    }, 50);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearInterval(timer);
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (code !== 0) return reject(new Error(`audit exited ${code}`));
      const r = JSON.parse(out);
      resolve({ seconds: s, linesPerSec: r.lines / s, peakMb: peak / 1024, lines: r.lines });
    });
  });
}

try {
  const plain = join(dir, 'access.log');
  await writeLog(plain);
  const gz = `${plain}.gz`;
  await pipeline(createReadStream(plain), createGzip(), createWriteStream(gz));
  const rows = [];
  for (const [name, file] of [['plain', plain], ['gzip', gz]]) {
    const r = await run(file);
    rows.push(`| ${name} | ${(statSync(file).size / 1048576).toFixed(0)} MiB | ${r.lines.toLocaleString('en-US')} | ${r.seconds.toFixed(1)} s | ${Math.round(r.linesPerSec).toLocaleString('en-US')} | ${r.peakMb.toFixed(0)} MB |`);
  }
  console.log(`egressd audit over ${LINES.toLocaleString('en-US')} lines, ${HOSTS.toLocaleString('en-US')} distinct hosts, 5,000 users\n`);
  console.log('| input | size | lines | time | lines/s | peak RSS |\n|---|---:|---:|---:|---:|---:|');
  console.log(rows.join('\n'));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
