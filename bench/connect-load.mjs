#!/usr/bin/env node
// Load generator for the CONNECT workloads of bench/run.sh (run by hand, never in CI).
//
// N concurrent loops, each repeating until the deadline:
//   tunnel mode: connect to the proxy, send "CONNECT target HTTP/1.1", read the 200,
//                [TLS handshake inside the tunnel], send one GET, read the whole
//                response (Content-Length), close.
//   direct mode: connect to the target, [TLS handshake], send one GET, read the whole
//                response, close.
// Every operation uses a new connection. Only loopback addresses are accepted.
//
// Usage:
//   node bench/connect-load.mjs --mode tunnel|direct [--tls] [--proxy 127.0.0.1:3128]
//        --target 127.0.0.1:8080 --path /1k --conns 16 --duration 10 [--out FILE]
// Prints (or writes to --out) one JSON object: completed operations, body bytes
// received before the deadline, errors by kind, latency percentiles in ms.

import net from 'node:net';
import tls from 'node:tls';
import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

function parseArgs(argv) {
  const opts = { mode: 'tunnel', tls: false, conns: 16, duration: 10, path: '/1k' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`missing value for ${a}`);
      return v;
    };
    switch (a) {
      case '--mode': opts.mode = next(); break;
      case '--tls': opts.tls = true; break;
      case '--proxy': opts.proxy = next(); break;
      case '--target': opts.target = next(); break;
      case '--path': opts.path = next(); break;
      case '--conns': opts.conns = Number(next()); break;
      case '--duration': opts.duration = Number(next()); break;
      case '--out': opts.out = next(); break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (opts.mode !== 'tunnel' && opts.mode !== 'direct') throw new Error('--mode must be tunnel or direct');
  if (!opts.target) throw new Error('--target is required');
  if (opts.mode === 'tunnel' && !opts.proxy) throw new Error('--proxy is required in tunnel mode');
  if (!(opts.conns >= 1) || !(opts.duration > 0)) throw new Error('--conns and --duration must be positive');
  return opts;
}

/** "127.0.0.1:80" or "[::1]:80" -> { host, port, authority }; loopback only (bench network rule). */
function hostPort(s) {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(s);
  if (!m) throw new Error(`bad host:port ${s}`);
  const host = m[1] ?? m[2];
  if (host !== '127.0.0.1' && host !== '::1') throw new Error(`refusing non-loopback address ${host}`);
  return { host, port: Number(m[3]), authority: s };
}

const opts = parseArgs(process.argv.slice(2));
const target = hostPort(opts.target);
const proxy = opts.mode === 'tunnel' ? hostPort(opts.proxy) : undefined;

const CRLF2 = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;
const connectReq = Buffer.from(`CONNECT ${target.authority} HTTP/1.1\r\nHost: ${target.authority}\r\n\r\n`);
const getReq = Buffer.from(`GET ${opts.path} HTTP/1.1\r\nHost: ${target.authority}\r\nUser-Agent: egressd-bench\r\n\r\n`);

const stats = {
  completed: 0,
  bytes: 0,
  errors: { connect: 0, status: 0, io: 0, short: 0, parse: 0 },
  firstError: undefined,
};
const latencies = [];
const live = new Set();
let stopped = false;

function fail(kind, err) {
  if (stopped) return;
  stats.errors[kind]++;
  if (stats.firstError === undefined) stats.firstError = `${kind}: ${err?.message ?? err}`;
}

/**
 * Reads one HTTP response head from `sock`, then (if wantBody) counts body bytes up
 * to Content-Length. Calls done(err, status) once.
 */
function readResponse(sock, wantBody, done) {
  let head = Buffer.alloc(0);
  let remaining = -1;
  let status = 0;
  let finished = false;
  const finish = (err, status) => {
    if (finished) return;
    finished = true;
    sock.removeListener('data', onData);
    done(err, status);
  };
  function onData(chunk) {
    if (remaining < 0) {
      head = head.length ? Buffer.concat([head, chunk]) : chunk;
      const end = head.indexOf(CRLF2);
      if (end < 0) {
        if (head.length > MAX_HEAD) finish(new Error('response head too large'), 0);
        return;
      }
      const text = head.subarray(0, end).toString('latin1');
      const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
      if (!m) return finish(new Error(`bad status line: ${text.slice(0, 60)}`), 0);
      status = Number(m[1]);
      const rest = head.subarray(end + 4);
      head = Buffer.alloc(0);
      if (!wantBody) {
        if (rest.length) sock.unshift(rest);
        return finish(undefined, status);
      }
      const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(text);
      if (!cl) return finish(new Error('response without Content-Length'), status);
      remaining = Number(cl[1]);
      chunk = rest;
      if (!stopped) stats.bytes += chunk.length;
      remaining -= chunk.length;
      if (remaining <= 0) finish(undefined, status);
      return;
    }
    if (!stopped) stats.bytes += chunk.length;
    remaining -= chunk.length;
    if (remaining <= 0) finish(undefined, status);
  }
  sock.on('data', onData);
  sock.once('end', () => finish(new Error('connection closed before the response ended'), -1));
}

