import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ProxyAgent, request } from 'undici';
import { stringify } from 'yaml';
import { ensureBuilt, ROOT, runCliAsync, startCli, type RunningCli } from './helpers/err-cli.js';
import { startOrigin, type Origin } from './helpers/origin.js';

const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };

let dir: string;

// Config files the check-config tests read, written before any run starts.
const FILES: Record<string, string> = {
  'bad.yaml': [
    'listeners:', // 1
    '  - address: 127.0.0.1', // 2
    '    port: "eighty"', // 3  wrong type
    'proxy:', // 4
    '  name: egressd', // 5
    '  shout: true', // 6  unknown key
    'timeouts:', // 7
    '  requestHeaders: 10 parsecs', // 8  bad duration
    '  tunnelIdle: -5s', // 9  bad duration
    'limits:', // 10
    '  maxConnections: lots', // 11 wrong type
    'loggin: {}', // 12 unknown key
    '',
  ].join('\n'),
  'open.yaml': 'listeners:\n  - address: 0.0.0.0\n    port: 3128\n',
  'mixed.yaml': 'listeners:\n  - address: 0.0.0.0\n    port: 3128\nproxy:\n  bogus: 1\ntimeouts:\n  clientIdle: 1 fortnight\n',
  'rel/x.yaml': 'proxy: { name: rel }\n',
};

/**
 * Each CLI run costs a Node start-up; independent runs are started together in
 * beforeAll and each test awaits its own result.
 */
const runs = new Map<string, ReturnType<typeof runCliAsync>>();
function run(args: string[], opts: { cwd?: string } = {}): ReturnType<typeof runCliAsync> {
  const key = JSON.stringify([args, opts]);
  if (!runs.has(key)) runs.set(key, runCliAsync(args, opts));
  return runs.get(key)!;
}
const f = (name: string): string => join(dir, name);

beforeAll(() => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'egressd-cli-'));
  mkdirSync(join(dir, 'rel'), { recursive: true });
  for (const [name, text] of Object.entries(FILES)) writeFileSync(f(name), text);
  for (const args of [['--help'], ['-h'], ['--version'], ['start', '--help'], ['check-config', '--help'], ['frobnicate'], ['check-config', '--bogus'], ['check-config', '-c', join(ROOT, 'policies', 'egressd.yaml')], ['check-config'], ['check-config', '-c', f('bad.yaml')], ['check-config', '-c', f('open.yaml')], ['check-config', '-c', f('mixed.yaml')], ['check-config', '-c', f('missing.yaml')]]) {
    void run(args);
  }
  void run(['check-config', '-c', 'x.yaml'], { cwd: f('rel') });
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

