import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, normalize } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeOriginCa, ORIGIN_NAMES } from '../helpers/icp-certs.js';
import { startHttpsOrigin, tempFiles } from '../helpers/icp-origin.js';
import { startIcpProxy, type IcpProxy } from '../helpers/icp-proxy.js';
import type { Origin } from '../helpers/origin.js';

/**
 * git clone over HTTPS through the intercepting proxy: git (Debian, GnuTLS) trusts the
 * egressd CA through GIT_SSL_CAINFO, egressd verifies the origin against its own trust
 * (tls.upstreamCaFiles), and every request git makes appears decrypted in the log.
 */

const run = promisify(execFile);

function cleanEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const k of ['http_proxy', 'HTTP_PROXY', 'https_proxy', 'HTTPS_PROXY', 'all_proxy', 'ALL_PROXY', 'no_proxy', 'NO_PROXY', 'GIT_SSL_CAINFO', 'GIT_SSL_NO_VERIFY']) delete env[k];
  return { ...env, GIT_TERMINAL_PROMPT: '0', GIT_CONFIG_NOSYSTEM: '1', HOME: files.dir };
}

/** Static files for git's "dumb" HTTP protocol. */
function staticHandler(root: string) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    const url = decodeURIComponent((req.url ?? '/').split('?')[0]!);
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

let files: ReturnType<typeof tempFiles>;
let origin: Origin;
let px: IcpProxy;

beforeAll(async () => {
  files = tempFiles('egressd-e2e-git-icp-');
  const work = join(files.dir, 'work');
  mkdirSync(work);
  const git = (args: string[], cwd: string) =>
    run('git', args, { cwd, env: { ...cleanEnv(), GIT_AUTHOR_NAME: 't', GIT_AUTHOR_EMAIL: 't@x', GIT_COMMITTER_NAME: 't', GIT_COMMITTER_EMAIL: 't@x' } });
  await git(['init', '-q', '-b', 'main'], work);
  writeFileSync(join(work, 'hello.txt'), 'hello through the intercepting proxy\n');
  await git(['add', '.'], work);
  await git(['commit', '-q', '-m', 'first'], work);
  const www = join(files.dir, 'www');
  await git(['clone', '-q', '--bare', work, join(www, 'repo.git')], files.dir);
  await git(['update-server-info'], join(www, 'repo.git'));

  const originCa = makeOriginCa();
  origin = await startHttpsOrigin(originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] }), 'git', staticHandler(www));
  const originCaFile = files.write('origin-ca.pem', originCa.cert);
  px = await startIcpProxy({ config: { proxy: { connectPorts: [origin.port] }, tls: { intercept: 'all', upstreamCaFiles: [originCaFile] } } });
}, 60_000);

afterAll(async () => {
  await px?.close();
  await origin?.close();
  files?.remove();
});

describe('git over HTTPS through the intercepting proxy', () => {
  it('git clone with https_proxy and GIT_SSL_CAINFO=ca.pem works, and the log shows every request decrypted', async () => {
    const dest = join(files.dir, 'clone');
    await run('git', ['clone', '-q', `https://localhost:${origin.port}/repo.git`, dest], {
      env: { ...cleanEnv(), https_proxy: px.url, GIT_SSL_CAINFO: join(px.caDir, 'ca.pem') },
    });
    expect(readFileSync(join(dest, 'hello.txt'), 'utf8')).toBe('hello through the intercepting proxy\n');
    const refs = await px.access.waitFor((l) => l.kind === 'http' && String(l.url).startsWith(`https://localhost:${origin.port}/repo.git/info/refs`));
    expect(refs).toMatchObject({ status: 200, tls: 'intercepted' });
    await px.access.waitFor((l) => l.kind === 'http' && String(l.url).startsWith(`https://localhost:${origin.port}/repo.git/objects/`) && l.status === 200);
    await px.access.waitFor((l) => l.kind === 'connect' && l.url === `localhost:${origin.port}` && l.tls === 'intercepted');
  });

  it('without GIT_SSL_CAINFO git refuses the intercepted connection, and the proxy logs the rejection', async () => {
    const dest = join(files.dir, 'clone-untrusted');
    const err = await run('git', ['clone', '-q', `https://localhost:${origin.port}/repo.git`, dest], {
      env: { ...cleanEnv(), https_proxy: px.url, GIT_SSL_CAINFO: files.write('only-other-ca.pem', makeOriginCa('not egressd').cert) },
    }).then(
      () => null,
      (e: { stderr?: string }) => e,
    );
    expect(err).not.toBeNull();
    expect(err!.stderr).toMatch(/certificate|SSL|TLS/i);
    expect(existsSync(join(dest, 'hello.txt'))).toBe(false);
    // git (GnuTLS via libcurl) verifies after the handshake and closes with close_notify,
    // no fatal alert, and never sends a request. The tunnel must not look like a success:
    // it is logged as a rejection, or as a decrypted connection that carried no request.
    const line = await px.access.waitFor((l) => l.kind === 'connect' && l.url === `localhost:${origin.port}` && l.error !== null, 3000);
    expect(['TLS_CLIENT_REJECTED', 'TLS_NO_REQUEST']).toContain(line.error);
    expect(String(line.reason)).toContain('localhost');
  });
});