/** One operation: returns a promise that always resolves (errors are counted). */
function once() {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const first = proxy ?? target;
    const raw = net.connect({ host: first.host, port: first.port, noDelay: true });
    live.add(raw);
    let settled = false;
    const settle = (ok) => {
      if (settled) return;
      settled = true;
      if (ok && !stopped) {
        stats.completed++;
        latencies.push(performance.now() - t0);
      }
      raw.destroy();
      live.delete(raw);
      // After a failure, back off a little so a refusing target does not spin the CPU.
      if (ok) resolve();
      else setTimeout(resolve, 10);
    };
    raw.on('error', (err) => {
      if (!settled) fail(raw.connecting ? 'connect' : 'io', err);
      settle(false);
    });
    raw.on('close', () => {
      if (!settled) fail('short', new Error('closed early'));
      settle(false);
    });

    const request = (sock) => {
      sock.write(getReq);
      readResponse(sock, true, (err, status) => {
        if (err) {
          fail(status === -1 ? 'short' : 'parse', err);
          return settle(false);
        }
        if (status !== 200) {
          fail('status', new Error(`GET status ${status}`));
          return settle(false);
        }
        settle(true);
      });
    };

    const afterTcp = () => {
      if (!opts.tls) return request(raw);
      const t = tls.connect({ socket: raw, rejectUnauthorized: false });
      t.on('error', (err) => {
        if (!settled) fail('io', err);
        t.destroy();
        settle(false);
      });
      t.once('secureConnect', () => request(t));
    };

    raw.once('connect', () => {
      if (!proxy) return afterTcp();
      raw.write(connectReq);
      readResponse(raw, false, (err, status) => {
        if (err) {
          fail(status === -1 ? 'short' : 'parse', err);
          return settle(false);
        }
        if (status !== 200) {
          fail('status', new Error(`CONNECT status ${status}`));
          return settle(false);
        }
        afterTcp();
      });
    });
  });
}

async function loop(deadline) {
  while (!stopped && performance.now() < deadline) await once();
}

function pct(sorted, p) {
  if (!sorted.length) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

const start = performance.now();
const deadline = start + opts.duration * 1000;
const loops = [];
const stopTimer = setTimeout(() => {
  stopped = true;
  for (const s of live) s.destroy();
}, opts.duration * 1000);
// Hard bound: never outlive the deadline by more than 10 s.
setTimeout(() => {
  console.error('connect-load: hard timeout, exiting');
  process.exit(3);
}, opts.duration * 1000 + 10_000).unref();

for (let i = 0; i < opts.conns; i++) loops.push(loop(deadline));
await Promise.all(loops);
clearTimeout(stopTimer);
stopped = true;
const elapsed = Math.min(performance.now(), deadline) - start;

latencies.sort((a, b) => a - b);
const mean = latencies.length ? latencies.reduce((a, b) => a + b, 0) / latencies.length : 0;
const result = {
  tool: 'connect-load',
  mode: opts.mode,
  tls: opts.tls,
  path: opts.path,
  conns: opts.conns,
  duration_s: elapsed / 1000,
  completed: stats.completed,
  bytes: stats.bytes,
  errors: stats.errors,
  first_error: stats.firstError ?? null,
  latency_ms: {
    mean: round(mean),
    p50: round(pct(latencies, 50)),
    p90: round(pct(latencies, 90)),
    p99: round(pct(latencies, 99)),
    max: round(latencies.at(-1) ?? 0),
  },
};
function round(x) {
  return Math.round(x * 1000) / 1000;
}
const json = JSON.stringify(result);
if (opts.out) writeFileSync(opts.out, json + '\n');
else console.log(json);
const errs = Object.values(stats.errors).reduce((a, b) => a + b, 0);
if (errs) console.error(`connect-load: ${errs} errors (${stats.firstError})`);
process.exit(0);
