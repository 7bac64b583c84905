import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ensureBuilt, startCli, type RunningCli } from './err-cli.js';
import { baseConfig, merge } from './proxy.js';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** One request through the proxy on a new connection (so node:cluster may pick another worker); never rejects. */
export function viaProxy(port: number, url: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve) => {
    const req = httpRequest({ host: '127.0.0.1', port, path: url, agent: false, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
      res.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    });
    req.setTimeout(10_000, () => req.destroy());
    req.on('error', () => resolve({ status: 0, headers: {}, body: '' }));
    req.end();
  });
}

/** GET on the admin listener. */
export function adminGet(port: number, path: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString() }));
    });
    req.setTimeout(10_000, () => req.destroy(new Error(`admin ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/**
 * `egressd start` with `workers: N` as a child process in a temp folder: the config is
 * the test base (loopback, port 0) plus the overrides; `write` replaces a file there.
 */
export class WorkersCluster {
  readonly dir = mkdtempSync(join(tmpdir(), 'egressd-workers-'));
  readonly configFile = join(this.dir, 'egressd.yaml');
  cli: RunningCli | null = null;

  write(name: string, text: string): string {
    const file = join(this.dir, name);
    writeFileSync(file, text);
    return file;
  }

  writeConfig(over: Record<string, unknown>): void {
    writeFileSync(this.configFile, stringify(merge(baseConfig(), over)));
  }

  async start(over: Record<string, unknown>): Promise<RunningCli> {
    ensureBuilt();
    this.writeConfig(over);
    // Forking and starting several workers on a busy 2-core machine takes a few seconds.
    this.cli = await startCli(this.configFile, { cwd: this.dir, timeoutMs: 30_000 });
    return this.cli;
  }

  /** Parsed lines of a log file and its rotated (uncompressed) siblings; throws on a torn line. */
  lines(name: string): Record<string, unknown>[] {
    const files = readdirSync(this.dir).filter((n) => n === name || (n.startsWith(`${name}.`) && !n.endsWith('.gz') && !n.endsWith('.tmp')));
    const out: Record<string, unknown>[] = [];
    for (const f of files.sort()) {
      const file = join(this.dir, f);
      if (!existsSync(file)) continue;
      for (const l of readFileSync(file, 'utf8').split('\n')) {
        if (l) out.push(JSON.parse(l) as Record<string, unknown>);
      }
    }
    return out;
  }

  rotatedFiles(name: string): string[] {
    return readdirSync(this.dir).filter((n) => n.startsWith(`${name}.`));
  }

  /** Kill what is left (by PID) and remove the folder. */
  async close(): Promise<void> {
    const cli = this.cli;
    if (cli && cli.child.exitCode === null && cli.child.signalCode === null) {
      process.kill(cli.pid, 'SIGTERM');
      const t = setTimeout(() => cli.kill(), 10_000);
      await cli.exited;
      clearTimeout(t);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Poll `f` every 50 ms until it returns true (or throw after `ms`). */
export async function until(f: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
