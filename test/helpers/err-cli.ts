import { execFile, execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const BIN = fileURLToPath(new URL('../../bin/egressd.js', import.meta.url));

/** `npm test` builds dist/ before vitest; a bare `vitest run` may not have. */
export function ensureBuilt(): void {
  if (!existsSync(new URL('../../dist/cli/main.js', import.meta.url))) {
    execFileSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'inherit' });
  }
}

/** Run the CLI to completion (for --help, check-config…). */
export function runCli(args: string[], opts: { cwd?: string } = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, encoding: 'utf8', timeout: 15_000, env: { ...process.env, NO_COLOR: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Run the CLI to completion without blocking, so independent runs can overlap. */
export function runCliAsync(args: string[], opts: { cwd?: string } = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: opts.cwd ?? ROOT, encoding: 'utf8', timeout: 15_000, env: { ...process.env, NO_COLOR: '1' } }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      resolve({ status: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

export interface RunningCli {
  child: ChildProcess;
  pid: number;
  port: number;
  /** Everything written to stderr so far (the server log). */
  stderr(): string;
  stdout(): string;
  /** Server-log JSON lines so far. */
  serverLines(): Record<string, unknown>[];
  /** Resolves with the next (or an earlier) server-log line matching `pred`. */
  waitForLine(pred: (l: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  /** Resolves when the process exits, with its code and the time it exited (Date.now()). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  /** Kill by PID if still alive. */
  kill(): void;
}

function parseLines(text: string): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const l of text.split('\n')) {
    if (!l.startsWith('{')) continue;
    try {
      out.push(JSON.parse(l) as Record<string, unknown>);
    } catch {
      // partial line
    }
  }
  return out;
}

/**
 * Start `egressd start -c FILE` as a child process and wait for its "listening on" line.
 * `serverLogFile`: the config sends the server log to that file; it is read (polled) as
 * if it were stderr.
 */
export async function startCli(configFile: string, opts: { cwd?: string; timeoutMs?: number; serverLogFile?: string } = {}): Promise<RunningCli> {
  const child = spawn(process.execPath, [BIN, 'start', '-c', configFile], { cwd: opts.cwd ?? ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
  let err = '';
  let out = '';
  const listeners: (() => void)[] = [];
  child.stderr!.on('data', (c: Buffer) => {
    err += c.toString('utf8');
    for (const l of listeners) l();
  });
  if (opts.serverLogFile) {
    const file = opts.serverLogFile;
    let seen = 0;
    const poll = setInterval(() => {
      let text = '';
      try {
        text = readFileSync(file, 'utf8');
      } catch {
        return; // not created yet
      }
      if (text.length <= seen) return;
      err += text.slice(seen);
      seen = text.length;
      for (const l of listeners) l();
    }, 50);
    child.once('exit', () => clearInterval(poll));
  }
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() }));
  });
  const waitForLine = (pred: (l: Record<string, unknown>) => boolean, timeoutMs = 5000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): boolean => {
        const hit = parseLines(err).find(pred);
        if (hit) {
          resolve(hit);
          return true;
        }
        return false;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        listeners.splice(listeners.indexOf(probe), 1);
        reject(new Error(`no server-log line matched within ${timeoutMs} ms; stderr:\n${err}`));
      }, timeoutMs);
      const probe = (): void => {
        if (check()) {
          clearTimeout(timer);
          listeners.splice(listeners.indexOf(probe), 1);
        }
      };
      listeners.push(probe);
    });
  const kill = (): void => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  };
  let listening: Record<string, unknown>;
  try {
    listening = await Promise.race([
      waitForLine((l) => typeof l.msg === 'string' && l.msg.startsWith('listening on '), opts.timeoutMs ?? 10_000),
      exited.then((e) => {
        throw new Error(`egressd exited (${e.code}) before listening; stderr:\n${err}`);
      }),
    ]);
  } catch (e) {
    kill();
    throw e;
  }
  return {
    child,
    pid: child.pid!,
    port: Number(listening.port),
    stderr: () => err,
    stdout: () => out,
    serverLines: () => parseLines(err),
    waitForLine,
    exited,
    kill,
  };
}
