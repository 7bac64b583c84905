#!/usr/bin/env node
// Load generator for the interception workloads of bench/intercept.sh (run by hand,
// never in CI).
//
// Every connection: connect to the proxy, "CONNECT 127.0.0.1:PORT", read the 200, then a
// TLS handshake inside the tunnel whose SNI is one of the bench host names (hN.bench):
// an intercepting proxy mints its certificate for that name. Direct mode skips the proxy
// and does the same TLS handshake with the origin.
//
//   keep-alive (--keepalive, W5): N connections, each opened once (CONNECT + TLS) and
//       then used for GET after GET until the deadline; connection i uses name i mod K
//       (a connection the server closes is reopened with the next name).
//   new handshake each (default, W6): N concurrent loops, each repeating CONNECT + TLS +
//       one GET + close; the names rotate over all operations.
//   --ops K: stop after K operations (W7: one loop, K never-seen names in a row).
//
// With --ca (the proxy's CA, or the origin's CA in direct mode) the certificate is verified
// against the SNI name, so a proxy that mints a wrong certificate shows up as errors,
// and every response must be 200 with a body of --expect-bytes bytes.
// Only loopback addresses are accepted.
//
// Usage:
//   node bench/intercept-load.mjs --mode tunnel|direct [--proxy 127.0.0.1:3128]
//        --target 127.0.0.1:8443 --names 'h%d.bench' --count 50 [--first 1]
//        [--keepalive] --conns 50 --duration 10 [--ops K] [--ca FILE] [--path /1k]
//        [--expect-bytes 1024] [--out FILE]
// BENCH_DEBUG_CUT=1: at the deadline, print the local port and phase (tcp, connect, tls,
// request) of every connection cut, to match against a proxy's leftover sockets.
// Prints (or writes to --out) one JSON object: completed requests, handshakes, errors by
// kind, latency percentiles in ms (per request; and per handshake: CONNECT sent or TCP
// connect started -> TLS established; and, without --keepalive, per operation: CONNECT
// started -> response complete).

import net from 'node:net';
import tls from 'node:tls';
import { readFileSync, writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';

function parseArgs(argv) {
  const opts = { mode: 'tunnel', keepalive: false, conns: 16, duration: 10, path: '/1k', names: 'h%d.bench', count: 50, first: 1, ops: 0, expectBytes: -1, timeout: 10 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`missing value for ${a}`);
      return v;
    };
    switch (a) {
      case '--mode': opts.mode = next(); break;
      case '--proxy': opts.proxy = next(); break;
      case '--target': opts.target = next(); break;
      case '--names': opts.names = next(); break;
      case '--count': opts.count = Number(next()); break;
      case '--first': opts.first = Number(next()); break;
      case '--keepalive': opts.keepalive = true; break;
      case '--conns': opts.conns = Number(next()); break;
      case '--duration': opts.duration = Number(next()); break;
      case '--ops': opts.ops = Number(next()); break;
      case '--ca': opts.ca = next(); break;
      case '--path': opts.path = next(); break;
      case '--expect-bytes': opts.expectBytes = Number(next()); break;
      case '--timeout': opts.timeout = Number(next()); break;
      case '--out': opts.out = next(); break;
      default: throw new Error(`unknown argument ${a}`);
    }
  }
  if (opts.mode !== 'tunnel' && opts.mode !== 'direct') throw new Error('--mode must be tunnel or direct');
  if (!opts.target) throw new Error('--target is required');
  if (opts.mode === 'tunnel' && !opts.proxy) throw new Error('--proxy is required in tunnel mode');
  if (!(opts.conns >= 1) || !(opts.duration > 0) || !(opts.count >= 1)) throw new Error('--conns, --duration and --count must be positive');
  if (!opts.names.includes('%d')) throw new Error('--names must contain %d');
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
const ca = opts.ca ? readFileSync(opts.ca) : undefined;

