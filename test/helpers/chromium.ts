import { spawn } from 'node:child_process';

export const CHROMIUM = '/usr/bin/chromium';

/** Headless flags that work on Debian's chromium here (shared/FACTS.md). */
export const HEADLESS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

export interface ChromiumRun {
  stdout: string;
  stderr: string;
  code: number | null;
}

/**
 * Run headless chromium with `args` (a fresh --user-data-dir is the caller's) and HOME
 * set to `home`, without any proxy variables. It runs in its own process group, which
 * is killed by its id when it hangs past `timeoutMs` and again when it exits, so no
 * helper process (zygote, renderers) outlives the test.
 */
export function runChromium(args: string[], home: string, timeoutMs = 45_000): Promise<ChromiumRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, HOME: home };
  for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY']) delete env[k];
  return new Promise((resolve, reject) => {
    const child = spawn(CHROMIUM, [...HEADLESS, ...args], { env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const killGroup = (): void => {
      if (!child.pid) return;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // the group is already gone
      }
    };
    const timer = setTimeout(() => {
      killGroup();
      reject(new Error(`chromium did not finish within ${timeoutMs} ms; stderr tail:\n${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      killGroup();
      resolve({ stdout, stderr, code });
    });
  });
}
