import { execFile, execFileSync } from 'node:child_process';
import { X509Certificate, createPrivateKey, generateKeyPairSync } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { BIN, ROOT } from './helpers/err-cli.js';

/**
 * `egressd ca init|show|export` run as the built CLI. Each test works in its own folder,
 * so the tests run concurrently: most of the cost is Node start-up and RSA key generation.
 */

const PASS_ENV = 'EGRESSD_TEST_CA_PASSPHRASE';
let root: string;
let seq = 0;

interface Run {
  status: number | null;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

function run(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const base = { ...process.env, NO_COLOR: '1', ...env };
  if (!(PASS_ENV in env)) delete base[PASS_ENV];
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { cwd: ROOT, encoding: 'buffer', timeout: 15_000, env: base }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: unknown }).code : 0;
      resolve({ status: typeof code === 'number' ? code : null, stdout: stdout.toString('utf8'), stdoutBytes: stdout, stderr: stderr.toString('utf8') });
    });
  });
}

/** A folder holding a config whose tls.ca.dir is <folder>/certs. */
function workspace(): { dir: string; config: string; certs: string; cert: string; key: string } {
  const dir = join(root, `ws${++seq}`);
  mkdirSync(dir);
  const certs = join(dir, 'certs');
  const config = join(dir, 'egressd.yaml');
  writeFileSync(
    config,
    [
      'listeners: [{ address: 127.0.0.1, port: 0 }]',
      'tls:',
      '  ca:',
      `    dir: ${JSON.stringify(certs)}`,
      `    passphraseEnv: ${PASS_ENV}`,
      '    commonName: egressd test CA',
      '    organization: Example Corp',
      '    validityDays: 30',
      '',
    ].join('\n'),
  );
  return { dir, config, certs, cert: join(certs, 'ca.pem'), key: join(certs, 'ca-key.pem') };
}

const mode = (file: string): number => statSync(file).mode & 0o777;

function opensslFingerprint(args: string[]): string {
  const out = execFileSync('openssl', ['x509', '-noout', '-fingerprint', '-sha256', ...args], { encoding: 'utf8' });
  return out.trim().split('=')[1]!;
}

/** An error report is a single line naming the code (tests match on the code, not the wording). */
function oneLineError(stderr: string): string {
  const lines = stderr.trim().split('\n');
  if (lines.length !== 1) throw new Error(`expected one line on stderr, got:\n${stderr}`);
  return lines[0]!;
}