const names = Array.from({ length: opts.count }, (_, i) => opts.names.replace('%d', String(opts.first + i)));
const getReqs = names.map((n) => Buffer.from(`GET ${opts.path} HTTP/1.1\r\nHost: ${n}:${target.port}\r\nUser-Agent: egressd-bench\r\n\r\n`));
const connectReq = Buffer.from(`CONNECT ${target.authority} HTTP/1.1\r\nHost: ${target.authority}\r\n\r\n`);

const CRLF = Buffer.from('\r\n');
const CRLF2 = Buffer.from('\r\n\r\n');
const MAX_HEAD = 64 * 1024;

const stats = {
  requests: 0,
  handshakes: 0,
  bytes: 0,
  errors: { connect: 0, connect_status: 0, tls: 0, status: 0, body: 0, io: 0, short: 0, parse: 0, timeout: 0 },
  firstError: undefined,
};
const reqLat = [];
const hsLat = [];
const opLat = []; // new-handshake modes: CONNECT (or TCP connect) started -> response complete
const live = new Set();
let stopped = false;
let attempted = 0; // operations started (--ops)

function fail(kind, err) {
  if (stopped) return;
  stats.errors[kind]++;
  if (stats.firstError === undefined) stats.firstError = `${kind}: ${err?.message ?? err}`;
}

/**
 * Incremental HTTP/1.1 response parser (Content-Length or chunked). feed() returns
 * undefined while incomplete, or { status, bodyLength, close } once a response is complete;
 * bytes after it stay buffered (there should be none: no pipelining).
 */
class ResponseParser {
  constructor() {
    this.buf = Buffer.alloc(0);
    this.reset();
  }
  reset() {
    this.head = null;
    this.remaining = -1;
    this.chunked = false;
    this.body = 0;
  }
  feed(chunk) {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (!this.head) {
        const end = this.buf.indexOf(CRLF2);
        if (end < 0) {
          if (this.buf.length > MAX_HEAD) throw new Error('response head too large');
          return undefined;
        }
        const text = this.buf.subarray(0, end).toString('latin1');
        this.buf = this.buf.subarray(end + 4);
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
        if (!m) throw new Error(`bad status line: ${text.slice(0, 60)}`);
        const status = Number(m[1]);
        if (status >= 100 && status < 200) continue; // interim response
        const cl = /\r\ncontent-length:[ \t]*(\d+)/i.exec(text);
        this.chunked = /\r\ntransfer-encoding:[^\r]*chunked/i.test(text);
        const close = /\r\nconnection:[^\r]*close/i.test(text);
        this.head = { status, close };
        if (this.chunked) this.remaining = -1;
        else if (cl) this.remaining = Number(cl[1]);
        else throw new Error('response without Content-Length or chunked encoding');
      }
      if (!this.chunked) {
        const take = Math.min(this.remaining, this.buf.length);
        this.body += take;
        this.remaining -= take;
        this.buf = this.buf.subarray(take);
        if (this.remaining > 0) return undefined;
        return this.done();
      }
      // chunked: size line, data, CRLF ... 0 CRLF [trailers] CRLF
      if (this.remaining > 0) {
        const take = Math.min(this.remaining, this.buf.length);
        this.body += take;
        this.remaining -= take;
        this.buf = this.buf.subarray(take);
        if (this.remaining > 0) return undefined;
        this.remaining = -2; // expect the CRLF after the data
      }
      if (this.remaining === -2) {
        if (this.buf.length < 2) return undefined;
        this.buf = this.buf.subarray(2);
        this.remaining = -1;
      }
      const eol = this.buf.indexOf(CRLF);
      if (eol < 0) return undefined;
      const size = parseInt(this.buf.subarray(0, eol).toString('latin1'), 16);
      if (!(size >= 0)) throw new Error('bad chunk size');
      if (size === 0) {
        const end = this.buf.indexOf(CRLF2, eol - 2 >= 0 ? eol - 2 : 0);
        if (end < 0) return undefined;
        this.buf = this.buf.subarray(end + 4);
        return this.done();
      }
      this.buf = this.buf.subarray(eol + 2);
      this.remaining = size;
    }
  }
  done() {
    const r = { status: this.head.status, bodyLength: this.body, close: this.head.close };
    this.reset();
    return r;
  }
}

