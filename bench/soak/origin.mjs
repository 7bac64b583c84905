#!/usr/bin/env node
// The soak's origins (bench/soak.sh; run by hand, never in CI): one plain-HTTP and one
// HTTPS node server on 127.0.0.1, serving the same paths:
//
//   /small    1 KiB, Cache-Control: no-store (forwarded every time, never cached)
//   /64k      64 KiB, no-store
//   /cached   4 KiB, Cache-Control: public, max-age=3600 (RFC 9111 §5.2.2.1): after the
//             first request egressd answers it from its cache (X-Cache: HIT)
//   /slow     1 KiB after SLOW_MS (250) ms, no-store: requests that stay in flight
//
// Anything else is a 404. The bodies are fixed bytes, so a client can check the length.
// Counts requests per path; prints them as one JSON line on stdout at SIGTERM, then exits.
//
//   node bench/soak/origin.mjs --http-port N --https-port N --cert FILE --key FILE [--slow-ms 250]
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    'http-port': { type: 'string' },
    'https-port': { type: 'string' },
    cert: { type: 'string' },
    key: { type: 'string' },
    'slow-ms': { type: 'string', default: '250' },
  },
});
const httpPort = Number(values['http-port']);
const httpsPort = Number(values['https-port']);
const slowMs = Number(values['slow-ms']);
if (!httpPort || !httpsPort || !values.cert || !values.key || !(slowMs >= 0)) {
  process.stderr.write('usage: node bench/soak/origin.mjs --http-port N --https-port N --cert FILE --key FILE [--slow-ms 250]\n');
  process.exit(2);
}

const NO_STORE = 'no-store';
const ROUTES = {
  '/small': { body: Buffer.alloc(1024, 's'), cacheControl: NO_STORE, delay: 0 },
  '/64k': { body: Buffer.alloc(64 * 1024, 'k'), cacheControl: NO_STORE, delay: 0 },
  '/cached': { body: Buffer.alloc(4 * 1024, 'c'), cacheControl: 'public, max-age=3600', delay: 0 },
  '/slow': { body: Buffer.alloc(1024, 'w'), cacheControl: NO_STORE, delay: slowMs },
};
const counts = {};
const timers = new Set();

function handle(req, res) {
  const path = (req.url ?? '').split('?')[0];
  const route = ROUTES[path];
  counts[path in ROUTES ? path : 'other'] = (counts[path in ROUTES ? path : 'other'] ?? 0) + 1;
  req.resume();
  if (!route) {
    res.writeHead(404, { 'content-type': 'text/plain', 'cache-control': NO_STORE });
    res.end('not found\n');
    return;
  }
  const send = () => {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': route.body.length, 'cache-control': route.cacheControl });
    res.end(route.body);
  };
  if (!route.delay) return send();
  const t = setTimeout(() => {
    timers.delete(t);
    if (!res.destroyed) send();
  }, route.delay);
  timers.add(t);
  res.once('close', () => {
    clearTimeout(t);
    timers.delete(t);
  });
}

const plain = http.createServer(handle);
const tls = https.createServer({ cert: readFileSync(values.cert), key: readFileSync(values.key) }, handle);
for (const s of [plain, tls]) {
  // Node's default (5 s, sent as Keep-Alive: timeout=5): egressd's pool keeps its upstream
  // connections for about 3 s after the last request, so they are gone soon after the load.
  s.keepAliveTimeout = 5000;
  s.on('clientError', (_err, sock) => sock.destroy());
}
await Promise.all([
  new Promise((resolve, reject) => plain.once('error', reject).listen(httpPort, '127.0.0.1', resolve)),
  new Promise((resolve, reject) => tls.once('error', reject).listen(httpsPort, '127.0.0.1', resolve)),
]);
process.stderr.write(`soak origin: http 127.0.0.1:${httpPort}, https 127.0.0.1:${httpsPort}\n`);

const stop = () => {
  process.stdout.write(`${JSON.stringify({ origin_requests: counts })}\n`);
  for (const t of timers) clearTimeout(t);
  for (const s of [plain, tls]) {
    s.close();
    s.closeAllConnections();
  }
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