beforeAll(() => {
  // `npm test` builds dist/ first; a bare `vitest run` may not have.
  if (!existsSync(join(ROOT, 'dist', 'cli', 'ca-commands.js'))) execFileSync('npx', ['tsc', '-p', '.'], { cwd: ROOT, stdio: 'inherit' });
  root = mkdtempSync(join(tmpdir(), 'egressd-cli-ca-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe.concurrent('egressd ca', () => {
  it('help: "ca --help", each command\'s --help, and usage errors exit 2', async ({ expect }) => {
    const [top, init, show, exp, none, unknown, badFormat, positional, badFlag, mainHelp] = await Promise.all([
      run(['ca', '--help']),
      run(['ca', 'init', '--help']),
      run(['ca', 'show', '-h']),
      run(['ca', 'export', '--help']),
      run(['ca']),
      run(['ca', 'frobnicate']),
      run(['ca', 'export', '--format', 'xml']),
      run(['ca', 'show', 'extra']),
      run(['ca', 'init', '--bogus']),
      run(['--help']),
    ]);
    expect(top.status).toBe(0);
    for (const c of ['init', 'show', 'export']) expect(top.stdout).toContain(c);
    expect(init.status).toBe(0);
    expect(init.stdout).toContain('Usage: egressd ca init');
    expect(init.stdout).toContain('--force');
    expect(show.status).toBe(0);
    expect(show.stdout).toContain('Usage: egressd ca show');
    expect(exp.status).toBe(0);
    expect(exp.stdout).toContain('--format pem|der');
    for (const r of [none, unknown, badFormat, positional, badFlag]) expect(r.status).toBe(2);
    expect(badFormat.stderr).toContain('--format');
    expect(mainHelp.stdout).toContain('egressd ca init|show|export');
  });

  it('init creates ca.pem and a 0600 ca-key.pem with the configured subject; re-init refuses; --force replaces', async ({ expect }) => {
    const ws = workspace();
    const first = await run(['ca', 'init', '-c', ws.config]);
    expect(first.status).toBe(0);
    expect(mode(ws.key)).toBe(0o600);
    const cert = new X509Certificate(readFileSync(ws.cert));
    expect(cert.ca).toBe(true);
    expect(cert.subject).toContain('CN=egressd test CA');
    expect(cert.subject).toContain('O=Example Corp');
    expect(Date.parse(cert.validTo) - Date.now()).toBeLessThanOrEqual(30 * 86_400_000);
    expect(readFileSync(ws.key, 'utf8')).toContain('-----BEGIN PRIVATE KEY-----'); // no passphrase set
    expect(first.stdout).toContain(cert.fingerprint256);
    expect(first.stdout).toContain('CN=egressd test CA');
    expect(first.stdout).toContain(ws.cert);
    expect(first.stdout).toContain(ws.key);

    const before = { cert: readFileSync(ws.cert, 'utf8'), key: readFileSync(ws.key, 'utf8') };
    const again = await run(['ca', 'init', '-c', ws.config]);
    expect(again.status).toBe(1);
    expect(oneLineError(again.stderr)).toMatch(/CA_EXISTS/);
    expect(again.stderr).toContain(ws.certs);
    expect(readFileSync(ws.cert, 'utf8')).toBe(before.cert);
    expect(readFileSync(ws.key, 'utf8')).toBe(before.key);

    const forced = await run(['ca', 'init', '-c', ws.config, '--force']);
    expect(forced.status).toBe(0);
    const replaced = new X509Certificate(readFileSync(ws.cert));
    expect(replaced.fingerprint256).not.toBe(cert.fingerprint256);
    expect(readFileSync(ws.key, 'utf8')).not.toBe(before.key);
    expect(replaced.checkPrivateKey(createPrivateKey(readFileSync(ws.key, 'utf8')))).toBe(true);
    expect(mode(ws.key)).toBe(0o600);
    expect(forced.stdout).toContain(replaced.fingerprint256);
    expect(forced.stderr).toContain(cert.fingerprint256); // names the CA devices must stop trusting
  });

  it('show prints the fingerprints openssl computes, validity and key mode (warning when loose); export pem equals ca.pem and der parses', async ({ expect }) => {
    const ws = workspace();
    expect((await run(['ca', 'init', '-c', ws.config])).status).toBe(0);
    const derFile = join(ws.dir, 'out', 'egressd-ca.cer');
    mkdirSync(join(ws.dir, 'out'));
    const [show, pem, der, derOut] = await Promise.all([
      run(['ca', 'show', '-c', ws.config]),
      run(['ca', 'export', '-c', ws.config]),
      run(['ca', 'export', '-c', ws.config, '--format', 'der']),
      run(['ca', 'export', '-c', ws.config, '--format', 'der', '--out', derFile]),
    ]);
    expect(show.status).toBe(0);
    expect(show.stderr).toBe('');
    const sha256 = opensslFingerprint(['-in', ws.cert]);
    expect(show.stdout).toMatch(new RegExp(`SHA-256:\\s+${sha256}$`, 'm'));
    const cert = new X509Certificate(readFileSync(ws.cert));
    expect(show.stdout).toMatch(new RegExp(`SHA-1:\\s+${cert.fingerprint}$`, 'm'));
    expect(show.stdout).toMatch(new RegExp(`serial:\\s+${cert.serialNumber}$`, 'm'));
    expect(show.stdout).toMatch(/subject:\s+CN=egressd test CA, O=Example Corp$/m);
    expect(show.stdout).toMatch(/issuer:\s+CN=egressd test CA, O=Example Corp$/m);
    expect(show.stdout).toMatch(/self-signed:\s+yes$/m);
    expect(show.stdout).toMatch(/not before:\s+\d{4}-\d\d-\d\dT/m);
    expect(show.stdout).toMatch(/not after:\s+\S+ \((29|30) days left\)$/m);
    expect(show.stdout).toContain(`${ws.key} (mode 0600, not encrypted)`);

    expect(pem.status).toBe(0);
    expect(pem.stdout).toBe(readFileSync(ws.cert, 'utf8'));
    expect(pem.stdout).not.toContain('PRIVATE KEY');

    expect(der.status).toBe(0);
    expect(der.stdoutBytes.equals(cert.raw)).toBe(true);
    expect(derOut.status).toBe(0);
    expect(mode(derFile)).toBe(0o644);
    expect(opensslFingerprint(['-inform', 'der', '-in', derFile])).toBe(sha256);

    chmodSync(ws.key, 0o644);
    const loose = await run(['ca', 'show', '-c', ws.config]);
    expect(loose.status).toBe(0);
    expect(loose.stdout).toContain('mode 0644');
    expect(loose.stderr).toMatch(/^warning: .*ca-key\.pem has mode 0644/);
  });

  it('a passphrase from the env variable encrypts the key; show needs it and names the code without it', async ({ expect }) => {
    const ws = workspace();
    const env = { [PASS_ENV]: 'correct horse battery staple' };
    const init = await run(['ca', 'init', '-c', ws.config], env);
    expect(init.status).toBe(0);
    expect(readFileSync(ws.key, 'utf8')).toContain('-----BEGIN ENCRYPTED PRIVATE KEY-----');
    expect(init.stdout).toContain(PASS_ENV);
    const [withPass, without, wrong, exportWithout] = await Promise.all([
      run(['ca', 'show', '-c', ws.config], env),
      run(['ca', 'show', '-c', ws.config]),
      run(['ca', 'show', '-c', ws.config], { [PASS_ENV]: 'wrong' }),
      run(['ca', 'export', '-c', ws.config]),
    ]);
    expect(withPass.status).toBe(0);
    expect(withPass.stdout).toContain('encrypted)');
    expect(withPass.stdout).toContain(new X509Certificate(readFileSync(ws.cert)).fingerprint256);
    for (const [r, code] of [[without, 'CA_PASSPHRASE_REQUIRED'], [wrong, 'CA_BAD_PASSPHRASE'], [exportWithout, 'CA_PASSPHRASE_REQUIRED']] as const) {
      expect(r.status).toBe(1);
      const line = oneLineError(r.stderr);
      expect(line).toContain(`[${code}]`);
      expect(line).toContain(ws.key);
      expect(line).toContain(PASS_ENV);
      expect(r.stdout).toBe('');
    }
  });

  it('show and export without a CA fail with one line naming the folder', async ({ expect }) => {
    const ws = workspace();
    const [show, exp] = await Promise.all([run(['ca', 'show', '-c', ws.config]), run(['ca', 'export', '-c', ws.config])]);
    for (const r of [show, exp]) {
      expect(r.status).toBe(1);
      const line = oneLineError(r.stderr);
      expect(line).toContain('[CA_UNREADABLE]');
      expect(line).toContain(ws.certs);
      expect(line).toContain('egressd ca init');
      expect(r.stdout).toBe('');
    }
  });

  it('a key that does not belong to the certificate, an unparsable key, or a missing cert fail with the code', async ({ expect }) => {
    const ws = workspace();
    expect((await run(['ca', 'init', '-c', ws.config])).status).toBe(0);
    // Three broken copies of that CA, checked at once.
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    const [mismatchWs, garbageWs, incompleteWs] = [workspace(), workspace(), workspace()];
    for (const w of [mismatchWs, garbageWs, incompleteWs]) mkdirSync(w.certs);
    copyFileSync(ws.cert, mismatchWs.cert);
    writeFileSync(mismatchWs.key, other, { mode: 0o600 });
    copyFileSync(ws.cert, garbageWs.cert);
    writeFileSync(garbageWs.key, 'not a key\n', { mode: 0o600 });
    copyFileSync(ws.key, incompleteWs.key);
    const [mismatch, garbage, incomplete] = await Promise.all(
      [mismatchWs, garbageWs, incompleteWs].map((w) => run(['ca', 'show', '-c', w.config])),
    );
    for (const [r, code, file] of [
      [mismatch, 'CA_KEY_MISMATCH', mismatchWs.key],
      [garbage, 'CA_UNREADABLE', garbageWs.key],
      [incomplete, 'CA_INCOMPLETE', incompleteWs.cert],
    ] as const) {
      expect(r.status).toBe(1);
      const line = oneLineError(r.stderr);
      expect(line).toContain(`[${code}]`);
      expect(line).toContain(file);
    }
  });
});