/**
 * Opens one connection (CONNECT + TLS, or TLS direct) for `name`. Resolves with the TLS
 * socket, or undefined after counting an error.
 */
function open(name) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const first = proxy ?? target;
    const raw = net.connect({ host: first.host, port: first.port, noDelay: true });
    raw.phase = 'tcp';
    live.add(raw);
    let settled = false;
    const settle = (sock, kind, err) => {
      if (settled) return;
      settled = true;
      if (!sock) {
        fail(kind, err);
        raw.destroy();
        live.delete(raw);
        // After a failure, back off a little so a refusing target does not spin the CPU.
        setTimeout(() => resolve(undefined), 10);
        return;
      }
      resolve(sock);
    };
    raw.setTimeout(opts.timeout * 1000, () => {
      settle(undefined, 'timeout', new Error(`no TLS connection after ${opts.timeout} s`));
    });
    raw.on('error', (err) => settle(undefined, raw.connecting ? 'connect' : 'io', err));
    raw.on('close', () => settle(undefined, 'short', new Error('closed during CONNECT or handshake')));

    const handshake = () => {
      raw.phase = 'tls';
      const t = tls.connect({ socket: raw, servername: name, ca, rejectUnauthorized: ca !== undefined, ALPNProtocols: ['http/1.1'] });
      t.on('error', (err) => {
        settle(undefined, 'tls', err);
        t.destroy();
      });
      t.once('secureConnect', () => {
        if (settled) return t.destroy();
        raw.setTimeout(0);
        if (!stopped) {
          stats.handshakes++;
          hsLat.push(performance.now() - t0);
        }
        t.removeAllListeners('error');
        live.delete(raw); // destroying the TLS socket destroys raw too
        settle(t);
      });
    };

    raw.once('connect', () => {
      if (!proxy) return handshake();
      raw.phase = 'connect';
      raw.write(connectReq);
      let head = Buffer.alloc(0);
      const onData = (chunk) => {
        head = head.length ? Buffer.concat([head, chunk]) : chunk;
        const end = head.indexOf(CRLF2);
        if (end < 0) {
          if (head.length > MAX_HEAD) settle(undefined, 'parse', new Error('CONNECT response head too large'));
          return;
        }
        raw.removeListener('data', onData);
        const text = head.subarray(0, end).toString('latin1');
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(text);
        if (!m) return settle(undefined, 'parse', new Error(`bad CONNECT status line: ${text.slice(0, 60)}`));
        if (m[1] !== '200') return settle(undefined, 'connect_status', new Error(`CONNECT status ${m[1]}`));
        const rest = head.subarray(end + 4);
        if (rest.length) raw.unshift(rest);
        handshake();
      };
      raw.on('data', onData);
    });
  });
}

/**
 * GET after GET on one TLS connection until the deadline (or one GET if `once`).
 * Resolves true if the connection is still good, false after an error or a close.
 */
function serve(sock, nameIndex, once) {
  return new Promise((resolve) => {
    const parser = new ResponseParser();
    let t0 = 0;
    let settled = false;
    const settle = (ok, kind, err) => {
      if (settled) return;
      settled = true;
      if (!ok && kind) fail(kind, err);
      sock.removeListener('data', onData);
      if (!ok || once || stopped) {
        sock.destroy();
        live.delete(sock);
      }
      resolve(ok);
    };
    const send = () => {
      sock.phase = 'request';
      t0 = performance.now();
      sock.write(getReqs[nameIndex]);
    };
    function onData(chunk) {
      let r;
      try {
        r = parser.feed(chunk);
      } catch (err) {
        return settle(false, 'parse', err);
      }
      if (!r) return;
      if (r.status !== 200) return settle(false, 'status', new Error(`GET status ${r.status}`));
      if (opts.expectBytes >= 0 && r.bodyLength !== opts.expectBytes) return settle(false, 'body', new Error(`body of ${r.bodyLength} bytes, expected ${opts.expectBytes}`));
      if (!stopped) {
        stats.requests++;
        stats.bytes += r.bodyLength;
        reqLat.push(performance.now() - t0);
      }
      if (once || stopped) return settle(true);
      if (r.close) return settle(true); // the server ends the connection: reopen
      send();
    }
    sock.on('data', onData);
    sock.on('error', (err) => settle(false, 'io', err));
    sock.on('close', () => settle(false, 'short', new Error('connection closed before the response ended')));
    sock.setTimeout(opts.timeout * 1000, () => settle(false, 'timeout', new Error(`no response within ${opts.timeout} s`)));
    send();
  });
}

