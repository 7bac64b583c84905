import { execFile } from 'node:child_process';
import bcrypt from 'bcryptjs';
import type { LogLine, LogSink } from './proxy.js';

/**
 * Helpers for the auth-* tests. Hashes use bcrypt cost 4 (the minimum) so tests stay
 * fast; the cost is part of the hash, so the proxy needs no setting for it.
 */
export function htpasswdLine(user: string, password: string, prefix: '$2y$' | '$2a$' | '$2b$' = '$2y$'): string {
  return `${user}:${prefix}${bcrypt.hashSync(password, 4).slice(4)}\n`;
}

export function htpasswd(users: Record<string, string>): string {
  return Object.entries(users).map(([u, p]) => htpasswdLine(u, p)).join('');
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

export interface CurlResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run curl (bounded in time); never rejects. */
export function curl(args: string[], timeoutMs = 10_000): Promise<CurlResult> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', String(timeoutMs / 1000), ...args], { timeout: timeoutMs + 2000, encoding: 'utf8' }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: unknown }).code as number | undefined) ?? null : 0;
      resolve({ code: typeof code === 'number' ? code : null, stdout, stderr });
    });
  });
}

/** Every line of both logs, as text: to check a secret never appears in them. */
export function allLogText(...sinks: LogSink[]): string {
  return sinks.flatMap((s) => s.lines.map((l: LogLine) => JSON.stringify(l))).join('\n');
}