describe('egressd help, version and unknown commands', () => {
  it('--help prints usage listing the commands and exits 0', async () => {
    const r = await run(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Usage:');
    expect(r.stdout).toContain('egressd start');
    expect(r.stdout).toContain('egressd check-config');
    expect(r.stdout).toContain('--version');
  });

  it('-h is the same as --help', async () => {
    const r = await run(['-h']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('egressd check-config [-c FILE]');
  });

  it('--version prints the package version and exits 0', async () => {
    const r = await run(['--version']);
    expect(r.status).toBe(0);
    expect(r.stdout.trim()).toBe(pkg.version);
  });

  it('start --help prints the start usage without starting anything', async () => {
    const r = await run(['start', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('egressd start [-c FILE]');
    expect(r.stdout).toContain('--config');
    expect(r.stderr).not.toContain('listening on');
  });

  it('check-config --help prints its usage', async () => {
    const r = await run(['check-config', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('file:line:col');
  });

  it('an unknown command exits 2 with a message on stderr', async () => {
    const r = await run(['frobnicate']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
    expect(r.stdout).toBe('');
  });

  it('an unknown option exits 2', async () => {
    const r = await run(['check-config', '--bogus']);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--bogus');
  });
});

describe('egressd check-config', () => {
  it('prints "ok" and exits 0 for the shipped policies/egressd.yaml (explicit and default)', async () => {
    const explicit = await run(['check-config', '-c', join(ROOT, 'policies', 'egressd.yaml')]);
    expect(explicit.status).toBe(0);
    expect(explicit.stdout).toMatch(/^ok\b/);
    const dflt = await run(['check-config']);
    expect(dflt.status).toBe(0);
    expect(dflt.stdout).toContain('ok');
    expect(dflt.stdout).toContain('egressd.yaml');
  });

  it('prints every schema problem as file:line:col: message and exits 1', async () => {
    const bad = f('bad.yaml');
    const r = await run(['check-config', '-c', bad]);
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split('\n');
    const at = lines.map((l) => l.slice(bad.length + 1).split(':').slice(0, 2).join(':'));
    expect(at).toEqual(['3:11', '6:3', '8:19', '9:15', '11:19', '12:1']);
    for (const l of lines) expect(l).toMatch(new RegExp(`^${escape(bad)}:\\d+:\\d+: \\S`));
    expect(lines[1]).toContain('unknown key "shout"');
    expect(lines[2]).toContain('invalid duration');
    expect(lines[5]).toContain('unknown key "loggin"');
    expect(r.stdout).not.toContain('ok');
  });

  it('reports a non-loopback listener with an empty clients.allow and exits 1', async () => {
    const open = f('open.yaml');
    const r = await run(['check-config', '-c', open]);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([expect.stringMatching(new RegExp(`^${escape(open)}:2:14: .*clients\\.allow`))]);
  });

  it('reports the open-proxy listener together with schema problems in one run', async () => {
    const mixed = f('mixed.yaml');
    const r = await run(['check-config', '-c', mixed]);
    expect(r.status).toBe(1);
    const at = r.stderr.trim().split('\n').map((l) => l.slice(mixed.length + 1).split(':').slice(0, 2).join(':'));
    expect(at).toEqual(['2:14', '5:3', '7:15']);
  });

  it('reports a missing file and exits 1', async () => {
    const r = await run(['check-config', '-c', f('missing.yaml')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/missing\.yaml:1:1: cannot read file/);
  });

  it('resolves a relative -c against the current directory', async () => {
    const r = await run(['check-config', '-c', 'x.yaml'], { cwd: join(dir, 'rel') });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(join(dir, 'rel', 'x.yaml'));
  });
});

describe('egressd start: relative paths', () => {
  let origin: Origin;
  let cli: RunningCli | undefined;
  beforeAll(async () => {
    origin = await startOrigin((_req, res) => res.end('logged'));
  });
  afterEach(() => {
    cli?.kill();
    cli = undefined;
  });
  afterAll(async () => {
    await origin.close();
  });

  it('resolves log.access: logs/access.log against the config file folder, not the cwd', async () => {
    const confDir = join(dir, 'conf');
    const cwd = join(dir, 'elsewhere');
    mkdirSync(confDir, { recursive: true });
    mkdirSync(cwd, { recursive: true });
    const file = join(confDir, 'egressd.yaml');
    writeFileSync(
      file,
      stringify({
        listeners: [{ address: '127.0.0.1', port: 0 }],
        clients: { allow: ['127.0.0.0/8'] },
        egress: { allowPrivate: ['127.0.0.1/32'] },
        log: { access: 'logs/access.log', server: 'stderr' },
        timeouts: { shutdownGrace: '2s' },
      }),
    );
    cli = await startCli(file, { cwd });
    const agent = new ProxyAgent({ uri: `http://127.0.0.1:${cli.port}`, proxyTunnel: false });
    const res = await request(`${origin.url}/relative-log`, { dispatcher: agent });
    expect(await res.body.text()).toBe('logged');
    await agent.close();
    process.kill(cli.pid, 'SIGTERM');
    const { code } = await cli.exited;
    expect(code).toBe(0);
    const logFile = join(confDir, 'logs', 'access.log');
    expect(existsSync(logFile)).toBe(true);
    expect(existsSync(join(cwd, 'logs'))).toBe(false);
    const lines = readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.find((l) => l.url === `${origin.url}/relative-log`)).toMatchObject({ status: 200, msg: 'request' });
  });
});