const canStart = () => !stopped && performance.now() < deadline && (opts.ops === 0 || attempted < opts.ops);

async function keepAliveLoop(i) {
  let k = 0;
  while (canStart()) {
    attempted++;
    const idx = (i + k * opts.conns) % names.length;
    k++;
    const sock = await open(names[idx]);
    if (!sock) continue;
    live.add(sock);
    await serve(sock, idx, false);
  }
}

let rotate = 0;
async function handshakeLoop() {
  while (canStart()) {
    attempted++;
    const idx = rotate++ % names.length;
    const t0 = performance.now();
    const sock = await open(names[idx]);
    if (!sock) continue;
    live.add(sock);
    if ((await serve(sock, idx, true)) && !stopped) opLat.push(performance.now() - t0);
  }
}

function pct(sorted, p) {
  if (!sorted.length) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
function summary(xs) {
  xs.sort((a, b) => a - b);
  const mean = xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0;
  return { mean: round(mean), p50: round(pct(xs, 50)), p90: round(pct(xs, 90)), p99: round(pct(xs, 99)), max: round(xs.at(-1) ?? 0) };
}
function round(x) {
  return Math.round(x * 1000) / 1000;
}

const start = performance.now();
const deadline = start + opts.duration * 1000;
let endedAt = 0;
const stopTimer = setTimeout(() => {
  endedAt = performance.now();
  stopped = true;
  if (process.env.BENCH_DEBUG_CUT === '1') {
    for (const s of live) console.error(`cut: local port ${s.localPort ?? s._parent?.localPort ?? '?'} in phase ${s.phase}`);
  }
  for (const s of live) s.destroy();
}, opts.duration * 1000);
// Hard bound: never outlive the deadline by more than 15 s.
setTimeout(() => {
  console.error('intercept-load: hard timeout, exiting');
  process.exit(3);
}, opts.duration * 1000 + 15_000).unref();

const loops = [];
for (let i = 0; i < opts.conns; i++) loops.push(opts.keepalive ? keepAliveLoop(i) : handshakeLoop());
await Promise.all(loops);
clearTimeout(stopTimer);
if (!endedAt) endedAt = performance.now();
stopped = true;
for (const s of live) s.destroy();
const elapsed = Math.min(endedAt, deadline) - start;

const result = {
  tool: 'intercept-load',
  mode: opts.mode,
  keepalive: opts.keepalive,
  path: opts.path,
  conns: opts.conns,
  names: `${names[0]} .. ${names.at(-1)} (${names.length})`,
  verified: ca !== undefined,
  duration_s: elapsed / 1000,
  requests: stats.requests,
  handshakes: stats.handshakes,
  bytes: stats.bytes,
  errors: stats.errors,
  first_error: stats.firstError ?? null,
  latency_ms: summary(reqLat),
  handshake_ms: summary(hsLat),
  op_ms: summary(opLat),
};
const json = JSON.stringify(result);
if (opts.out) writeFileSync(opts.out, json + '\n');
else console.log(json);
const errs = Object.values(stats.errors).reduce((a, b) => a + b, 0);
if (errs) console.error(`intercept-load: ${errs} errors (${stats.firstError})`);
process.exit(0);
