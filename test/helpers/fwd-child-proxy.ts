import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { baseConfig, merge, type LogLine } from './proxy.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** `npm test` compiles first; a bare `vitest run` may not have: build dist/ when it is missing. */
export function ensureBuilt(): void {
  if (existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) return;
  execFileSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'inherit' });
}

export interface ChildProxy {
  child: ChildProcess;
  pid: number;
  port: number;
  /** Lines of the server log (stderr) and the access log (stdout), parsed. */
  serverLines: LogLine[];
  accessLines: LogLine[];
  /** Resident set size of the proxy process now, in bytes (VmRSS). */
  rss(): number;
  stop(): Promise<void>;
}

/** Run the real CLI (`node bin/egressd.js start -c FILE`) on port 0 and wait for its "listening on" line. */
export async function startChildProxy(overrides: Record<string, unknown> = {}, timeoutMs = 15_000): Promise<ChildProxy> {
  ensureBuilt();
  const dir = mkdtempSync(join(tmpdir(), 'egressd-child-'));
  const file = join(dir, 'egressd.yaml');
  writeFileSync(file, stringify(merge(merge(baseConfig(), { log: { access: 'stdout', server: 'stderr' } }), overrides)));
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'egressd.js'), 'start', '-c', file], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  const serverLines: LogLine[] = [];
  const accessLines: LogLine[] = [];
  const parse = (into: LogLine[]) => (line: string) => {
    try {
      into.push(JSON.parse(line) as LogLine);
    } catch {
      into.push({ level: 0, msg: line });
    }
  };
  createInterface({ input: child.stdout! }).on('line', parse(accessLines));
  const stderr = createInterface({ input: child.stderr! });
  stderr.on('line', parse(serverLines));
  const port = await new Promise<number>((resolve, reject) => {
    const t = setTimeout(() => fail(new Error(`egressd did not log "listening on" within ${timeoutMs} ms:\n${serverLines.map((l) => JSON.stringify(l)).join('\n')}`)), timeoutMs);
    const onLine = (): void => {
      const l = serverLines.find((x) => typeof x.msg === 'string' && x.msg.startsWith('listening on'));
      if (!l) return;
      clearTimeout(t);
      stderr.off('line', onLine);
      child.off('exit', onExit);
      resolve(Number(l.port));
    };
    const onExit = (code: number | null): void => fail(new Error(`egressd exited with ${code} before listening:\n${serverLines.map((l) => JSON.stringify(l)).join('\n')}`));
    function fail(e: Error): void {
      clearTimeout(t);
      child.kill('SIGKILL');
      reject(e);
    }
    stderr.on('line', onLine);
    child.once('exit', onExit);
  });
  const pid = child.pid!;
  return {
    child,
    pid,
    port,
    serverLines,
    accessLines,
    rss() {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : 0;
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // 'close' comes after stdout/stderr ended, so every log line has been read.
        const exited = once(child, 'close');
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(t);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Samples a value every `everyMs` and keeps the maximum. */
export class Sampler {
  max = 0;
  samples = 0;
  private readonly timer: NodeJS.Timeout;
  constructor(read: () => number, everyMs = 100) {
    const tick = (): void => {
      try {
        const v = read();
        this.samples++;
        if (v > this.max) this.max = v;
      } catch {
        // the process may have exited between samples
      }
    };
    tick();
    this.timer = setInterval(tick, everyMs);
  }
  stop(): void {
    clearInterval(this.timer);
  }
}
