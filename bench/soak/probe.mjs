// egressd seen from outside, for the soak driver (run.mjs; run by hand, never in CI):
// /proc figures of its process and listener, its SIGUSR2 snapshot, its access log.
import { closeSync, openSync, readFileSync, readSync, readdirSync, statSync } from 'node:fs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Readers for the egressd process `pid`, listening on 127.0.0.1:`port`, logging to `serverLog`. */
export function probe(pid, port, serverLog) {
  // Each reader answers null once the process is gone (egressd crashed): the verdict
  // then fails on missing figures instead of the driver dying with a stack trace.
  const orNull = (f) => (...args) => {
    try {
      return f(...args);
    } catch {
      return null;
    }
  };
  const rssKb = orNull(() => {
    const m = /^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  });
  const fdCount = orNull(() => readdirSync(`/proc/${pid}/fd`).length);
  /**
   * How long egressd's main thread (the event loop) has waited on a run queue for a CPU,
   * in seconds (/proc/PID/schedstat: run ns, wait ns, timeslices). On a quiet machine it
   * stays near 0; a large share means other processes took the CPU, and latency and
   * timeouts are then the machine's, not egressd's.
   */
  const cpuWaitSeconds = orNull(() => Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[1]) / 1e9);
  /** egressd's CPU time so far (utime + stime, all threads), in seconds. */
  const cpuSeconds = orNull(() => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // clock ticks: USER_HZ is 100 on Linux (getconf CLK_TCK)
  });
  const listenHex = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  /**
   * Connections waiting in the kernel to be accepted by egressd's listener (rx_queue of
   * its LISTEN line in /proc/net/tcp), and established connections to it: a proxy that
   * stops accepting shows a growing queue while keep-alive traffic still flows.
   */
  function listenerQueue() {
    let queue = null;
    let established = 0;
    for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f[1] !== listenHex) continue;
      if (f[3] === '0A') queue = parseInt(f[4].split(':')[1], 16);
      else if (f[3] === '01') established++;
    }
    return { queue, established };
  }

  let logOffset = statSync(serverLog).size;
  /** SIGUSR2 → one `egressd_stats` line on egressd's stderr (bench/egressd-hosts.mjs). */
  async function snapshot() {
    try {
      process.kill(pid, 'SIGUSR2');
    } catch {
      return null;
    }
    for (let i = 0; i < 20; i++) {
      await sleep(50);
      const size = statSync(serverLog).size;
      if (size <= logOffset) continue;
      const buf = Buffer.alloc(size - logOffset);
      const fd = openSync(serverLog, 'r');
      readSync(fd, buf, 0, buf.length, logOffset);
      closeSync(fd);
      const text = buf.toString('utf8');
      const end = text.lastIndexOf('\n');
      if (end < 0) continue;
      logOffset += Buffer.byteLength(text.slice(0, end + 1));
      const line = text.slice(0, end).split('\n').reverse().find((l) => l.includes('"egressd_stats"'));
      if (line) return JSON.parse(line).egressd_stats;
    }
    return null;
  }
  return { rssKb, fdCount, cpuWaitSeconds, cpuSeconds, listenerQueue, snapshot };
}

/** What egressd still tracks after the load: tunnels + requests + upstream requests (null if unknown). */
export const leftoverOf = (st) => (st ? (st.tunnels ?? 0) + (st.inflight ?? 0) + (st.upstream?.running ?? 0) : null);

/** Lines of the access log by message, and the error codes in them (expected: POLICY_DENIED). */
export function scanAccessLog(file) {
  const res = { lines: 0, msgs: {}, errors: {} };
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    res.unreadable = String(err.message);
    return res;
  }
  for (const line of text.split('\n')) {
    if (!line) continue;
    res.lines++;
    try {
      const j = JSON.parse(line);
      res.msgs[j.msg] = (res.msgs[j.msg] ?? 0) + 1;
      if (j.error) res.errors[j.error] = (res.errors[j.error] ?? 0) + 1;
    } catch {
      res.errors['(not JSON)'] = (res.errors['(not JSON)'] ?? 0) + 1;
    }
  }
  return res;
}
