import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, ensureBuilt, ROOT } from './helpers/err-cli.js';

/** `egressd users add|passwd|del|list` as a child process, the password on stdin. */

let dir: string;
let config: string;
const users = (): string => join(dir, 'users.htpasswd');

function cli(args: string[], stdin = ''): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [BIN, 'users', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 15_000 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      resolve({ status: typeof code === 'number' ? code : null, stdout, stderr });
    });
    child.stdin!.end(stdin);
  });
}

/**
 * Run under a pseudo-terminal (util-linux `script`), answering each prompt when it
 * appears: what a person at a terminal does.
 */
function cliOnTty(args: string[], answers: string[]): Promise<{ status: number | null; out: string }> {
  return new Promise((resolve) => {
    const cmd = [process.execPath, BIN, 'users', ...args].map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
    const child = spawn('script', ['-qec', cmd, '/dev/null'], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let asked = 0;
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const prompts = (out.match(/password: /g) ?? []).length;
      while (asked < prompts && asked < answers.length) child.stdin.write(`${answers[asked++]}\n`);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ status: code, out });
    });
  });
}

function hashOf(user: string): string | undefined {
  const line = readFileSync(users(), 'utf8').split('\n').find((l) => l.startsWith(`${user}:`));
  return line?.slice(user.length + 1);
}

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'egressd-cli-users-'));
  config = join(dir, 'egressd.yaml');
  writeFileSync(config, 'auth:\n  users: users.htpasswd\n  groups:\n    staff: [alice]\n    admins: [alice]\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('egressd users', () => {
  it('add creates the file (mode 0600) with a $2y$ bcrypt hash of the password read from stdin', async () => {
    const r = await cli(['add', 'alice', '-c', config, '--cost', '4'], 'first-pw\n');
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('added user "alice"');
    expect(statSync(users()).mode & 0o777).toBe(0o600);
    const h = hashOf('alice')!;
    expect(h).toMatch(/^\$2y\$04\$/);
    expect(bcrypt.compareSync('first-pw', h)).toBe(true);
  });

  it('add refuses an existing user (exit 1) and an invalid name (exit 2)', async () => {
    const dup = await cli(['add', 'alice', '-c', config, '--cost', '4'], 'x\n');
    expect(dup.status).toBe(1);
    expect(dup.stderr).toMatch(/already exists/);
    const bad = await cli(['add', 'a:b', '-c', config], 'x\n');
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/cannot contain ":"/);
  });

  it('passwd replaces the hash in place and keeps comments and other users', async () => {
    writeFileSync(users(), `# managed by egressd\n${readFileSync(users(), 'utf8')}`);
    expect((await cli(['add', 'bob', '-c', config, '--cost', '4'], 'bob-pw\n')).status).toBe(0);
    const r = await cli(['passwd', 'alice', '-c', config, '--cost', '4'], 'second-pw\r\n');
    expect(r.status).toBe(0);
    const h = hashOf('alice')!;
    expect(bcrypt.compareSync('second-pw', h)).toBe(true);
    expect(bcrypt.compareSync('first-pw', h)).toBe(false);
    const text = readFileSync(users(), 'utf8');
    expect(text.startsWith('# managed by egressd\nalice:')).toBe(true);
    expect(text).toMatch(/\nbob:\$2y\$/);
  });

  it('list prints the users with their config groups', async () => {
    const r = await cli(['list', '-c', config]);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('alice\tadmins,staff\nbob\n');
  });

  it('del removes a user; deleting a missing one fails with exit 1', async () => {
    expect((await cli(['del', 'bob', '-c', config])).status).toBe(0);
    expect(hashOf('bob')).toBeUndefined();
    const again = await cli(['del', 'bob', '-c', config]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/no user "bob"/);
  });

  it('on a terminal, prompts twice without echoing the password', async () => {
    const r = await cliOnTty(['passwd', 'alice', '-c', config, '--cost', '4'], ['typed-on-tty', 'typed-on-tty']);
    expect(r.out).toContain('New password: ');
    expect(r.out).toContain('Re-type new password: ');
    expect(r.out).not.toContain('typed-on-tty');
    expect(r.status).toBe(0);
    expect(bcrypt.compareSync('typed-on-tty', hashOf('alice')!)).toBe(true);
  });

  it('on a terminal, refuses two different passwords and leaves the file alone', async () => {
    const before = hashOf('alice');
    const r = await cliOnTty(['passwd', 'alice', '-c', config, '--cost', '4'], ['one-pw', 'other-pw']);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/do not match/);
    expect(hashOf('alice')).toBe(before);
  });

  it('check-config reports a bad users file with file:line:col', async () => {
    const bad = join(dir, 'bad-users.yaml');
    writeFileSync(join(dir, 'bad.htpasswd'), 'x:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=\n');
    writeFileSync(bad, 'auth:\n  users: bad.htpasswd\n');
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) =>
      execFile(process.execPath, [BIN, 'check-config', '-c', bad], { encoding: 'utf8', timeout: 15_000 }, (err, _o, stderr) =>
        resolve({ status: err ? ((err as { code?: number }).code ?? null) : 0, stderr }),
      ),
    );
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${join(dir, 'bad.htpasswd')}:1:3: user "x": SHA-1`);
  });

  it('refuses an empty password', async () => {
    const r = await cli(['passwd', 'alice', '-c', config], '\n');
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/empty/);
  });

  it('--file works without a config, and an invalid file is reported with file:line', async () => {
    const other = join(dir, 'other');
    writeFileSync(other, 'ok:$apr1$.dZ.NcuC$fpn8QSTV2eAk2oeZjmckF.\n');
    const r = await cli(['list', '--file', other]);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`${other}:1:4: user "ok": Apache MD5`);
  });

  it('prints help, and exits 2 on usage errors', async () => {
    const help = await cli(['--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toMatch(/^Usage: egressd users add\|passwd\|del\|list/);
    expect((await cli([])).status).toBe(2);
    expect((await cli(['frob'])).status).toBe(2);
    expect((await cli(['add', '-c', config])).status).toBe(2);
    const noFile = join(dir, 'nofile.yaml');
    writeFileSync(noFile, 'proxy: { name: x }\n');
    const r = await cli(['list', '-c', noFile]);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/no auth.users/);
  });
});
