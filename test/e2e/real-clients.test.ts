import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startOrigin, type Origin } from '../helpers/origin.js';
import { startTestProxy, type TestProxy } from '../helpers/proxy.js';

const run = promisify(execFile);
const cleanEnv = (): NodeJS.ProcessEnv => {
  const env = { ...process.env };
  for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'no_proxy', 'NO_PROXY', 'npm_config_proxy', 'npm_config_https_proxy']) delete env[k];
  return env;
};

/** A static file server: enough for git's "dumb" HTTP protocol and an npm tarball. */
function staticHandler(root: string, extra?: (url: string) => { type: string; body: string } | undefined) {
  return (req: import('node:http').IncomingMessage, res: import('node:http').ServerResponse) => {
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]!);
    const dyn = extra?.(url);
    if (dyn) {
      res.writeHead(200, { 'content-type': dyn.type });
      res.end(dyn.body);
      return;
    }
    const file = normalize(join(root, url));
    if (!file.startsWith(root) || !existsSync(file) || !statSync(file).isFile()) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(readFileSync(file));
  };
}

describe('real clients through egressd: git and npm with proxy settings', () => {
  let dir: string;
  let origin: Origin;
  let px: TestProxy;
  let tarballName = '';
  let packument = '';

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'egressd-e2e-clients-'));
    // A git repository published for the dumb HTTP protocol.
    const work = join(dir, 'work');
    mkdirSync(work);
    const git = (args: string[], cwd: string) => run('git', args, { cwd, env: { ...cleanEnv(), GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } });
    await git(['init', '-q', '-b', 'main'], work);
    writeFileSync(join(work, 'hello.txt'), 'hello through the proxy\n');
    await git(['add', '.'], work);
    await git(['commit', '-q', '-m', 'first'], work);
    await git(['clone', '-q', '--bare', work, join(dir, 'www', 'repo.git')], dir);
    await git(['update-server-info'], join(dir, 'www', 'repo.git'));
    // An npm package tarball and its packument.
    const pkgDir = join(dir, 'pkg');
    mkdirSync(pkgDir);
    writeFileSync(join(pkgDir, 'package.json'), JSON.stringify({ name: 'egressd-e2e-pkg', version: '1.0.0', main: 'index.js' }));
    writeFileSync(join(pkgDir, 'index.js'), 'module.exports = 42;\n');
    const { stdout } = await run('npm', ['pack', '--pack-destination', join(dir, 'www'), '--json'], { cwd: pkgDir, env: cleanEnv() });
    tarballName = (JSON.parse(stdout) as { filename: string }[])[0]!.filename;
    const tgz = readFileSync(join(dir, 'www', tarballName));
    const integrity = `sha512-${createHash('sha512').update(tgz).digest('base64')}`;
    origin = await startOrigin(
      staticHandler(join(dir, 'www'), (url) => (url === '/egressd-e2e-pkg' ? { type: 'application/json', body: packument } : undefined)),
    );
    packument = JSON.stringify({
      name: 'egressd-e2e-pkg',
      'dist-tags': { latest: '1.0.0' },
      versions: { '1.0.0': { name: 'egressd-e2e-pkg', version: '1.0.0', dist: { tarball: `${origin.url}/${tarballName}`, integrity } } },
    });
    px = await startTestProxy();
  }, 60_000);

  afterAll(async () => {
    await px?.close();
    await origin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('git clone over http with http_proxy set goes through the proxy', async () => {
    const dest = join(dir, 'clone');
    await run('git', ['clone', '-q', `${origin.url}/repo.git`, dest], { env: { ...cleanEnv(), http_proxy: px.url, GIT_TERMINAL_PROMPT: '0' } });
    expect(readFileSync(join(dest, 'hello.txt'), 'utf8')).toBe('hello through the proxy\n');
    const line = await px.access.waitFor((l) => String(l.url).startsWith(`${origin.url}/repo.git/info/refs`));
    expect(line.status).toBe(200);
  });

  it('npm install with --proxy fetches packument and tarball through the proxy', async () => {
    const prefix = join(dir, 'app');
    mkdirSync(prefix);
    writeFileSync(join(prefix, 'package.json'), '{"name":"app","version":"1.0.0"}');
    await run(
      'npm',
      ['install', 'egressd-e2e-pkg', '--registry', `${origin.url}/`, '--proxy', px.url, '--no-audit', '--no-fund', '--cache', join(dir, 'npm-cache'), '--prefer-online'],
      { cwd: prefix, env: cleanEnv() },
    );
    expect(existsSync(join(prefix, 'node_modules', 'egressd-e2e-pkg', 'index.js'))).toBe(true);
    await px.access.waitFor((l) => l.url === `${origin.url}/egressd-e2e-pkg`);
    await px.access.waitFor((l) => l.url === `${origin.url}/${tarballName}` && l.status === 200);
  });
});
