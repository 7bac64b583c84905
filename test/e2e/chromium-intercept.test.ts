import { execFile } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHROMIUM, runChromium, type ChromiumRun } from '../helpers/chromium.js';
import { makeOriginCa, ORIGIN_NAMES } from '../helpers/icp-certs.js';
import { startHttpsOrigin, tempFiles } from '../helpers/icp-origin.js';
import { startIcpProxy, type IcpProxy } from '../helpers/icp-proxy.js';
import type { Origin } from '../helpers/origin.js';

/**
 * A real browser through the intercepting proxy: Debian's chromium (installed by
 * .ci/e2e-deps.sh) trusts the egressd CA through a fresh NSS database in its HOME, loads
 * an HTTPS page from a local origin with --proxy-server, and egressd's log shows the
 * decrypted request. No --ignore-certificate-errors: the CA must really be trusted.
 */

const run = promisify(execFile);
const PAGE_TEXT = 'Hello from the intercepted origin';
const missing = !existsSync(CHROMIUM);
// CI installs chromium (.ci/e2e-deps.sh): there a missing browser is a failure, not a skip.
const skip = missing && !process.env.CI;
if (skip) console.warn(`chromium-intercept: SKIPPED, ${CHROMIUM} is not installed (run .ci/e2e-deps.sh as root to install chromium and libnss3-tools)`);

let files: ReturnType<typeof tempFiles>;
let origin: Origin;
let px: IcpProxy;

/** A HOME whose NSS database trusts `caFile` (or nothing) as a CA for web sites. */
async function homeWithNss(name: string, caFile?: string): Promise<string> {
  const home = join(files.dir, name);
  const db = join(home, '.pki', 'nssdb');
  mkdirSync(db, { recursive: true });
  await run('certutil', ['-d', `sql:${db}`, '-N', '--empty-password']);
  if (caFile) await run('certutil', ['-d', `sql:${db}`, '-A', '-n', 'egressd', '-t', 'C,,', '-i', caFile]);
  return home;
}

/** Headless chromium with --dump-dom on `url` through the proxy; resolves with its output. */
function dumpDom(home: string, url: string): Promise<ChromiumRun> {
  const userDataDir = join(home, 'chromium-profile');
  // Without --proxy-bypass-list Chromium never sends loopback destinations to a proxy.
  return runChromium([`--user-data-dir=${userDataDir}`, `--proxy-server=${px.url}`, '--proxy-bypass-list=<-loopback>', '--dump-dom', url], home);
}

beforeAll(async () => {
  if (skip) return;
  files = tempFiles('egressd-e2e-chromium-');
  const originCa = makeOriginCa();
  origin = await startHttpsOrigin(originCa.issue({ commonName: 'localhost', dns: ORIGIN_NAMES, ips: ['127.0.0.1'] }), 'chromium', (req, res) => {
    if (req.url !== '/page') {
      res.writeHead(404, { 'content-length': 0 });
      res.end();
      return;
    }
    const body = `<!doctype html><html><head><title>egressd e2e</title></head><body><h1 id="msg">${PAGE_TEXT}</h1><p>ua=${req.headers['user-agent'] ?? ''}</p></body></html>`;
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  const originCaFile = files.write('origin-ca.pem', originCa.cert);
  px = await startIcpProxy({ config: { proxy: { connectPorts: [origin.port] }, tls: { intercept: 'all', upstreamCaFiles: [originCaFile] } } });
}, 60_000);

afterAll(async () => {
  await px?.close();
  await origin?.close();
  files?.remove();
});

describe.skipIf(skip)('Chromium through the intercepting proxy', () => {
  it('chromium binary and certutil are installed', () => {
    expect(existsSync(CHROMIUM), `${CHROMIUM} missing: .ci/e2e-deps.sh should have installed chromium`).toBe(true);
    expect(existsSync('/usr/bin/certutil'), 'certutil missing: .ci/e2e-deps.sh should have installed libnss3-tools').toBe(true);
  });

  it('with the egressd CA in its NSS database, chromium loads the HTTPS page and the log shows the decrypted request', async () => {
    const home = await homeWithNss('home-trusting', join(px.caDir, 'ca.pem'));
    const url = `https://localhost:${origin.port}/page`;
    const r = await dumpDom(home, url);
    expect(r.stdout, `chromium stderr tail:\n${r.stderr.slice(-1500)}`).toContain(PAGE_TEXT);
    expect(r.stdout).toContain('ua=Mozilla/5.0');
    const line = await px.access.waitFor((l) => l.kind === 'http' && l.url === url);
    expect(line).toMatchObject({ method: 'GET', status: 200, tls: 'intercepted', error: null });
    // The browser's tunnel: decrypted, named by SNI (Chromium closes it when it exits).
    const tunnel = await px.access.waitFor((l) => l.kind === 'connect' && l.url === `localhost:${origin.port}` && l.tls === 'intercepted');
    expect(tunnel.sni).toBe('localhost');
  });

  it('without the CA chromium refuses the certificate: no page, nothing decrypted reaches the origin', async () => {
    const home = await homeWithNss('home-untrusting');
    const before = origin.requests.length;
    const url = `https://localhost:${origin.port}/page?untrusted=1`;
    const r = await dumpDom(home, url);
    expect(r.stdout).not.toContain(PAGE_TEXT);
    expect(origin.requests.length).toBe(before);
    expect(px.access.lines.some((l) => l.kind === 'http' && l.url === url)).toBe(false);
    // Chromium sends a certificate_unknown alert: egressd logs the rejection with the host.
    const rejected = await px.access.waitFor((l) => l.kind === 'connect' && l.url === `localhost:${origin.port}` && l.error === 'TLS_CLIENT_REJECTED');
    expect(String(rejected.reason)).toContain('localhost');
  });
});
