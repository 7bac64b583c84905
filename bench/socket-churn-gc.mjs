#!/usr/bin/env node
// How much of a bare node:net server's young garbage V8 promotes when every connection
// is new (run by hand, never in CI; loopback only). It backs the claim in
// docs/benchmarks.md (session 10) that connection churn promotes closed sockets in Node
// itself, with no egressd code involved.
//
//   node bench/socket-churn-gc.mjs [--seconds 4] [--conns 4]
//
// For each server variant, a server process runs with --trace-gc-nvp and a 4 MiB
// semi-space (egressd's default), a client process opens connections back to back
// (--conns at a time) for --seconds, and the table shows the server's median bytes
// promoted per young collection, against the bytes allocated in between.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { fileURLToPath } from 'node:url';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};

const ANSWER = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const VARIANTS = {
  'keep-alive: one connection, many answers (baseline)': (s) => s.on('data', () => s.write(ANSWER)),
  'new connection: accept, destroy at once': (s) => s.destroy(),
  'new connection: accept, answer, end': (s) => s.on('data', () => s.end(ANSWER)),
};
const KEEP_ALIVE = 'keep-alive: one connection, many answers (baseline)';

const [role, variant, portArg, seconds, conns] = args;
if (role === 'server') {
  const server = net.createServer((s) => {
    s.on('error', () => {});
    VARIANTS[variant](s);
  });
  server.listen(0, '127.0.0.1', () => process.send(server.address().port));
  process.on('disconnect', () => process.exit(0));
} else if (role === 'client') {
  const port = Number(portArg);
  const end = Date.now() + Number(seconds) * 1000;
  let n = 0;
  let open = Number(conns);
  const loop = () => {
    if (Date.now() > end) {
      if (--open === 0) {
        process.stdout.write(String(n));
        process.exit(0);
      }
      return;
    }
    const ask = () => c.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const c = net.connect(port, '127.0.0.1', ask);
    c.on('error', () => {});
    c.on('close', () => { n++; loop(); });
    if (variant === KEEP_ALIVE) {
      c.on('data', () => {
        n++;
        if (Date.now() <= end) ask();
        else c.destroy();
      });
    } else c.on('data', () => {});
  };
  for (let i = 0; i < open; i++) loop();
} else {
  const self = fileURLToPath(import.meta.url);
  const secs = opt('seconds', 4);
  const nconns = opt('conns', 4);
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
  console.log(`| server | exchanges/s | young GCs | allocated per GC, KB | promoted per GC, KB | promoted/allocated |`);
  console.log(`|---|---:|---:|---:|---:|---:|`);
  for (const v of Object.keys(VARIANTS)) {
    const server = spawn(process.execPath, ['--max-semi-space-size=4', '--trace-gc-nvp', self, 'server', v], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'] });
    let out = '';
    server.stdout.on('data', (d) => { out += d; });
    const port = await new Promise((resolve) => server.once('message', resolve));
    const client = spawn(process.execPath, [self, 'client', v, String(port), String(secs), String(nconns)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let count = '';
    client.stdout.on('data', (d) => { count += d; });
    await new Promise((resolve) => client.once('exit', resolve));
    server.disconnect();
    await new Promise((resolve) => server.once('exit', resolve));
    // Skip the first second's collections (start-up), keep the scavenges.
    const gcs = out.split('\n').filter((l) => / gc=s /.test(l)).map((l) => Object.fromEntries(l.split(' ').map((kv) => kv.split('='))));
    const steady = gcs.slice(Math.floor(gcs.length / 4));
    const alloc = median(steady.map((g) => Number(g.allocated)));
    const prom = median(steady.map((g) => Number(g.promoted)));
    console.log(`| ${v} | ${Math.round(Number(count) / secs)} | ${steady.length} | ${(alloc / 1024).toFixed(0)} | ${(prom / 1024).toFixed(0)} | ${(prom / alloc * 100).toFixed(0)}% |`);
  }
}
